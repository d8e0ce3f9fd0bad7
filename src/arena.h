/*
 * Per-thread request arena: bump allocation from chunks, freed all at once
 * by tk_arena_reset() after each request. Not thread-safe; one per thread.
 * Memory returned by tk_arena_* belongs to the arena and is valid until the
 * next reset or release.
 */
#ifndef TK_ARENA_H
#define TK_ARENA_H

#include <stddef.h>

#include "util.h"

struct tk_arena_chunk;

struct tk_arena {
    struct tk_arena_chunk *head; /* current chunk, newest first */
    size_t chunk_size;           /* default size of a new chunk */
    size_t used;                 /* bytes handed out since the last reset */
};

void tk_arena_init(struct tk_arena *a, size_t chunk_size);
void tk_arena_release(struct tk_arena *a);
/* Frees all but the first chunk and rewinds it. */
void tk_arena_reset(struct tk_arena *a);
void *tk_arena_alloc(struct tk_arena *a, size_t n);  /* 16-byte aligned */
void *tk_arena_calloc(struct tk_arena *a, size_t n); /* zeroed */
char *tk_arena_strdup(struct tk_arena *a, const char *s);
char *tk_arena_strndup(struct tk_arena *a, const char *s, size_t n);
char *tk_arena_printf(struct tk_arena *a, const char *fmt, ...)
    TK_PRINTF(2, 3);

#endif
