/*
 * libfcgi adapter. libfcgi keeps no per-thread state of its own beyond the
 * FCGX_Request, so each thread owns one struct tk_fcgi.
 */
#include "fcgi.h"

#include <errno.h>
#include <fcgiapp.h>
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

void
tk_fcgi_finish(struct tk_fcgi *f)
{
    if (f->open) {
        FCGX_Finish_r(&f->req);
        f->open = 0;
    }
}
