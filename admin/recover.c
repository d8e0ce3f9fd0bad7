#include "recover.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "keys.h"
#include "log.h"
#include "persist.h"
#include "store.h"
#include "util.h"

/* --- the order stream ------------------------------------------------- */

/* An integer reply, or -EPROTO. */
static int
int_reply(struct tk_redis *r, const char *what, const char *cmd,
          const char *key, int64_t *out)
{
    struct tk_redis_reply *reply;
    int rc = tk_redis_cmd(r, &reply, cmd, key, NULL);

    if (rc < 0) {
        return rc;
    }
    if (reply->type != TK_REDIS_INTEGER) {
        tk_err("unexpected reply to %s of '%s'", what, key);
        rc = -EPROTO;
    } else {
        *out = reply->integer;
    }
    tk_redis_reply_free(reply);
    return rc;
}

/* Counts the entries after id, for servers that cannot tell the lag
 * (entries were deleted out of order). */
static int
count_after(struct tk_redis *r, const char *key, const char *id, int64_t *n)
{
    char from[64];
    struct tk_redis_reply *reply = NULL;
    int rc;

    *n = 0;
    snprintf(from, sizeof(from), "(%s", id);
    for (;;) {
        const struct tk_redis_reply *last;

        rc = tk_redis_cmd(r, &reply, "XRANGE", key, from, "+", "COUNT",
                          "1000", NULL);
        if (rc < 0) {
            return rc;
        }
        if (reply->type != TK_REDIS_ARRAY) {
            tk_err("unexpected reply to XRANGE of '%s'", key);
            rc = -EPROTO;
            break;
        }
        *n += (int64_t)reply->elements;
        if (reply->elements < 1000) {
            break;
        }
        last = reply->element[reply->elements - 1];
        if (last->type != TK_REDIS_ARRAY || last->elements < 1 ||
            last->element[0]->type != TK_REDIS_STRING) {
            tk_err("unexpected entry in XRANGE of '%s'", key);
            rc = -EPROTO;
            break;
        }
        snprintf(from, sizeof(from), "(%s", last->element[0]->str);
        tk_redis_reply_free(reply);
        reply = NULL;
    }
    tk_redis_reply_free(reply);
    return rc;
}

/*
 * XLEN and XINFO GROUPS, read by the persister's own parser; XRANGE when
 * the server cannot compute the lag.
 */
int
tk_recover_stream(struct tk_redis *r, int64_t act,
                  struct tk_stream_figures *f)
{
    char key[TK_KEY_BUF];
    struct tk_redis_reply *reply = NULL;
    const char *last;
    int rc;

    memset(f, 0, sizeof(*f));
    tk_key_events(key, act);
    rc = int_reply(r, "XLEN", "XLEN", key, &f->length);
    if (rc < 0 || f->length == 0) {
        return rc;
    }
    rc = tk_redis_cmd(r, &reply, "XINFO", "GROUPS", key, NULL);
    if (rc < 0) {
        return rc;
    }
    if (reply->type != TK_REDIS_ARRAY) {
        tk_err("unexpected reply to XINFO GROUPS of '%s'", key);
        rc = -EPROTO;
        goto out;
    }
    if (tk_persist_group_figures(reply, f->length, &f->pending, &f->lag,
                                 &last) == 1 &&
        f->lag < 0) {
        if (last == NULL) {
            tk_err("no last-delivered-id for group '%s' of '%s'",
                   TK_KEYS_GROUP, key);
            rc = -EPROTO;
            goto out;
        }
        rc = count_after(r, key, last, &f->lag);
    }

out:
    tk_redis_reply_free(reply);
    return rc;
}

int
tk_recover_dead_letters(struct tk_redis *r, int64_t *n)
{
    return int_reply(r, "XLEN", "XLEN", TK_KEYS_DEAD, n);
}

/* --- loading ------------------------------------------------------------ */

struct tickets {
    struct tk_ticket *items;
    size_t n, cap;
};

static int
collect(const struct tk_ticket *t, void *arg)
{
    struct tickets *v = arg;

    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 64;
        v->items = tk_xrealloc(v->items, v->cap * sizeof(*v->items));
    }
    v->items[v->n++] = *t;
    return 0;
}

int
tk_recover_load(struct tk_redis *r, struct tk_store *s,
                const struct tk_conf *conf, const struct tk_activity *a,
                bool reset, bool *loaded, struct tk_redis_stock *stock,
                int64_t *holders)
{
    struct tickets v = {NULL, 0, 0};
    struct tk_cache cache;
    char key[TK_KEY_BUF];
    int rc;

    rc = tk_store_ticket_list_activity(s, a->id, collect, &v);
    if (rc >= 0) {
        rc = tk_redis_load(r, a->id, reset, a->total_tickets, v.items, v.n,
                           loaded, stock);
    }
    if (rc >= 0) {
        tk_cache_init(&cache, conf);
        rc = tk_cache_put_activity(&cache, r, a);
    }
    if (rc >= 0 && holders != NULL) {
        tk_key_holders(key, a->id);
        rc = int_reply(r, "HLEN", "HLEN", key, holders);
    }
    free(v.items);
    return rc < 0 ? rc : 0;
}

/* --- comparison --------------------------------------------------------- */

static const char *const check_names[TK_CHECK_COUNT] = {
    [TK_CHECK_I1] = "I1",
    [TK_CHECK_I2] = "I2",
    [TK_CHECK_I4] = "I4",
    [TK_CHECK_I5] = "I3/I5",
};

const char *
tk_check_name(enum tk_check check)
{
    return check_names[check];
}

static void problem(struct tk_recover_report *rep, enum tk_check check,
                    const char *fmt, ...) TK_PRINTF(3, 4);

static void
problem(struct tk_recover_report *rep, enum tk_check check, const char *fmt,
        ...)
{
    va_list ap;

    rep->problems[check]++;
    rep->nproblems++;
    tk_buf_printf(&rep->lines, "%s: ", check_names[check]);
    va_start(ap, fmt);
    tk_buf_vprintf(&rep->lines, fmt, ap);
    va_end(ap);
    tk_buf_addc(&rep->lines, '\n');
}

static void
add_fix(struct tk_recover_report *rep, int64_t act, const char *sid,
        const char *tid, int status)
{
    struct tk_ticket *t;

    rep->fixes = tk_xrealloc(rep->fixes,
                             (rep->nfixes + 1) * sizeof(*rep->fixes));
    t = &rep->fixes[rep->nfixes++];
    memset(t, 0, sizeof(*t));
    t->activity_id = act;
    tk_strlcpy(t->student_id, sid, sizeof(t->student_id));
    tk_strlcpy(t->unique_id, tid, sizeof(t->unique_id));
    t->status = status;
}

static const char *
status_name(int status)
{
    return status == TK_TICKET_VALID  ? "valid"
           : status == TK_TICKET_USED ? "used"
                                      : "cancelled";
}

static int
by_student(const void *a, const void *b)
{
    const struct tk_ticket *x = a, *y = b;

    return strcmp(x->student_id, y->student_id);
}

/* qsort() must not be given NULL, even for nothing. */
static void
sort_tickets(struct tickets *v)
{
    if (v->n > 0) {
        qsort(v->items, v->n, sizeof(*v->items), by_student);
    }
}

static int
by_field(const void *a, const void *b)
{
    const struct tk_redis_pair *x = a, *y = b;

    return strcmp(x->field, y->field);
}

/*
 * The Redis side as tickets: one per holder, with the status its tickets
 * entry gives (I4 problems when there is none, or it is not valid or
 * used, or names another student). Also checks that no student has two
 * valid or used entries in the tickets hash (I2).
 */
static int
redis_holders(struct tk_redis *r, struct tk_recover_report *rep,
              struct tickets *out)
{
    struct tk_redis_pairs holders = {NULL, 0}, tickets = {NULL, 0};
    struct tickets live = {NULL, 0, 0};
    char key[TK_KEY_BUF];
    int rc;

    tk_key_holders(key, rep->act);
    rc = tk_redis_hgetall(r, key, &holders);
    if (rc >= 0) {
        tk_key_tickets(key, rep->act);
        rc = tk_redis_hgetall(r, key, &tickets);
    }
    if (rc < 0) {
        goto out;
    }
    rep->holders = (int64_t)holders.n;
    if (tickets.n > 0) {
        qsort(tickets.items, tickets.n, sizeof(*tickets.items), by_field);
    }
    for (size_t i = 0; i < tickets.n; i++) {
        struct tk_ticket t = {0};
        const char *v = tickets.items[i].value;

        if ((v[0] == '1' || v[0] == '2') && v[1] == ':') {
            t.status = v[0] - '0';
            tk_strlcpy(t.student_id, v + 2, sizeof(t.student_id));
            tk_strlcpy(t.unique_id, tickets.items[i].field,
                       sizeof(t.unique_id));
            collect(&t, &live);
        }
    }
    sort_tickets(&live);
    for (size_t i = 1; i < live.n; i++) {
        if (strcmp(live.items[i].student_id, live.items[i - 1].student_id) ==
            0) {
            problem(rep, TK_CHECK_I2,
                    "redis: student %s has tickets %s and %s",
                    live.items[i].student_id, live.items[i - 1].unique_id,
                    live.items[i].unique_id);
        }
    }
    for (size_t i = 0; i < holders.n; i++) {
        struct tk_redis_pair k = {.field = holders.items[i].value};
        const struct tk_redis_pair *e =
            tickets.n == 0 ? NULL
                           : bsearch(&k, tickets.items, tickets.n, sizeof(k),
                                     by_field);
        const char *sid = holders.items[i].field;
        struct tk_ticket t = {0};

        if (e == NULL || (e->value[0] != '1' && e->value[0] != '2') ||
            e->value[1] != ':' || strcmp(e->value + 2, sid) != 0) {
            problem(rep, TK_CHECK_I4,
                    "redis: holder %s -> %s without a valid or used ticket "
                    "(tickets entry '%s')",
                    sid, k.field, e != NULL ? e->value : "");
            continue;
        }
        t.status = e->value[0] - '0';
        tk_strlcpy(t.student_id, sid, sizeof(t.student_id));
        tk_strlcpy(t.unique_id, k.field, sizeof(t.unique_id));
        collect(&t, out);
    }
    sort_tickets(out);

out:
    free(live.items);
    tk_redis_pairs_release(&holders);
    tk_redis_pairs_release(&tickets);
    return rc < 0 ? rc : 0;
}

/* I5: merges both sides by student. */
static void
cross_check(struct tk_recover_report *rep, const struct tickets *red,
            const struct tickets *db)
{
    size_t i = 0, j = 0;

    while (i < red->n || j < db->n) {
        const struct tk_ticket *x = i < red->n ? &red->items[i] : NULL;
        const struct tk_ticket *y = j < db->n ? &db->items[j] : NULL;
        int cmp = x == NULL   ? 1
                  : y == NULL ? -1
                              : strcmp(x->student_id, y->student_id);

        if (cmp < 0) {
            problem(rep, TK_CHECK_I5,
                    "student %s holds %s ticket %s in redis, no row in "
                    "mariadb",
                    x->student_id, status_name(x->status), x->unique_id);
            add_fix(rep, rep->act, x->student_id, x->unique_id, x->status);
            i++;
        } else if (cmp > 0) {
            if (y->status != TK_TICKET_CANCELLED) {
                problem(rep, TK_CHECK_I5,
                        "student %s has %s ticket %s in mariadb, no holder "
                        "in redis",
                        y->student_id, status_name(y->status), y->unique_id);
                add_fix(rep, rep->act, y->student_id, y->unique_id,
                        TK_TICKET_CANCELLED);
            }
            j++;
        } else {
            if (strcmp(x->unique_id, y->unique_id) != 0 ||
                x->status != y->status) {
                problem(rep, TK_CHECK_I5,
                        "student %s: redis %s ticket %s, mariadb %s ticket "
                        "%s",
                        x->student_id, status_name(x->status), x->unique_id,
                        status_name(y->status), y->unique_id);
                add_fix(rep, rep->act, x->student_id, x->unique_id,
                        x->status);
            }
            i++;
            j++;
        }
    }
}

int
tk_recover_compare(struct tk_redis *r, struct tk_store *s, int64_t act,
                   struct tk_recover_report *rep)
{
    struct tickets red = {NULL, 0, 0}, db = {NULL, 0, 0};
    struct tk_activity *a = tk_xcalloc(1, sizeof(*a));
    const struct tk_redis_stock *st = &rep->stock;
    int rc;

    memset(rep, 0, sizeof(*rep));
    rep->act = act;
    rc = tk_store_activity_get(s, act, a);
    if (rc < 0) {
        goto out;
    }
    rep->in_db = rc == 1;
    tk_strlcpy(rep->key, a->key, sizeof(rep->key));
    rep->db_total = a->total_tickets;
    rc = tk_store_ticket_list_activity(s, act, collect, &db);
    if (rc < 0) {
        goto out;
    }
    sort_tickets(&db);
    for (size_t i = 0; i < db.n; i++) {
        int64_t *n = db.items[i].status == TK_TICKET_VALID  ? &rep->db_valid
                     : db.items[i].status == TK_TICKET_USED ? &rep->db_used
                                                    : &rep->db_cancelled;

        (*n)++;
    }
    /* The unique key (activity, student) makes this impossible; the
     * check says so instead of assuming it. */
    for (size_t i = 1; i < db.n; i++) {
        if (strcmp(db.items[i].student_id, db.items[i - 1].student_id) == 0) {
            problem(rep, TK_CHECK_I2, "mariadb: student %s has two rows",
                    db.items[i].student_id);
        }
    }
    rc = tk_recover_stream(r, act, &rep->stream);
    if (rc < 0) {
        goto out;
    }
    rep->drained = tk_stream_unapplied(&rep->stream) == 0;
    rc = tk_redis_stock(r, act, &rep->stock);
    if (rc < 0) {
        goto out;
    }
    rep->in_redis = rc == 1;
    rc = 0;
    if (!rep->in_redis) {
        if (rep->db_valid + rep->db_used > 0 ||
            (rep->in_db && a->status == TK_ACT_PUBLISHED &&
             a->book_end > tk_now())) {
            problem(rep, TK_CHECK_I5,
                    "not loaded in redis (%" PRId64 " valid or used tickets "
                    "in mariadb): ticketctl preheat %" PRId64,
                    rep->db_valid + rep->db_used, act);
        }
        goto out;
    }
    if (!rep->in_db) {
        problem(rep, TK_CHECK_I5, "in redis but not in mariadb");
    } else if (st->total != rep->db_total) {
        problem(rep, TK_CHECK_I5, "total %" PRId64 " in redis, %" PRId64
                " in mariadb", st->total, rep->db_total);
    }
    if (st->sold + st->remain != st->total) {
        problem(rep, TK_CHECK_I1,
                "sold %" PRId64 " + remain %" PRId64 " != total %" PRId64,
                st->sold, st->remain, st->total);
    }
    if (st->remain < 0) {
        problem(rep, TK_CHECK_I1, "remain %" PRId64 " < 0", st->remain);
    }
    rc = redis_holders(r, rep, &red);
    if (rc < 0) {
        goto out;
    }
    if (st->sold != rep->holders) {
        problem(rep, TK_CHECK_I4, "sold %" PRId64 " != %" PRId64 " holders",
                st->sold, rep->holders);
    }
    if (rep->drained) {
        cross_check(rep, &red, &db);
    }

out:
    free(red.items);
    free(db.items);
    free(a);
    return rc;
}

void
tk_recover_report_release(struct tk_recover_report *rep)
{
    if (rep == NULL) {
        return;
    }
    tk_buf_release(&rep->lines);
    free(rep->fixes);
    rep->fixes = NULL;
    rep->nfixes = 0;
}

int
tk_recover_repair(struct tk_store *s, const struct tk_recover_report *rep)
{
    int rc;

    if (rep->nfixes == 0) {
        return 0;
    }
    rc = tk_store_begin(s);
    for (size_t i = 0; rc == 0 && i < rep->nfixes; i++) {
        rc = tk_store_ticket_upsert(s, &rep->fixes[i]);
    }
    if (rc == 0) {
        rc = tk_store_commit(s);
    } else {
        tk_store_rollback(s);
    }
    return rc < 0 ? rc : (int)rep->nfixes;
}
