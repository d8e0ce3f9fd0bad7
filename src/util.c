#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void
oom(size_t n)
{
    fprintf(stderr, "<2>out of memory allocating %zu bytes\n", n);
    abort();
}

void *
tk_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL) {
        oom(n);
    }
    return p;
}

void *
tk_xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

    if (p == NULL) {
        oom(nmemb * size);
    }
    return p;
}

void *
tk_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (q == NULL) {
        oom(n);
    }
    return q;
}

char *
tk_xstrdup(const char *s)
{
    return tk_xstrndup(s, strlen(s));
}

char *
tk_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = tk_xmalloc(len + 1);

    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

int64_t
tk_now(void)
{
    return (int64_t)time(NULL);
}

int64_t
tk_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
tk_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t
tk_strlcpy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);

    if (size > 0) {
        size_t n = len < size - 1 ? len : size - 1;

        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}

void
tk_wipe(void *p, size_t n)
{
    if (p != NULL) {
        explicit_bzero(p, n);
    }
}

void
tk_free_secret(char *s)
{
    if (s != NULL) {
        tk_wipe(s, strlen(s));
        free(s);
    }
}

int
tk_parse_i64(const char *s, int64_t *out)
{
    char *end;
    long long v;

    if (s == NULL || *s == '\0' || (*s != '-' && (*s < '0' || *s > '9'))) {
        return -EINVAL;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno == ERANGE) {
        return -ERANGE;
    }
    if (*end != '\0') {
        return -EINVAL;
    }
    *out = (int64_t)v;
    return 0;
}

/* Length of the valid sequence starting at s[0], or 0 when invalid. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    uint32_t cp;
    size_t len, i;

    if (c < 0x80) {
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len) {
        return 0;
    }
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return len;
}

bool
tk_utf8_is_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        uint64_t w;
        size_t l;

        /* ASCII, most of a WeChat body (all of a safe-mode envelope's
         * base64), eight bytes at a time. */
        while (n - i >= 8) {
            memcpy(&w, p + i, 8);
            if ((w & UINT64_C(0x8080808080808080)) != 0) {
                break;
            }
            i += 8;
        }
        if (i == n) {
            break;
        }
        l = utf8_seq(p + i, n - i);
        if (l == 0) {
            return false;
        }
        i += l;
    }
    return true;
}

size_t
tk_utf8_truncate(const char *s, size_t len, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n;

    if (len <= max) {
        return len;
    }
    n = max;
    /* Step back over continuation bytes to the start of a sequence. */
    while (n > 0 && (p[n] & 0xc0) == 0x80) {
        n--;
    }
    return n;
}

char *
tk_utf8_printable(char *out, const char *s, size_t len, size_t max)
{
    size_t n = tk_utf8_truncate(s, len, max);

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        out[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    out[n] = '\0';
    return out;
}
