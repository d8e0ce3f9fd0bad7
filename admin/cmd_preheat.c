/* ticketctl preheat: activities, stock, holders and bindings into Redis
 * before a sale. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "recover.h"
#include "redis.h"
#include "store.h"
#include "ticketctl.h"

#define BIND_BATCH 2000
#define UPCOMING_MAX_HOURS (24 * 366)
/* Bindings are cached until the last preheated booking window ends (a
 * sale may open hours after its preheat; cold bindings would send every
 * first request to MariaDB), but never longer than this. Every binding
 * change (web bind, 解绑, ticketctl user bind/unbind) deletes the entry. */
#define BIND_KEEP_MAX_S (8 * 86400)

int
tk_ctl_preheat_one(struct tk_ctl *ctl, const struct tk_activity *a)
{
    struct tk_redis_stock stock;
    struct tk_redis *r;
    struct tk_store *s;
    int64_t holders;
    bool loaded;
    int rc;

    rc = tk_ctl_store(ctl, &s);
    if (rc == 0) {
        rc = tk_ctl_redis(ctl, &r);
    }
    if (rc != 0) {
        return rc;
    }
    rc = tk_recover_load(r, s, &ctl->conf, a, false, &loaded, &stock,
                         &holders);
    if (rc < 0) {
        fprintf(stderr, "ticketctl: cannot load activity %" PRId64
                        " into redis\n", a->id);
        return rc == -EINVAL || rc == -EPROTO ? EX_DATAERR : EX_UNAVAILABLE;
    }
    printf("%" PRId64 " %s total %" PRId64 " remain %" PRId64
           " holders %" PRId64 " %s\n",
           a->id, a->key, stock.total, stock.remain, holders,
           loaded ? "loaded" : "already loaded");
    return 0;
}

/* Bound users, cached BIND_BATCH at a time in one round trip each. */
struct bindings {
    struct tk_cache cache;
    struct tk_redis *r;
    char openid[BIND_BATCH][TK_OPENID_MAX + 1];
    char sid[BIND_BATCH][TK_SID_MAX + 1];
    const char *op[BIND_BATCH];
    const char *sp[BIND_BATCH];
    size_t n;
    int64_t ttl_ms;
    int64_t total;
    int rc;
};

static int
bindings_flush(struct bindings *b)
{
    if (b->n > 0) {
        b->rc = tk_cache_put_bindings(&b->cache, b->r, b->op, b->sp, b->n,
                                      b->ttl_ms);
        b->total += b->rc == 0 ? (int64_t)b->n : 0;
        b->n = 0;
    }
    return b->rc;
}

static int
bindings_add(const char *openid, const char *sid, void *arg)
{
    struct bindings *b = arg;

    tk_strlcpy(b->openid[b->n], openid, sizeof(b->openid[b->n]));
    tk_strlcpy(b->sid[b->n], sid, sizeof(b->sid[b->n]));
    b->op[b->n] = b->openid[b->n];
    b->sp[b->n] = b->sid[b->n];
    if (++b->n == BIND_BATCH) {
        return bindings_flush(b) < 0;
    }
    return 0;
}

/* keep_until: the end (Unix s) of the last booking window preheated. */
static int
preheat_bindings(struct tk_ctl *ctl, int64_t keep_until)
{
    struct bindings *b = tk_xcalloc(1, sizeof(*b));
    struct tk_store *s;
    int64_t t0 = tk_mono_ms(), keep_s = keep_until - tk_now();
    int rc;

    if (keep_s > BIND_KEEP_MAX_S) {
        keep_s = BIND_KEEP_MAX_S;
    }
    b->ttl_ms = keep_s > 0 ? keep_s * 1000 : 0;

    rc = tk_ctl_store(ctl, &s);
    if (rc == 0) {
        rc = tk_ctl_redis(ctl, &b->r);
    }
    if (rc == 0) {
        tk_cache_init(&b->cache, &ctl->conf);
        rc = tk_store_user_list_bound(s, bindings_add, b);
        if (rc >= 0) {
            rc = bindings_flush(b);
        }
        if (rc < 0 || b->rc < 0) {
            fprintf(stderr, "ticketctl: cannot preheat the bindings\n");
            rc = EX_UNAVAILABLE;
        } else {
            printf("bindings %" PRId64 " cached in %" PRId64
                   " ms, kept %" PRId64 " s\n",
                   b->total, tk_mono_ms() - t0,
                   b->ttl_ms > 0 ? b->ttl_ms / 1000
                                 : (int64_t)ctl->conf.cache.ttl_s);
        }
    }
    free(b);
    return rc;
}

/* Published activities whose booking opens within the window or is open. */
struct upcoming {
    struct tk_ctl *ctl;
    int64_t now, until;
    int64_t keep_until; /* the latest book_end preheated */
    int count;
    int rc;
};

static int
upcoming_one(const struct tk_activity *a, void *arg)
{
    struct upcoming *u = arg;
    int rc;

    if (a->status != TK_ACT_PUBLISHED || a->book_end <= u->now ||
        a->book_start > u->until) {
        return 0;
    }
    u->count++;
    if (a->book_end > u->keep_until) {
        u->keep_until = a->book_end;
    }
    rc = tk_ctl_preheat_one(u->ctl, a);
    if (rc != 0 && u->rc == 0) {
        u->rc = rc;
    }
    return 0;
}

int
tk_cmd_preheat(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd self = {
        "preheat", tk_cmd_preheat,
        "preheat ID...\npreheat --upcoming HOURS", ""};
    static const struct option longopts[] = {
        {"upcoming", required_argument, NULL, 'u'},
        {NULL, 0, NULL, 0},
    };
    struct upcoming u = {ctl, tk_now(), 0, 0, 0, 0};
    const char *hours = NULL;
    struct tk_store *s;
    int64_t h;
    int c, rc;

    while ((c = tk_ctl_getopt_long(ctl, argc, argv, "u:", longopts)) != -1) {
        if (c != 'u') {
            return tk_ctl_usage(&self);
        }
        hours = optarg;
    }
    if ((hours == NULL) == (optind == argc)) {
        return tk_ctl_usage(&self);
    }
    if (hours != NULL) {
        if (tk_parse_i64(hours, &h) < 0 || h < 1 ||
            h > UPCOMING_MAX_HOURS) {
            fprintf(stderr, "ticketctl: --upcoming: '%s' is not a number "
                            "of hours (1 to %d)\n",
                    hours, UPCOMING_MAX_HOURS);
            return TK_EXIT_USAGE;
        }
        u.until = u.now + h * 3600;
        rc = tk_ctl_store(ctl, &s);
        if (rc != 0) {
            return rc;
        }
        if (tk_store_activity_list(s, upcoming_one, &u) < 0) {
            return EX_UNAVAILABLE;
        }
        if (u.count == 0) {
            printf("no published activity opens within %" PRId64
                   " hours\n", h);
            return 0;
        }
    }
    for (int i = optind; i < argc; i++) {
        struct tk_activity a;

        rc = tk_ctl_activity(ctl, argv[i], &a);
        if (rc == 0) {
            if (a.book_end > u.keep_until) {
                u.keep_until = a.book_end;
            }
            rc = tk_ctl_preheat_one(ctl, &a);
        }
        if (rc != 0 && u.rc == 0) {
            u.rc = rc;
        }
    }
    rc = preheat_bindings(ctl, u.keep_until);
    return u.rc != 0 ? u.rc : rc;
}
