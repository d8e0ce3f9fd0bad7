/*
 * Shared reads for the pages and the JSON API. The WeChat grab path has
 * its own, faster route through the worker-local cache; these favour
 * freshness (an admin's edit shows on the next page view).
 */
#include "data.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "keys.h"
#include "log.h"
#include "redis.h"
#include "store.h"
#include "util.h"

/* Open activities searched for tickets not yet persisted. */
#define OPEN_MAX 64

static int
load_activity(void *store, int64_t id, struct tk_activity *out)
{
    return tk_store_activity_get(store, id, out);
}

int
tk_data_activity(struct tk_ctx *ctx, int64_t id, struct tk_activity *out)
{
    return tk_cache_activity(tk_ctx_cache(ctx), tk_ctx_redis(ctx), id,
                             load_activity, tk_ctx_store(ctx), out);
}

static int
load_binding(void *store, const char *openid, char sid[TK_SID_MAX + 1])
{
    return tk_store_user_get(store, openid, sid);
}

int
tk_data_binding(struct tk_ctx *ctx, const char *openid,
                char sid[TK_SID_MAX + 1])
{
    int rc;

    sid[0] = '\0';
    rc = tk_cache_binding(tk_ctx_cache(ctx), tk_ctx_redis(ctx), openid,
                          load_binding, tk_ctx_store(ctx), sid);
    if (rc <= 0) {
        sid[0] = '\0';
    }
    return rc;
}

int
tk_data_remain(struct tk_ctx *ctx, const struct tk_activity *a,
               int64_t *remain)
{
    struct tk_redis_stock stock;
    int64_t booked, used;
    int rc = tk_redis_stock(tk_ctx_redis(ctx), a->id, &stock);

    if (rc < 0) {
        return rc;
    }
    if (rc == 1) {
        *remain = stock.remain;
        return 0;
    }
    rc = tk_store_activity_counts(tk_ctx_store(ctx), a->id, &booked, &used);
    if (rc < 0) {
        return rc;
    }
    *remain = TK_MAX(a->total_tickets - booked, 0);
    return 0;
}

/* The stock's remain field from an HMGET total remain sold reply: 1 set,
 * 0 absent (not loaded) or malformed, which the slow path sorts out. */
static int
stock_remain(const struct tk_redis_reply *rep, int64_t *remain)
{
    if (rep == NULL || rep->type != TK_REDIS_ARRAY || rep->elements != 3 ||
        rep->element[1]->type != TK_REDIS_STRING) {
        return 0;
    }
    return tk_parse_i64(rep->element[1]->str, remain) == 0;
}

int
tk_data_activity_remain(struct tk_ctx *ctx, int64_t id,
                        struct tk_activity *out, int64_t *remain)
{
    char kact[TK_KEY_BUF], kstock[TK_KEY_BUF];
    const char *get[] = {"GET", kact};
    const char *hmget[] = {"HMGET", kstock, "total", "remain", "sold"};
    const struct tk_redis_command cmds[] = {
        {TK_ARRAY_SIZE(get), get, NULL},
        {TK_ARRAY_SIZE(hmget), hmget, NULL},
    };
    struct tk_redis_reply *rep[2] = {NULL, NULL};
    const char *p;
    size_t n;
    int rc, cached = -1;

    tk_key_act_by_id(kact, id);
    tk_key_stock(kstock, id);
    rc = tk_redis_pipeline(tk_ctx_redis(ctx), cmds, TK_ARRAY_SIZE(cmds), rep);
    if (rc < 0) {
        return rc;
    }
    /* A cached value or null marker answers like the cache would; a miss
     * or anything odd takes the cache-aside path, which fills it. */
    if (rep[0]->type == TK_REDIS_STRING) {
        cached = tk_cache_unwrap(rep[0]->str, rep[0]->len, &p, &n);
        if (cached == 1 && tk_cache_decode_activity(p, n, out) < 0) {
            cached = -1;
        }
    }
    if (cached == 0) {
        rc = 0;
    } else if (cached == 1 && stock_remain(rep[1], remain)) {
        rc = 1;
    } else {
        rc = cached == 1 ? 1 : tk_data_activity(ctx, id, out);
        if (rc == 1) {
            int r2 = tk_data_remain(ctx, out, remain);

            rc = r2 < 0 ? r2 : 1;
        }
    }
    tk_redis_reply_free(rep[0]);
    tk_redis_reply_free(rep[1]);
    return rc;
}

int
tk_data_counts(struct tk_ctx *ctx, const struct tk_activity *a,
               int64_t *booked, int64_t *used)
{
    struct tk_redis_stock stock;
    int rc = tk_store_activity_counts(tk_ctx_store(ctx), a->id, booked, used);

    if (rc < 0) {
        return rc;
    }
    rc = tk_redis_stock(tk_ctx_redis(ctx), a->id, &stock);
    if (rc < 0) {
        return rc;
    }
    if (rc == 1) {
        *booked = stock.sold;
    }
    return 0;
}

/* The Redis view of ticket tid in activity act: 1 with *status and sid
 * filled, 0 when Redis does not know it. */
static int
redis_ticket(struct tk_ctx *ctx, int64_t act, const char *tid, int *status,
             char sid[TK_SID_MAX + 1])
{
    char key[TK_KEY_BUF];
    struct tk_redis_reply *reply = NULL;
    int rc;

    tk_key_tickets(key, act);
    rc = tk_redis_cmd(tk_ctx_redis(ctx), &reply, "HGET", key, tid, NULL);
    if (rc < 0) {
        goto out;
    }
    rc = 0;
    if (reply->type == TK_REDIS_STRING && reply->len >= 3 &&
        reply->len - 2 <= TK_SID_MAX && reply->str[1] == ':' &&
        reply->str[0] >= '0' && reply->str[0] <= '2') {
        *status = reply->str[0] - '0';
        tk_strlcpy(sid, reply->str + 2, TK_SID_MAX + 1);
        rc = 1;
    } else if (reply->type == TK_REDIS_ERROR) {
        tk_err("cannot read ticket '%s': %s", tid, reply->str);
        rc = -EPROTO;
    }
out:
    tk_redis_reply_free(reply);
    return rc;
}

/* The open activities, for tickets the persister has not written yet. */
static int
open_activities(struct tk_ctx *ctx, struct tk_activity **out)
{
    struct tk_activity *acts = tk_arena_alloc(ctx->arena,
                                              OPEN_MAX * sizeof(*acts));
    int n = tk_store_activity_list_open(tk_ctx_store(ctx),
                                        ctx->now_ms / 1000, acts, OPEN_MAX);

    *out = acts;
    return n;
}

int
tk_data_ticket(struct tk_ctx *ctx, const char *unique_id,
               struct tk_ticket *out)
{
    struct tk_activity *acts;
    char sid[TK_SID_MAX + 1];
    int status, n;
    int rc = tk_store_ticket_get(tk_ctx_store(ctx), unique_id, out);

    if (rc < 0) {
        return rc;
    }
    if (rc == 1) {
        rc = redis_ticket(ctx, out->activity_id, unique_id, &status, sid);
        if (rc == 1 && strcmp(sid, out->student_id) == 0) {
            out->status = status;
        }
        return rc < 0 ? rc : 1;
    }
    n = open_activities(ctx, &acts);
    if (n < 0) {
        return n;
    }
    for (int i = 0; i < n; i++) {
        rc = redis_ticket(ctx, acts[i].id, unique_id, &status, sid);
        if (rc < 0) {
            return rc;
        }
        if (rc == 1) {
            memset(out, 0, sizeof(*out));
            tk_strlcpy(out->unique_id, unique_id, sizeof(out->unique_id));
            out->activity_id = acts[i].id;
            tk_strlcpy(out->student_id, sid, sizeof(out->student_id));
            out->status = status;
            return 1;
        }
    }
    return 0;
}

static bool
list_has_activity(const struct tk_ticket_list *l, int64_t act)
{
    for (size_t i = 0; i < l->n; i++) {
        if (l->items[i].activity_id == act) {
            return true;
        }
    }
    return false;
}

/* The ticket sid holds in act according to Redis (holders), if any. */
static int
redis_holder(struct tk_ctx *ctx, int64_t act, const char *sid,
             struct tk_ticket *t)
{
    char key[TK_KEY_BUF];
    struct tk_redis_reply *reply = NULL;
    int rc;

    tk_key_holders(key, act);
    rc = tk_redis_cmd(tk_ctx_redis(ctx), &reply, "HGET", key, sid, NULL);
    if (rc < 0) {
        goto out;
    }
    rc = 0;
    if (reply->type == TK_REDIS_STRING && reply->len > 0 &&
        reply->len <= TK_TICKET_ID_MAX) {
        memset(t, 0, sizeof(*t));
        tk_strlcpy(t->unique_id, reply->str, sizeof(t->unique_id));
        t->activity_id = act;
        tk_strlcpy(t->student_id, sid, sizeof(t->student_id));
        t->status = TK_TICKET_VALID;
        rc = 1;
    }
out:
    tk_redis_reply_free(reply);
    return rc;
}

int
tk_data_valid_tickets(struct tk_ctx *ctx, const char *sid,
                      struct tk_ticket_list *out)
{
    struct tk_ticket *rows = tk_arena_alloc(ctx->arena,
                                            OPEN_MAX * sizeof(*rows));
    struct tk_activity *acts;
    struct tk_ticket t;
    char owner[TK_SID_MAX + 1];
    int n, rc, status;

    tk_ticket_list_release(out);
    n = tk_store_ticket_list_valid(tk_ctx_store(ctx), sid, rows, OPEN_MAX);
    if (n < 0) {
        return n;
    }
    for (int i = 0; i < n; i++) {
        rc = redis_ticket(ctx, rows[i].activity_id, rows[i].unique_id,
                          &status, owner);
        if (rc < 0) {
            goto fail;
        }
        if (rc == 1) {
            rows[i].status = status;
        }
        if (rows[i].status == TK_TICKET_VALID) {
            tk_ticket_list_add(out, &rows[i]);
        }
    }
    n = open_activities(ctx, &acts);
    if (n < 0) {
        rc = n;
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        if (list_has_activity(out, acts[i].id)) {
            continue;
        }
        rc = redis_holder(ctx, acts[i].id, sid, &t);
        if (rc < 0) {
            goto fail;
        }
        if (rc == 1 &&
            redis_ticket(ctx, acts[i].id, t.unique_id, &status, owner) == 1 &&
            status == TK_TICKET_VALID) {
            tk_ticket_list_add(out, &t);
        }
    }
    return 0;
fail:
    tk_ticket_list_release(out);
    return rc;
}

int
tk_data_load(struct tk_ctx *ctx, const struct tk_activity *a, bool reset)
{
    return tk_redis_load(tk_ctx_redis(ctx), a->id, reset, a->total_tickets,
                         NULL, 0, NULL, NULL);
}

int
tk_data_owned_ticket(struct tk_ctx *ctx, const char *openid,
                     const char *unique_id, struct tk_ticket *t,
                     struct tk_activity *a)
{
    char sid[TK_SID_MAX + 1];
    int rc;

    rc = tk_data_binding(ctx, openid, sid);
    if (rc <= 0 || sid[0] == '\0') {
        return rc < 0 ? rc : 0;
    }
    rc = tk_data_ticket(ctx, unique_id, t);
    if (rc <= 0 || strcmp(t->student_id, sid) != 0) {
        return rc < 0 ? rc : 0;
    }
    return tk_data_activity(ctx, t->activity_id, a);
}
