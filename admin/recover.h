/*
 * Redis <-> MariaDB for ticketctl: loading an activity into Redis from its
 * rows (preheat, rebuild, publish), the figures of its order stream, and
 * the comparison of both sides that reconcile and verify report and
 * reconcile --repair applies.
 *
 * Returns 0 or a negative errno (logged where detected) unless said
 * otherwise.
 */
#ifndef TK_RECOVER_H
#define TK_RECOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "model.h"
#include "redis.h"

struct tk_conf;
struct tk_store;

/* --- the order stream ------------------------------------------------- */

/* An activity's order stream as seen by ticket-persistd's group. */
struct tk_stream_figures {
    int64_t length;  /* XLEN (the persister trims applied entries) */
    int64_t lag;     /* entries after the group's last-delivered id */
    int64_t pending; /* delivered to the group, not acknowledged */
};

/* Events not yet applied to MariaDB. */
static inline int64_t
tk_stream_unapplied(const struct tk_stream_figures *f)
{
    return f->lag + f->pending;
}

/* Figures of act's stream (all 0 when there is no stream). */
int tk_recover_stream(struct tk_redis *r, int64_t act,
                      struct tk_stream_figures *f);

/* Length of the dead-letter stream. */
int tk_recover_dead_letters(struct tk_redis *r, int64_t *n);

/* --- loading ------------------------------------------------------------ */

/*
 * Loads a into Redis from its MariaDB rows (every status: valid and used
 * tickets hold stock, cancelled ones answer check-ins) with
 * tk_redis_load(): reset false only when absent (*loaded false when it
 * was there), reset true replaces stock, holders and tickets. Then stores
 * the activity in the caches (by id and key). stock and holders (may be
 * NULL) get the figures in Redis afterwards.
 */
int tk_recover_load(struct tk_redis *r, struct tk_store *s,
                    const struct tk_conf *conf, const struct tk_activity *a,
                    bool reset, bool *loaded, struct tk_redis_stock *stock,
                    int64_t *holders);

/* --- comparison --------------------------------------------------------- */

enum tk_check {
    TK_CHECK_I1, /* sold + remain == total, remain >= 0 */
    TK_CHECK_I2, /* one valid or used ticket per student, both sides */
    TK_CHECK_I4, /* sold == holders; holders have valid or used tickets */
    TK_CHECK_I5, /* after drain: Redis holders == MariaDB rows (I3 too) */
    TK_CHECK_COUNT
};

/* "I1", "I2", "I4", "I3/I5". */
const char *tk_check_name(enum tk_check check);

/* One activity on both sides; filled by tk_recover_compare(). */
struct tk_recover_report {
    int64_t act;
    bool in_db;     /* a row in activities */
    bool in_redis;  /* a stock hash */
    bool drained;   /* no unapplied events: the cross checks ran */
    char key[TK_KEY_MAX + 1];
    int64_t db_total;
    struct tk_redis_stock stock;
    int64_t holders;
    int64_t db_valid, db_used, db_cancelled;
    struct tk_stream_figures stream;
    /* Problems per invariant, and one line per problem ("I1: ..."). */
    size_t problems[TK_CHECK_COUNT];
    size_t nproblems;
    struct tk_buf lines;
    /* Rows that would make MariaDB say what Redis says (repair). */
    struct tk_ticket *fixes;
    size_t nfixes;
};

/*
 * Reads act from both sides and checks I1, I2, I4 and, when the stream is
 * drained, I5 (every Redis holder has exactly one matching row, and every
 * valid or used row a holder). An activity missing on one side is a
 * problem when the other side holds tickets, or when it is published and
 * its booking has not ended. Returns 0 (problems are in rep) or < 0.
 */
int tk_recover_compare(struct tk_redis *r, struct tk_store *s, int64_t act,
                       struct tk_recover_report *rep);

void tk_recover_report_release(struct tk_recover_report *rep);

/* Writes rep's fixes to MariaDB in one transaction (idempotent upserts).
 * Returns the number written, or < 0 (then nothing is). */
int tk_recover_repair(struct tk_store *s, const struct tk_recover_report *rep);

#endif
