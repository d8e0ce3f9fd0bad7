/*
 * Cache-aside in Redis in front of MariaDB, and a worker-local cache.
 *
 * A cached Redis value is "v" + payload, or "n" (the null marker: the
 * loader found nothing). Anything else is corrupt and treated as a miss.
 * A read is a hit (value), a null hit, or a miss. On a miss one caller
 * wins a short lock (SET NX PX, random token), loads, stores the value for
 * ttl_s plus up to 10% jitter (a null marker for null_ttl_s) and releases
 * the lock by compare-and-delete. The others poll the key with a growing
 * pause for at most lock_wait_ms (taking the lock over if it is freed
 * without a value), then fall back to one direct load each, not stored.
 * A Redis failure is returned, not papered over by loading directly: with
 * Redis down every request would otherwise go to MariaDB at once.
 *
 * Loaders do not depend on the store: int (*load)(void *ctx, ...) returns
 * 1 found, 0 not found, < 0 error (then nothing is cached). Admin writes
 * update MariaDB first, then call the tk_cache_invalidate_*() functions.
 *
 * Payload encodings (versioned; "A1", "K1", "B1", "T1" + netstrings
 * "LEN:BYTES,") are private to this module except for the decoders used
 * by callers that fetched a value themselves (tk_redis_mget()).
 */
#ifndef TK_CACHE_H
#define TK_CACHE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "model.h"

struct tk_conf;
struct tk_redis;

/* Shared by all threads of a process (the counters are atomic). */
struct tk_cache {
    int ttl_s;
    int null_ttl_s;
    int lock_ttl_ms;
    int lock_wait_ms;
    atomic_uint_fast64_t hits;       /* values and null markers */
    atomic_uint_fast64_t misses;     /* reads that found nothing usable */
    atomic_uint_fast64_t loads;      /* loader calls, all kinds */
    atomic_uint_fast64_t fallbacks;  /* direct loads after lock_wait_ms */
    atomic_uint_fast64_t corrupt;    /* undecodable cached values */
};

/* Takes the cache.* settings. */
void tk_cache_init(struct tk_cache *c, const struct tk_conf *conf);

/*
 * Cache-aside read of key: 1 with value (reset first) filled with the
 * payload, 0 not found (null marker, or the loader said so), < 0 error.
 * The loader fills value with the payload to cache.
 */
int tk_cache_get(struct tk_cache *c, struct tk_redis *r, const char *key,
                 int (*load)(void *ctx, struct tk_buf *value), void *ctx,
                 struct tk_buf *value);

/*
 * A raw cached value: 1 value (*payload, *plen point into data), 0 null
 * marker, -EINVAL corrupt.
 */
int tk_cache_unwrap(const char *data, size_t len, const char **payload,
                    size_t *plen);

/* --- typed caches ---------------------------------------------------- */

/* Activity by id (tk:act:id:ID). */
int tk_cache_activity(struct tk_cache *c, struct tk_redis *r, int64_t id,
                      int (*load)(void *ctx, int64_t id,
                                  struct tk_activity *out),
                      void *ctx, struct tk_activity *out);

/* Activity id by key (tk:act:key:KEY). */
int tk_cache_activity_id(struct tk_cache *c, struct tk_redis *r,
                         const char *key,
                         int (*load)(void *ctx, const char *key,
                                     int64_t *id),
                         void *ctx, int64_t *id);

/* Student id bound to openid (tk:bind:OPENID); 0 when unbound. */
int tk_cache_binding(struct tk_cache *c, struct tk_redis *r,
                     const char *openid,
                     int (*load)(void *ctx, const char *openid,
                                 char sid[TK_SID_MAX + 1]),
                     void *ctx, char sid[TK_SID_MAX + 1]);

/* A student's tickets; items owned by the list. */
struct tk_ticket_list {
    struct tk_ticket *items;
    size_t n;
};

#define TK_TICKET_LIST_MAX 10000

void tk_ticket_list_release(struct tk_ticket_list *list); /* NULL is fine */
/* Appends a copy of t. */
void tk_ticket_list_add(struct tk_ticket_list *list,
                        const struct tk_ticket *t);

/* A student's tickets (tk:mytix:SID); out released first. */
int tk_cache_my_tickets(struct tk_cache *c, struct tk_redis *r,
                        const char *sid,
                        int (*load)(void *ctx, const char *sid,
                                    struct tk_ticket_list *out),
                        void *ctx, struct tk_ticket_list *out);

/* Preheat: stores the activity under its id and its key (the typed
 * caches above read them), with the usual TTL and jitter. 0 or < 0. */
int tk_cache_put_activity(struct tk_cache *c, struct tk_redis *r,
                          const struct tk_activity *a);

/* Preheat: stores n bindings openids[i] -> sids[i] (valid student ids)
 * for min_ttl_ms or the usual TTL and jitter, whichever is longer,
 * pipelined in one round trip; callers batch (a few thousand per call).
 * 0 or < 0. */
int tk_cache_put_bindings(struct tk_cache *c, struct tk_redis *r,
                          const char *const *openids,
                          const char *const *sids, size_t n,
                          int64_t min_ttl_ms);

/* Invalidation after writes: delete the cached keys (0 or < 0). */
int tk_cache_invalidate(struct tk_redis *r, const char *key);
/* key may be NULL or "" when unknown. */
int tk_cache_invalidate_activity(struct tk_redis *r, int64_t id,
                                 const char *key);
int tk_cache_invalidate_binding(struct tk_redis *r, const char *openid);
int tk_cache_invalidate_my_tickets(struct tk_redis *r, const char *sid);

/* --- encodings (payloads, without the "v" of the stored value) ------- */

void tk_cache_encode_activity(struct tk_buf *out, const struct tk_activity *a);
/* 0, or -EINVAL for anything but a well-formed, in-bounds encoding. */
int tk_cache_decode_activity(const char *p, size_t n, struct tk_activity *a);
void tk_cache_encode_activity_id(struct tk_buf *out, int64_t id);
int tk_cache_decode_activity_id(const char *p, size_t n, int64_t *id);
void tk_cache_encode_binding(struct tk_buf *out, const char *sid);
int tk_cache_decode_binding(const char *p, size_t n,
                            char sid[TK_SID_MAX + 1]);
void tk_cache_encode_tickets(struct tk_buf *out,
                             const struct tk_ticket_list *list);
/* out released first; on error it is left empty. */
int tk_cache_decode_tickets(const char *p, size_t n,
                            struct tk_ticket_list *out);

/* --- worker-local cache ---------------------------------------------- */

/*
 * Per process, shared by its request threads (locked per slot): activity
 * structs by id and activity ids by key for local_ttl_ms, and a "sold out"
 * flag per activity for soldout_ms. Bounded (fixed slots, newest wins);
 * a TTL of 0 disables that part.
 */
struct tk_cache_local;

struct tk_cache_local *tk_cache_local_new(const struct tk_conf *conf);
void tk_cache_local_free(struct tk_cache_local *l); /* NULL is fine */

/* 1 hit (a copy in out), 0 miss or expired. */
int tk_cache_local_activity(struct tk_cache_local *l, int64_t id,
                            struct tk_activity *out);
/* Remembers a (by id and by key). */
void tk_cache_local_put_activity(struct tk_cache_local *l,
                                 const struct tk_activity *a);
/* 1 hit, 0 miss. */
int tk_cache_local_activity_id(struct tk_cache_local *l, const char *key,
                               int64_t *id);
/* Forgets the activity (by id; its key entry too). */
void tk_cache_local_drop(struct tk_cache_local *l, int64_t id);

/*
 * True: answer "sold out" without asking Redis. After the flag expires one
 * caller gets false and is expected to ask and then set (still sold out)
 * or clear (stock left) the flag; until it does, for up to soldout_ms, the
 * others still get true.
 */
bool tk_cache_local_answer_sold_out(struct tk_cache_local *l, int64_t id);
/* True while the flag is set, expired or not; changes nothing. */
bool tk_cache_local_sold_out_flagged(struct tk_cache_local *l, int64_t id);
void tk_cache_local_set_sold_out(struct tk_cache_local *l, int64_t id);
void tk_cache_local_clear_sold_out(struct tk_cache_local *l, int64_t id);

#endif
