/*
 * The only user of hiredis. A struct tk_redis is one connection owned by
 * one thread (hiredis contexts are not thread-safe): the persister and
 * each tool opens its own. ticketd's request threads each have a handle
 * too, but by default those share one connection per worker process
 * (tk_redis_mux below).
 *
 * Connections are lazy and self-healing: every operation connects when
 * there is no live context, and a context that reported an error is closed
 * and replaced by the next operation, never reused. Connect and command
 * timeouts (and TCP keepalive) are applied to every new context, because
 * hiredis 0.14 forgets them on redisReconnect().
 *
 * Returns: 0 or a negative errno; lookups 1 hit / 0 miss / < 0 error.
 * -ETIMEDOUT (timeout), -ECONNREFUSED / -EIO (connection), -EPROTO (the
 * server answered with an error or something unexpected). Failures are
 * logged here, once.
 *
 * Sections: connection, plain keys and the cache lock, activity functions
 * (tk_grab, tk_refund, tk_checkin, tk_load in src/functions.lua), generic
 * commands for admin tools. Stream consumer operations for ticket-persistd
 * belong in their own section below the activity functions.
 */
#ifndef TK_REDIS_H
#define TK_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "model.h"

struct tk_conf;
struct tk_redis;

/* --- connection ------------------------------------------------------- */

/* A handle with a copy of conf->redis; no I/O. Never NULL. The first
 * call sets SIGPIPE to SIG_IGN if it is at its default (hiredis 0.14
 * writes to sockets with write(2); a dropped connection must be an error,
 * not the death of the process). */
struct tk_redis *tk_redis_new(const struct tk_conf *conf);
/* Closes the connection and frees the handle; NULL is fine. */
void tk_redis_free(struct tk_redis *r);

/* Connects (unix socket when redis.socket is set, else TCP), applies the
 * timeouts and AUTH. A no-op when connected. */
int tk_redis_open(struct tk_redis *r);
/* Drops the connection; the next operation reconnects. */
void tk_redis_close(struct tk_redis *r);
/* tk_redis_close() then tk_redis_open(). */
int tk_redis_reconnect(struct tk_redis *r);
bool tk_redis_is_connected(const struct tk_redis *r);
/* Round trips made by this handle so far (one per pipeline flush; on a
 * shared handle, one per exchange of this caller's). */
uint64_t tk_redis_round_trips(const struct tk_redis *r);

/*
 * A connection shared by the threads of one process (ticketd's request
 * threads: redis.pipeline). Each thread still has its own handle, made by
 * tk_redis_new_shared(), and calls the same functions; their commands are
 * queued, and the thread that finds the connection idle sends all that
 * are waiting in one write and hands out the replies. So the server
 * reads, runs and fsyncs many requests per pass instead of one per
 * client, and there is one connection per process instead of one per
 * thread. A caller's commands are never interleaved with another's.
 *
 * On a shared handle tk_redis_open() is a PING, tk_redis_close() does
 * nothing (a failed batch closes the connection; the next one reopens
 * it), and tk_redis_send()/tk_redis_receive() fail with -ENOTSUP. A
 * command waits for the batch before its own, so it may take up to twice
 * redis.timeout_ms. The mux must outlive its handles.
 */
struct tk_redis_mux;

/* Told after every batch how many callers' exchanges it carried (for
 * metrics). Runs with the mux locked: it must not block. */
typedef void tk_redis_batch_fn(void *arg, size_t calls);

/* on_batch may be NULL. */
struct tk_redis_mux *tk_redis_mux_new(const struct tk_conf *conf,
                                      tk_redis_batch_fn *on_batch, void *arg);
void tk_redis_mux_free(struct tk_redis_mux *m); /* NULL is fine */
struct tk_redis *tk_redis_new_shared(struct tk_redis_mux *m);
/* Batches sent so far, and the callers' exchanges they carried. */
void tk_redis_mux_stats(struct tk_redis_mux *m, uint64_t *batches,
                        uint64_t *jobs);

/* Round trip check (PING), for /readyz. */
int tk_redis_ping(struct tk_redis *r);

/*
 * Makes sure the server has our functions library (src/functions.lua):
 * loads it with FUNCTION LOAD REPLACE when absent or older than
 * tk_redis_functions_version(); leaves a newer one alone (rolling
 * upgrade). *loaded (may be NULL) tells whether it loaded. Call at
 * start-up; the activity functions also call it once when the server
 * reports the function missing (FUNCTION FLUSH) and retry.
 */
int tk_redis_functions_ensure(struct tk_redis *r, bool *loaded);
/* The version in the embedded library source; -1 if it has none. */
int tk_redis_functions_version(void);
/* The embedded library source (NUL-terminated, static). */
const char *tk_redis_functions_source(void);

/* --- plain keys ---------------------------------------------------------- */

/* GET key into value (reset first). 1 hit, 0 miss. */
int tk_redis_get(struct tk_redis *r, const char *key, struct tk_buf *value);
/* SET key value, with PX ttl_ms when ttl_ms > 0. */
int tk_redis_set(struct tk_redis *r, const char *key, const void *value,
                 size_t len, int64_t ttl_ms);
/* DEL key: 1 deleted, 0 absent. */
int tk_redis_del(struct tk_redis *r, const char *key);
/* EXISTS key: 1 or 0. */
int tk_redis_exists(struct tk_redis *r, const char *key);

/*
 * GETs n keys in one round trip (pipelined GETs, so the keys may live in
 * different slots). values[i] is reset and filled; found[i] is 1 or 0.
 * 0, or < 0 when any of them failed.
 */
int tk_redis_mget(struct tk_redis *r, const char *const *keys, size_t n,
                  struct tk_buf *values, int *found);

/* A random lock token: 32 lowercase hex characters. */
#define TK_REDIS_TOKEN_LEN 32

/* SET lock token NX PX ttl_ms with a fresh random token (written to
 * token). 1 acquired, 0 held by somebody else. */
int tk_redis_lock(struct tk_redis *r, const char *lock_key, int64_t ttl_ms,
                  char token[TK_REDIS_TOKEN_LEN + 1]);
/* Deletes lock_key if it still holds token (tk_unlock, atomic). 1
 * released, 0 not ours any more (expired, taken over). */
int tk_redis_unlock(struct tk_redis *r, const char *lock_key,
                    const char *token);

/* One field of a hash; both strings NUL-terminated, owned by the list. */
struct tk_redis_pair {
    char *field;
    size_t field_len;
    char *value;
    size_t value_len;
};

struct tk_redis_pairs {
    struct tk_redis_pair *items; /* owned */
    size_t n;
};

/* HGETALL key into pairs (released first). 1 when the hash has fields,
 * 0 when empty or absent. */
int tk_redis_hgetall(struct tk_redis *r, const char *key,
                     struct tk_redis_pairs *pairs);
void tk_redis_pairs_release(struct tk_redis_pairs *pairs);

/* --- activity functions ------------------------------------------------ */

struct tk_redis_stock {
    int64_t total;
    int64_t remain;
    int64_t sold;
};

/* HMGET the activity's stock hash. 1 present, 0 absent (not preheated). */
int tk_redis_stock(struct tk_redis *r, int64_t act,
                   struct tk_redis_stock *stock);

/* What a grab, refund or check-in did. */
struct tk_redis_result {
    int outcome; /* enum tk_grab_outcome / tk_refund_outcome / ... */
    char ticket_id[TK_TICKET_ID_MAX + 1]; /* "" when none is concerned */
    char student_id[TK_SID_MAX + 1];      /* check-in: the holder; tk_grab_bound */
    int64_t remain; /* grab, refund: stock left after the call */
};

/*
 * tk_grab for student sid in activity act, one round trip. A new ticket
 * gets a random 16-hex-character id. With msgkey (a WeChat message's
 * dedupe key, may be NULL) the outcome is stored in tk_key_dedupe() for
 * dedupe_ttl_s seconds, and a later call with the same msgkey returns that
 * outcome and ticket id again and changes nothing. Only then is a call
 * that hit a connection error retried once on a new connection: without a
 * msgkey a repeat could not tell its own earlier success from a duplicate.
 * Returns 0 with res filled, or < 0 (res undefined).
 */
int tk_redis_grab(struct tk_redis *r, int64_t act, const char *sid,
                  const char *msgkey, int dedupe_ttl_s,
                  struct tk_redis_result *res);

/*
 * tk_grab_bound: tk_redis_grab for the student whom openid's cached
 * binding (tk_key_binding) names, read by the function itself, so that a
 * grab costs one round trip instead of two. msgkey is required. Besides
 * the outcomes of tk_grab, TK_GRAB_NOT_CACHED (no usable binding in
 * Redis) and TK_GRAB_UNBOUND (cached as not bound) say that nothing was
 * done, nor the stored outcome looked at. res->student_id is the student
 * (for those two, ""). The binding key lies on another hash slot than the
 * activity's: not for Redis Cluster (redis.one_trip_grab).
 */
int tk_redis_grab_bound(struct tk_redis *r, int64_t act, const char *openid,
                        const char *msgkey, int dedupe_ttl_s,
                        struct tk_redis_result *res);

/* tk_refund of sid's valid ticket; dedupe as for tk_redis_grab. */
int tk_redis_refund(struct tk_redis *r, int64_t act, const char *sid,
                    const char *msgkey, int dedupe_ttl_s,
                    struct tk_redis_result *res);

/* tk_checkin by ticket id, by student id, or both (must match); NULL or ""
 * for the one not given. res names the ticket and its holder. */
int tk_redis_checkin(struct tk_redis *r, int64_t act, const char *ticket_id,
                     const char *sid, struct tk_redis_result *res);

/*
 * tk_load: sets the activity's stock (total) and its tickets (statuses:
 * valid and used ones hold stock; cancelled ones are kept for check-in
 * answers). reset false writes only when the stock hash is absent
 * (preheat; *loaded = false when it was present), reset true replaces
 * stock, holders and tickets (rebuild; the stream is never touched). Also
 * adds act to tk:streams first, so the persister knows the stream before
 * any grab can write it (done here, not in the function, to keep every
 * function call inside one slot). stock (may be NULL) gets the result.
 */
int tk_redis_load(struct tk_redis *r, int64_t act, bool reset, int64_t total,
                  const struct tk_ticket *tickets, size_t n, bool *loaded,
                  struct tk_redis_stock *stock);

/* --- generic commands, for admin tools --------------------------------- */

enum tk_redis_type {
    TK_REDIS_NIL,
    TK_REDIS_INTEGER,
    TK_REDIS_STRING, /* bulk string */
    TK_REDIS_STATUS, /* simple string, e.g. OK */
    TK_REDIS_ERROR,  /* the server's error message in str */
    TK_REDIS_ARRAY,
};

struct tk_redis_reply {
    enum tk_redis_type type;
    long long integer;
    char *str; /* STRING, STATUS, ERROR: NUL-terminated, len bytes */
    size_t len;
    size_t elements; /* ARRAY */
    struct tk_redis_reply **element;
};

void tk_redis_reply_free(struct tk_redis_reply *reply); /* NULL is fine */

/*
 * Sends one command (argv strings, binary-safe when argvlen is given, else
 * NUL-terminated) and returns the reply in *reply (caller frees). An
 * error reply from the server is a reply (type TK_REDIS_ERROR), return 0;
 * < 0 means no reply (*reply NULL).
 */
int tk_redis_command(struct tk_redis *r, int argc, const char *const *argv,
                     const size_t *argvlen, struct tk_redis_reply **reply);

/* tk_redis_command() with a NULL-terminated list of strings:
 * tk_redis_cmd(r, &reply, "HGETALL", key, NULL). */
int tk_redis_cmd(struct tk_redis *r, struct tk_redis_reply **reply, ...)
    __attribute__((sentinel));

struct tk_redis_command {
    int argc;
    const char *const *argv;
    const size_t *argvlen; /* may be NULL */
};

/* Sends n commands in one round trip; replies[i] as for
 * tk_redis_command(). On failure every replies[i] is NULL. */
int tk_redis_pipeline(struct tk_redis *r, const struct tk_redis_command *cmds,
                      size_t n, struct tk_redis_reply **replies);

/* --- split round trips, for ticket-persistd ---------------------------*/

/*
 * Sends commands and returns without their replies, so the server works
 * on them while the caller does something else (the persister reads the
 * next batch and acknowledges the last one while MariaDB writes). Each
 * reply is then taken, in order, with tk_redis_receive(), which returns
 * it as tk_redis_command() would; until all are taken, other commands
 * on r are refused (-EBUSY). Never retried. A failure closes the
 * connection, and the replies still awaited are lost with it.
 */
int tk_redis_send_many(struct tk_redis *r, const struct tk_redis_command *cmds,
                       size_t n);
int tk_redis_send(struct tk_redis *r, int argc, const char *const *argv,
                  const size_t *argvlen);
int tk_redis_receive(struct tk_redis *r, struct tk_redis_reply **reply);
/* Replies sent for and not yet received (0 on a shared connection). */
size_t tk_redis_unread(const struct tk_redis *r);

#endif
