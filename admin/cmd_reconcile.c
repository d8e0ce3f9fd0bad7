/* ticketctl reconcile: Redis and MariaDB after drain, for cron; --repair
 * makes MariaDB say what Redis told the students. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "keys.h"
#include "recover.h"
#include "redis.h"
#include "store.h"
#include "ticketctl.h"

struct ids {
    int64_t *items;
    size_t n;
};

static void
ids_add(struct ids *v, int64_t id)
{
    for (size_t i = 0; i < v->n; i++) {
        if (v->items[i] == id) {
            return;
        }
    }
    v->items = tk_xrealloc(v->items, (v->n + 1) * sizeof(*v->items));
    v->items[v->n++] = id;
}

static int
ids_add_activity(const struct tk_activity *a, void *arg)
{
    ids_add(arg, a->id);
    return 0;
}

static int
by_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

int
tk_ctl_activity_ids(struct tk_ctl *ctl, int64_t **out, size_t *n)
{
    struct ids v = {NULL, 0};
    struct tk_redis_reply *reply = NULL;
    struct tk_redis *r;
    struct tk_store *s;
    int64_t id;
    int rc;

    rc = tk_ctl_store(ctl, &s);
    if (rc == 0) {
        rc = tk_ctl_redis(ctl, &r);
    }
    if (rc != 0) {
        return rc;
    }
    if (tk_redis_cmd(r, &reply, "SMEMBERS", TK_KEYS_STREAMS, NULL) < 0 ||
        reply->type != TK_REDIS_ARRAY) {
        fprintf(stderr, "ticketctl: cannot read '%s'\n", TK_KEYS_STREAMS);
        rc = EX_UNAVAILABLE;
        goto out;
    }
    for (size_t i = 0; i < reply->elements; i++) {
        const struct tk_redis_reply *e = reply->element[i];

        if (e->type == TK_REDIS_STRING && tk_parse_i64(e->str, &id) == 0 &&
            id > 0) {
            ids_add(&v, id);
        } else {
            fprintf(stderr, "ticketctl: ignoring '%s' in '%s'\n",
                    e->str != NULL ? e->str : "", TK_KEYS_STREAMS);
        }
    }
    if (tk_store_activity_list(s, ids_add_activity, &v) < 0) {
        rc = EX_UNAVAILABLE;
        goto out;
    }
    if (v.n > 0) {
        qsort(v.items, v.n, sizeof(*v.items), by_id);
    }

out:
    tk_redis_reply_free(reply);
    if (rc != 0) {
        free(v.items);
        v.items = NULL;
        v.n = 0;
    }
    *out = v.items;
    *n = v.n;
    return rc;
}

/* What --repair can do for one activity: rows into MariaDB, or a load
 * into Redis of an activity Redis lost. Returns 0 or an exit code. */
static int
repair(struct tk_ctl *ctl, struct tk_redis *r, struct tk_store *s,
       const struct tk_recover_report *rep)
{
    struct tk_activity a;
    int rc;

    if (!rep->in_redis && rep->in_db) {
        rc = tk_store_activity_get(s, rep->act, &a);
        if (rc == 1) {
            rc = tk_recover_load(r, s, &ctl->conf, &a, false, NULL, NULL,
                                 NULL);
        }
        if (rc < 0) {
            return EX_UNAVAILABLE;
        }
        printf("activity %" PRId64 ": loaded into redis from mariadb\n",
               rep->act);
        return 0;
    }
    rc = tk_recover_repair(s, rep);
    if (rc < 0) {
        fprintf(stderr, "ticketctl: repair of activity %" PRId64
                        " failed; nothing written\n", rep->act);
        return EX_UNAVAILABLE;
    }
    for (size_t i = 0; i < rep->nfixes; i++) {
        const struct tk_ticket *t = &rep->fixes[i];

        (void)tk_cache_invalidate_my_tickets(r, t->student_id);
        printf("activity %" PRId64 ": repaired student %s: ticket %s %s\n",
               rep->act, t->student_id, t->unique_id,
               t->status == TK_TICKET_VALID  ? "valid"
               : t->status == TK_TICKET_USED ? "used"
                                             : "cancelled");
    }
    return 0;
}

/* Prints one activity's result; returns true when it is clean. */
static bool
print_report(const struct tk_recover_report *rep)
{
    const char *p = tk_buf_str(&rep->lines);

    if (!rep->drained) {
        printf("activity %" PRId64 " (%s): not drained (%" PRId64
               " unapplied events)\n",
               rep->act, rep->key, tk_stream_unapplied(&rep->stream));
    } else if (rep->nproblems > 0) {
        printf("activity %" PRId64 " (%s): drift\n", rep->act, rep->key);
    } else if (rep->in_redis || rep->db_valid + rep->db_used > 0) {
        printf("activity %" PRId64 " (%s): ok, %" PRId64 " holders\n",
               rep->act, rep->key, rep->holders);
    }
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');

        printf("  %.*s\n", (int)(nl - p), p);
        p = nl + 1;
    }
    return rep->drained && rep->nproblems == 0;
}

int
tk_cmd_reconcile(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd self = {
        "reconcile", tk_cmd_reconcile, "reconcile [--repair]", ""};
    static const struct option longopts[] = {
        {"repair", no_argument, NULL, 'r'},
        {NULL, 0, NULL, 0},
    };
    struct tk_recover_report rep;
    struct tk_redis *r;
    struct tk_store *s;
    int64_t *ids = NULL;
    size_t n = 0, drift = 0, undrained = 0, repaired = 0;
    bool fix = false;
    int c, rc;

    while ((c = tk_ctl_getopt_long(ctl, argc, argv, "r", longopts)) != -1) {
        if (c != 'r') {
            return tk_ctl_usage(&self);
        }
        fix = true;
    }
    if (optind != argc) {
        return tk_ctl_usage(&self);
    }
    rc = tk_ctl_activity_ids(ctl, &ids, &n);
    if (rc == 0) {
        rc = tk_ctl_store(ctl, &s);
    }
    if (rc == 0) {
        rc = tk_ctl_redis(ctl, &r);
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (tk_recover_compare(r, s, ids[i], &rep) < 0) {
            rc = EX_UNAVAILABLE;
            break;
        }
        if (fix && rep.drained && rep.nproblems > 0) {
            print_report(&rep);
            rc = repair(ctl, r, s, &rep);
            tk_recover_report_release(&rep);
            if (rc != 0 || tk_recover_compare(r, s, ids[i], &rep) < 0) {
                rc = rc != 0 ? rc : EX_UNAVAILABLE;
                break;
            }
            repaired++;
            printf("after repair: ");
        }
        if (!print_report(&rep)) {
            drift += rep.drained ? 1 : 0;
            undrained += rep.drained ? 0 : 1;
        }
        tk_recover_report_release(&rep);
    }
    free(ids);
    if (rc != 0) {
        return rc;
    }
    printf("reconcile: %zu activities, %zu with drift, %zu not drained",
           n, drift, undrained);
    if (fix) {
        printf(", %zu repaired", repaired);
    }
    printf("\n");
    return drift + undrained > 0 ? TK_EXIT_PROBLEM : 0;
}
