/* ticketctl stats: sales, stream and cache figures. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "persist.h"
#include "recover.h"
#include "redis.h"
#include "store.h"
#include "ticketctl.h"

/* A counter "name:value" of an INFO reply; -1 when absent. */
static int64_t
info_field(const char *info, const char *name)
{
    size_t n = strlen(name);
    const char *p = info;
    int64_t v;
    char num[24];

    while ((p = strstr(p, name)) != NULL) {
        if ((p == info || p[-1] == '\n') && p[n] == ':') {
            size_t len = strcspn(p + n + 1, "\r\n");

            if (len < sizeof(num)) {
                memcpy(num, p + n + 1, len);
                num[len] = '\0';
                if (tk_parse_i64(num, &v) == 0) {
                    return v;
                }
            }
            return -1;
        }
        p += n;
    }
    return -1;
}

static int
print_row(struct tk_redis *r, struct tk_store *s, int64_t id)
{
    struct tk_activity *a = tk_xcalloc(1, sizeof(*a));
    struct tk_stream_figures f;
    struct tk_redis_stock st;
    char sold[24] = "-", remain[24] = "-", total[24] = "-";
    int in_db, in_redis, rc = 0;

    in_db = tk_store_activity_get(s, id, a);
    in_redis = in_db < 0 ? in_db : tk_redis_stock(r, id, &st);
    if (in_redis < 0 || tk_recover_stream(r, id, &f) < 0) {
        rc = EX_UNAVAILABLE;
        goto out;
    }
    if (in_redis == 1) {
        snprintf(sold, sizeof(sold), "%" PRId64, st.sold);
        snprintf(remain, sizeof(remain), "%" PRId64, st.remain);
        snprintf(total, sizeof(total), "%" PRId64, st.total);
    } else if (in_db == 1) {
        snprintf(total, sizeof(total), "%" PRId64, a->total_tickets);
    }
    printf("%-8" PRId64 " %-20s %8s %8s %8s %8" PRId64 " %8" PRId64
           " %8" PRId64 "%s\n",
           id, in_db == 1 ? a->key : "-", total, sold, remain, f.length,
           f.lag, f.pending, in_redis == 1 ? "" : "  (not in redis)");

out:
    free(a);
    return rc;
}

int
tk_cmd_stats(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd self = {"stats", tk_cmd_stats,
                                           "stats [ID]", ""};
    struct tk_redis_reply *info = NULL;
    struct tk_activity a;
    struct tk_redis *r;
    struct tk_store *s;
    int64_t *ids = NULL, one, dead, hits, misses;
    size_t n = 0;
    int rc;

    if (tk_ctl_getopt(ctl, argc, argv, "") != -1 || optind + 1 < argc) {
        return tk_ctl_usage(&self);
    }
    if (optind < argc) {
        rc = tk_ctl_activity(ctl, argv[optind], &a);
        one = a.id;
        ids = &one;
        n = 1;
    } else {
        rc = tk_ctl_activity_ids(ctl, &ids, &n);
    }
    if (rc == 0) {
        rc = tk_ctl_store(ctl, &s);
    }
    if (rc == 0) {
        rc = tk_ctl_redis(ctl, &r);
    }
    if (rc != 0) {
        goto out;
    }
    printf("%-8s %-20s %8s %8s %8s %8s %8s %8s\n", "ID", "KEY", "TOTAL",
           "SOLD", "REMAIN", "STREAM", "LAG", "PENDING");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = print_row(r, s, ids[i]);
    }
    if (rc != 0) {
        goto out;
    }
    if (tk_recover_dead_letters(r, &dead) < 0 ||
        tk_redis_cmd(r, &info, "INFO", "stats", NULL) < 0 ||
        info->type != TK_REDIS_STRING) {
        rc = EX_UNAVAILABLE;
        goto out;
    }
    printf("dead letters: %" PRId64 " (all activities)\n", dead);
    {
        struct tk_persist_figures pf;

        if (tk_persist_figures(r, &pf) == 0) {
            printf("persister: %" PRIu64 " events applied in %" PRIu64
                   " batches, %" PRIu64 " dead-lettered, %" PRIu64
                   " batches retried (all time)\n",
                   pf.total.applied, pf.total.batches, pf.total.dead,
                   pf.total.retries);
        }
        tk_persist_figures_release(&pf);
    }
    hits = info_field(info->str, "keyspace_hits");
    misses = info_field(info->str, "keyspace_misses");
    if (hits >= 0 && misses >= 0) {
        printf("redis key lookups: %" PRId64 " hits, %" PRId64
               " misses, hit rate %.1f%% (server-wide since start: every "
               "read of an existing key, caches and stock alike)\n",
               hits, misses,
               hits + misses > 0 ? 100.0 * (double)hits /
                                       (double)(hits + misses)
                                 : 0.0);
    }

out:
    tk_redis_reply_free(info);
    if (ids != &one) {
        free(ids);
    }
    return rc;
}
