/*
 * Growable byte buffer, always NUL-terminated after data[len].
 * struct tk_buf b = TK_BUF_INIT; ... tk_buf_release(&b);
 */
#ifndef TK_BUF_H
#define TK_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "util.h"

struct tk_buf {
    char *data; /* owned; NULL until the first append */
    size_t len;
    size_t cap;
};

#define TK_BUF_INIT { NULL, 0, 0 }

void tk_buf_init(struct tk_buf *b);
void tk_buf_release(struct tk_buf *b); /* frees; the buffer is reusable */
void tk_buf_reset(struct tk_buf *b);   /* len = 0, keeps the memory */
void tk_buf_grow(struct tk_buf *b, size_t extra);
void tk_buf_add(struct tk_buf *b, const void *p, size_t n);
void tk_buf_adds(struct tk_buf *b, const char *s);
void tk_buf_addc(struct tk_buf *b, char c);
void tk_buf_printf(struct tk_buf *b, const char *fmt, ...) TK_PRINTF(2, 3);
void tk_buf_vprintf(struct tk_buf *b, const char *fmt, va_list ap);
/* Appends s with & < > " ' replaced by entities (for HTML and XML text). */
void tk_buf_add_html(struct tk_buf *b, const char *s);
/* Appends s as a JSON string literal, quotes included. */
void tk_buf_add_json_str(struct tk_buf *b, const char *s);
/* Returns the data (caller frees) and leaves b empty. Never NULL. */
char *tk_buf_detach(struct tk_buf *b, size_t *len);
/* The NUL-terminated contents; "" for an empty buffer. */
const char *tk_buf_str(const struct tk_buf *b);

#endif
