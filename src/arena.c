#include "arena.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16

struct tk_arena_chunk {
    struct tk_arena_chunk *next;
    size_t size; /* usable bytes in data */
    size_t off;
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

static struct tk_arena_chunk *
chunk_new(size_t size)
{
    struct tk_arena_chunk *c = tk_xmalloc(sizeof(*c) + size);

    c->next = NULL;
    c->size = size;
    c->off = 0;
    return c;
}

void
tk_arena_init(struct tk_arena *a, size_t chunk_size)
{
    a->chunk_size = chunk_size ? chunk_size : 16384;
    a->head = NULL;
    a->used = 0;
}

void
tk_arena_release(struct tk_arena *a)
{
    struct tk_arena_chunk *c, *next;

    if (a == NULL) {
        return;
    }
    for (c = a->head; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    a->head = NULL;
    a->used = 0;
}

void
tk_arena_reset(struct tk_arena *a)
{
    struct tk_arena_chunk *c, *last = NULL;

    /* Keep the oldest chunk (at the tail): it has the default size. */
    for (c = a->head; c != NULL;) {
        struct tk_arena_chunk *next = c->next;

        if (next == NULL) {
            last = c;
        } else {
            free(c);
        }
        c = next;
    }
    a->head = last;
    if (last != NULL) {
        last->off = 0;
    }
    a->used = 0;
}

void *
tk_arena_alloc(struct tk_arena *a, size_t n)
{
    struct tk_arena_chunk *c = a->head;
    size_t need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    void *p;

    if (need == 0) {
        need = ARENA_ALIGN;
    }
    if (c == NULL || c->size - c->off < need) {
        size_t size = need > a->chunk_size ? need : a->chunk_size;

        if (c == NULL || need <= a->chunk_size) {
            c = chunk_new(size);
            c->next = a->head;
            a->head = c;
        } else {
            /* A big one-off block goes behind the current chunk so the
             * current chunk keeps serving small allocations. */
            struct tk_arena_chunk *big = chunk_new(size);

            big->next = c->next;
            c->next = big;
            big->off = need;
            a->used += need;
            return big->data;
        }
    }
    p = c->data + c->off;
    c->off += need;
    a->used += need;
    return p;
}

void *
tk_arena_calloc(struct tk_arena *a, size_t n)
{
    void *p = tk_arena_alloc(a, n);

    memset(p, 0, n);
    return p;
}

char *
tk_arena_strndup(struct tk_arena *a, const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = tk_arena_alloc(a, len + 1);

    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *
tk_arena_strdup(struct tk_arena *a, const char *s)
{
    return tk_arena_strndup(a, s, strlen(s));
}

char *
tk_arena_printf(struct tk_arena *a, const char *fmt, ...)
{
    va_list ap, cp;
    int n;
    char *d;

    va_start(ap, fmt);
    va_copy(cp, ap);
    n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0) {
        va_end(ap);
        return tk_arena_strdup(a, "");
    }
    d = tk_arena_alloc(a, (size_t)n + 1);
    vsnprintf(d, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return d;
}
