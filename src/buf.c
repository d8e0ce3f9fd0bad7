#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
tk_buf_init(struct tk_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void
tk_buf_release(struct tk_buf *b)
{
    if (b != NULL) {
        free(b->data);
        tk_buf_init(b);
    }
}

void
tk_buf_reset(struct tk_buf *b)
{
    b->len = 0;
    if (b->data != NULL) {
        b->data[0] = '\0';
    }
}

void
tk_buf_grow(struct tk_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;

    if (need <= b->cap) {
        return;
    }
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        cap *= 2;
    }
    b->data = tk_xrealloc(b->data, cap);
    b->cap = cap;
}

void
tk_buf_add(struct tk_buf *b, const void *p, size_t n)
{
    tk_buf_grow(b, n);
    if (n > 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
}

void
tk_buf_adds(struct tk_buf *b, const char *s)
{
    tk_buf_add(b, s, strlen(s));
}

void
tk_buf_addc(struct tk_buf *b, char c)
{
    tk_buf_add(b, &c, 1);
}

void
tk_buf_vprintf(struct tk_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    int n;

    tk_buf_grow(b, 64);
    va_copy(cp, ap);
    n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, cp);
    va_end(cp);
    if (n < 0) {
        return;
    }
    if ((size_t)n >= b->cap - b->len) {
        tk_buf_grow(b, (size_t)n);
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    }
    b->len += (size_t)n;
}

void
tk_buf_printf(struct tk_buf *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    tk_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void
tk_buf_add_html(struct tk_buf *b, const char *s)
{
    const char *run = s;

    for (; *s != '\0'; s++) {
        const char *rep;

        switch (*s) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default: continue;
        }
        tk_buf_add(b, run, (size_t)(s - run));
        tk_buf_adds(b, rep);
        run = s + 1;
    }
    tk_buf_add(b, run, (size_t)(s - run));
}

void
tk_buf_add_json_str(struct tk_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    tk_buf_addc(b, '"');
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        switch (c) {
        case '"': tk_buf_add(b, "\\\"", 2); break;
        case '\\': tk_buf_add(b, "\\\\", 2); break;
        case '\n': tk_buf_add(b, "\\n", 2); break;
        case '\r': tk_buf_add(b, "\\r", 2); break;
        case '\t': tk_buf_add(b, "\\t", 2); break;
        default:
            if (c < 0x20) {
                char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

                tk_buf_add(b, u, sizeof(u));
            } else {
                tk_buf_addc(b, (char)c);
            }
        }
    }
    tk_buf_addc(b, '"');
}

char *
tk_buf_detach(struct tk_buf *b, size_t *len)
{
    char *d;

    if (b->data == NULL) {
        tk_buf_grow(b, 0);
        b->data[0] = '\0';
    }
    d = b->data;
    if (len != NULL) {
        *len = b->len;
    }
    tk_buf_init(b);
    return d;
}

const char *
tk_buf_str(const struct tk_buf *b)
{
    return b->data != NULL ? b->data : "";
}
