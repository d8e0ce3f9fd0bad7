/*
 * libfcgi adapter. libfcgi keeps no per-thread state of its own beyond the
 * FCGX_Request, so each thread owns one struct tk_fcgi.
 */
#include "fcgi.h"

#include <errno.h>
#include <fcgiapp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "util.h"

struct tk_fcgi {
    FCGX_Request req;
    int open; /* a request is accepted and not yet finished */
};

int
tk_fcgi_init(int close_poll_ms)
{
    char v[16];

    /* Read by libfcgi at every close: set before any thread runs. */
    snprintf(v, sizeof(v), "%d", close_poll_ms);
    setenv("LIBFCGI_OS_CLOSE_POLL_TIMEOUT", v, 0);
    if (FCGX_Init() != 0) {
        tk_err("FCGX_Init failed: cannot initialise libfcgi");
        return -EIO;
    }
    return 0;
}

struct tk_fcgi *
tk_fcgi_new(int listen_fd)
{
    struct tk_fcgi *f = tk_xcalloc(1, sizeof(*f));

    /* Fail an interrupted accept instead of retrying, so the thread gets
     * back to its loop and sees a shutdown. */
    FCGX_InitRequest(&f->req, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR);
    return f;
}

void
tk_fcgi_free(struct tk_fcgi *f)
{
    if (f == NULL) {
        return;
    }
    if (f->open) {
        FCGX_Finish_r(&f->req);
    }
    FCGX_Free(&f->req, 1);
    free(f);
}

int
tk_fcgi_accept(struct tk_fcgi *f)
{
    int rc = FCGX_Accept_r(&f->req);

    f->open = rc == 0;
    if (rc == 0) {
        return 0;
    }
    /* libfcgi returns -errno, or -9998/-9999 without one. */
    return rc >= -4095 ? rc : -EIO;
}

char *const *
tk_fcgi_params(struct tk_fcgi *f)
{
    return f->req.envp;
}

long
tk_fcgi_read(void *io, char *buf, size_t n)
{
    struct tk_fcgi *f = io;
    int chunk = n > 1 << 20 ? 1 << 20 : (int)n;
    int r = FCGX_GetStr(buf, chunk, f->req.in);

    if (r < 0 || FCGX_GetError(f->req.in) != 0) {
        return -EIO;
    }
    return r;
}

int
tk_fcgi_write(struct tk_fcgi *f, const void *data, size_t n)
{
    if (n > INT32_MAX ||
        FCGX_PutStr(data, (int)n, f->req.out) != (int)n) {
        return -EIO;
    }
    return 0;
}

/* How much unread request body finish() will read and drop to reach the
 * end of the input; more than a capped body (fcgi.max_body_kb) is left to
 * the lingering close. */
#define DRAIN_MAX (64 * 1024)

/* Reads what is left of the request's input, up to DRAIN_MAX bytes: true
 * when its end was reached, so the web server will send nothing more on
 * this connection. */
static bool
input_ended(struct tk_fcgi *f)
{
    char sink[4096];
    size_t left = DRAIN_MAX;

    while (FCGX_HasSeenEOF(f->req.in) == 0 && left > 0) {
        int r = FCGX_GetStr(sink, (int)TK_MIN(sizeof(sink), left),
                            f->req.in);

        if (r <= 0 || FCGX_GetError(f->req.in) != 0) {
            break;
        }
        left -= (size_t)r;
    }
    return FCGX_HasSeenEOF(f->req.in) != 0 &&
           FCGX_GetError(f->req.in) == 0;
}

void
tk_fcgi_finish(struct tk_fcgi *f)
{
    if (f->open) {
        /* libfcgi's close lingers (shutdown, then poll until the web
         * server closes, up to close_poll_ms) so that unread input cannot
         * turn into a reset that loses the response. Once the input has
         * ended nothing more can arrive, and a detached request is closed
         * at once: the thread is free for the next request instead of
         * waiting for nginx's close, and three syscalls fewer. */
        if (input_ended(f)) {
            FCGX_Detach(&f->req);
        }
        FCGX_Finish_r(&f->req);
        f->open = 0;
    }
}
