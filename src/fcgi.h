/*
 * The only user of libfcgi: one FastCGI connection slot per thread
 * (libfcgi does not multiplex; one slot serves one request at a time).
 * FCGX_Accept_r is thread-safe on Linux, so threads accept concurrently
 * without a lock.
 */
#ifndef TK_FCGI_H
#define TK_FCGI_H

#include <stddef.h>

struct tk_fcgi;

/*
 * Initialises libfcgi for this process; call once, before any thread
 * starts, with every signal blocked or handled. close_poll_ms sets how long
 * libfcgi lingers after each response waiting for the web server to close
 * (LIBFCGI_OS_CLOSE_POLL_TIMEOUT), unless the environment already sets it.
 * 0 or -errno.
 */
int tk_fcgi_init(int close_poll_ms);

/* A connection slot accepting on listen_fd. */
struct tk_fcgi *tk_fcgi_new(int listen_fd);
/* Finishes any open request and frees the slot; NULL is fine. */
void tk_fcgi_free(struct tk_fcgi *f);

/*
 * Waits for the next request (finishing the previous one first).
 * 0: a request is open. -EAGAIN or -EINTR: no connection arrived within the
 * listen socket's receive timeout; check for shutdown and call again.
 * Other negative errno: the listen socket is unusable.
 */
int tk_fcgi_accept(struct tk_fcgi *f);

/* The request's params, environ-style "NAME=value", NULL-terminated;
 * valid until the request is finished. */
char *const *tk_fcgi_params(struct tk_fcgi *f);

/* Reads up to n body bytes (a struct tk_body_reader read function; io is
 * the struct tk_fcgi). Returns the count, 0 at the end, -EIO. */
long tk_fcgi_read(void *io, char *buf, size_t n);

/* Writes n bytes of response (head and body). 0 or -EIO. */
int tk_fcgi_write(struct tk_fcgi *f, const void *data, size_t n);

/* Flushes and ends the request, closing the connection. */
void tk_fcgi_finish(struct tk_fcgi *f);

#endif
