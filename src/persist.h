/*
 * ticket-persistd's work: the activities' order streams (tk:{a:ID}:events,
 * listed in tk:streams) read through the consumer group TK_KEYS_GROUP and
 * written to MariaDB in batches, one transaction each, acknowledged after
 * the commit. Delivery is at least once; tk_store_events_apply() is
 * idempotent and ordered by stream id, so the effect is exactly once.
 *
 * Also the figures (lag, pending, dead letters, counters) and the
 * dead-letter operations that ticketctl shows and runs.
 *
 * Not thread-safe: one struct tk_persist per thread, with its own Redis
 * and MariaDB connections.
 */
#ifndef TK_PERSIST_H
#define TK_PERSIST_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "keys.h"
#include "model.h"

struct tk_redis;
struct tk_redis_reply;
struct tk_persist;

/* Counters since start; also added to the hash TK_KEYS_PERSIST_STATS
 * (fields applied, batches, dead, retries) after every batch. */
struct tk_persist_counters {
    uint64_t applied; /* events committed (replays included) */
    uint64_t batches; /* transactions committed */
    uint64_t dead;    /* events moved to the dead-letter stream */
    uint64_t retries; /* batches repeated after a MariaDB failure */
};

/*
 * A persister for conf (which must outlive it); no I/O yet. Its consumer
 * name is persist.consumer, or the host name: stable across restarts, so
 * a restarted persister finds its own pending entries. It returns from
 * its loops soon after *stop becomes non-zero (may be NULL: never).
 */
struct tk_persist *tk_persist_new(const struct tk_conf *conf,
                                  volatile sig_atomic_t *stop);
void tk_persist_free(struct tk_persist *p); /* NULL is fine */

const char *tk_persist_consumer(const struct tk_persist *p);

/* Consume only these activities' streams instead of those listed in
 * tk:streams (benchmarks, tests). */
void tk_persist_set_streams(struct tk_persist *p, const int64_t *acts,
                            size_t n);

/*
 * One round: discovers streams (each second), claims entries idle in other
 * consumers (XAUTOCLAIM), re-reads its own pending entries when due (at
 * the first round, after a claim, after a refused event), else reads new
 * events for at most persist.block_ms and fills a batch for at most
 * persist.batch_ms or persist.batch_max events; applies it, retrying with
 * backoff while MariaDB is unreachable; dead-letters events refused
 * persist.max_deliveries times (malformed ones at once); acknowledges,
 * trims acknowledged entries (XTRIM MINID) and invalidates the students'
 * cached ticket lists. Returns the number of events whose
 * acknowledgement Redis answered during the step (a batch followed by a
 * read-ahead one is answered in the next step), 0 when idle, -ECANCELED
 * when *stop interrupted a retry (nothing was acknowledged; the events
 * are delivered again later).
 */
int tk_persist_step(struct tk_persist *p);

/* tk_persist_step() until *stop; notifies the service manager's watchdog
 * and logs the counters every 10 s. */
void tk_persist_run(struct tk_persist *p);

void tk_persist_counters(const struct tk_persist *p,
                         struct tk_persist_counters *out);

/* --- figures, for ticketctl stats -------------------------------------*/

struct tk_persist_stream_figures {
    int64_t activity_id;
    int64_t length;  /* XLEN: entries not yet trimmed */
    int64_t pending; /* delivered, not acknowledged */
    int64_t lag;     /* not yet delivered to the group; -1 unknown */
};

struct tk_persist_figures {
    struct tk_persist_stream_figures *streams; /* owned, by activity id */
    size_t n;
    int64_t pending; /* sums over the streams */
    int64_t lag;     /* sum of the known lags */
    int64_t dead;    /* entries in the dead-letter stream */
    struct tk_persist_counters total; /* from TK_KEYS_PERSIST_STATS */
};

/*
 * The pending count and lag of ticket-persistd's group (TK_KEYS_GROUP) in
 * an XINFO GROUPS reply for a stream of length entries. Returns 0 when
 * there is no such group (then every entry is lag), 1 when there is: lag
 * is -1 when the server cannot compute it, and *last_delivered (pointing
 * into groups, or NULL) is where counting would start.
 */
int tk_persist_group_figures(const struct tk_redis_reply *groups,
                             int64_t length, int64_t *pending, int64_t *lag,
                             const char **last_delivered);

/* Reads the figures of every stream in tk:streams. Release with
 * tk_persist_figures_release() (also after a failure). */
int tk_persist_figures(struct tk_redis *r, struct tk_persist_figures *out);
void tk_persist_figures_release(struct tk_persist_figures *f);

/* --- dead letters ------------------------------------------------------*/

#define TK_STREAM_ID_MAX 48 /* "MS-SEQ" */

/* One entry of TK_KEYS_DEAD; fields the entry lacks are "". */
struct tk_persist_dead {
    char id[TK_STREAM_ID_MAX];        /* in the dead-letter stream */
    char stream[TK_KEY_BUF];          /* where the event came from */
    char event_id[TK_STREAM_ID_MAX];  /* its id there (its order) */
    int64_t deliveries;
    char error[256];
    char t[8];
    char sid[TK_SID_MAX + 1];
    char tid[TK_TICKET_ID_MAX + 1];
    char ts[24];
};

/* Calls fn for each dead letter, oldest first, until fn returns non-zero.
 * Returns the number visited, or < 0. */
int tk_persist_dead_each(struct tk_redis *r,
                         int (*fn)(const struct tk_persist_dead *, void *),
                         void *arg);

/*
 * Puts dead letter id back into its stream (a new entry carrying the
 * original id in field "oid", so it is still ordered by it) and deletes
 * it from the dead-letter stream. 1 done, 0 no such dead letter.
 */
int tk_persist_dead_retry(struct tk_redis *r, const char *id);

#endif
