/* ticketctl rebuild: Redis from MariaDB after Redis lost its data. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recover.h"
#include "redis.h"
#include "store.h"
#include "ticketctl.h"

/*
 * Rebuilding while the stream holds events MariaDB has not seen would
 * hand out again the stock those events took: refused unless forced.
 */
static int
rebuild_one(struct tk_ctl *ctl, const struct tk_activity *a, bool force)
{
    struct tk_stream_figures f;
    struct tk_redis_stock stock;
    struct tk_redis *r;
    struct tk_store *s;
    int64_t holders, unapplied;
    int rc;

    rc = tk_ctl_store(ctl, &s);
    if (rc == 0) {
        rc = tk_ctl_redis(ctl, &r);
    }
    if (rc != 0) {
        return rc;
    }
    if (tk_recover_stream(r, a->id, &f) < 0) {
        return EX_UNAVAILABLE;
    }
    unapplied = tk_stream_unapplied(&f);
    if (unapplied > 0 && !force) {
        fprintf(stderr,
                "ticketctl: rebuild of activity %" PRId64 " refused: its "
                "stream holds %" PRId64 " unapplied events (let "
                "ticket-persistd apply them, or use --force to lose them)\n",
                a->id, unapplied);
        return TK_EXIT_PROBLEM;
    }
    rc = tk_recover_load(r, s, &ctl->conf, a, true, NULL, &stock, &holders);
    if (rc < 0) {
        fprintf(stderr, "ticketctl: cannot rebuild activity %" PRId64 "\n",
                a->id);
        return rc == -EINVAL || rc == -EPROTO ? EX_DATAERR : EX_UNAVAILABLE;
    }
    printf("%" PRId64 " %s total %" PRId64 " remain %" PRId64
           " holders %" PRId64 " rebuilt",
           a->id, a->key, stock.total, stock.remain, holders);
    if (unapplied > 0) {
        printf(" (forced past %" PRId64 " unapplied events)", unapplied);
    }
    printf("\n");
    return 0;
}

struct all {
    struct tk_activity *items;
    size_t n;
};

static int
all_add(const struct tk_activity *a, void *arg)
{
    struct all *v = arg;

    v->items = tk_xrealloc(v->items, (v->n + 1) * sizeof(*v->items));
    v->items[v->n++] = *a;
    return 0;
}

/* Every activity not deleted that is published or has tickets. */
static int
rebuild_all(struct tk_ctl *ctl, bool force)
{
    struct all v = {NULL, 0};
    struct tk_store *s;
    int64_t booked, used;
    int rc, worst = 0, count = 0;

    rc = tk_ctl_store(ctl, &s);
    if (rc != 0) {
        return rc;
    }
    if (tk_store_activity_list(s, all_add, &v) < 0) {
        free(v.items);
        return EX_UNAVAILABLE;
    }
    for (size_t i = 0; i < v.n; i++) {
        if (tk_store_activity_counts(s, v.items[i].id, &booked, &used) < 0) {
            worst = EX_UNAVAILABLE;
            break;
        }
        if (v.items[i].status != TK_ACT_PUBLISHED && booked == 0) {
            continue;
        }
        count++;
        rc = rebuild_one(ctl, &v.items[i], force);
        if (rc != 0 && worst == 0) {
            worst = rc;
        }
    }
    if (worst == 0 && count == 0) {
        printf("nothing to rebuild\n");
    }
    free(v.items);
    return worst;
}

int
tk_cmd_rebuild(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd self = {
        "rebuild", tk_cmd_rebuild, "rebuild [--force] ID...\n"
        "rebuild --all [--force]", ""};
    static const struct option longopts[] = {
        {"all", no_argument, NULL, 'a'},
        {"force", no_argument, NULL, 'f'},
        {NULL, 0, NULL, 0},
    };
    bool all = false, force = false;
    int c, rc, worst = 0;

    while ((c = tk_ctl_getopt_long(ctl, argc, argv, "af", longopts)) != -1) {
        if (c == 'a') {
            all = true;
        } else if (c == 'f') {
            force = true;
        } else {
            return tk_ctl_usage(&self);
        }
    }
    if (all == (optind < argc)) {
        return tk_ctl_usage(&self);
    }
    if (all) {
        return rebuild_all(ctl, force);
    }
    for (int i = optind; i < argc; i++) {
        struct tk_activity a;

        rc = tk_ctl_activity(ctl, argv[i], &a);
        if (rc == 0) {
            rc = rebuild_one(ctl, &a, force);
        }
        if (rc != 0 && worst == 0) {
            worst = rc;
        }
    }
    return worst;
}
