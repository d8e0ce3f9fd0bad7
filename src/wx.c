/*
 * The /wechat route (wx.h). Round trips to Redis per message, caches warm:
 *   抢票          1 FCALL tk_grab_bound (binding read by the function;
 *                redis.one_trip_grab), when open and not flagged sold out
 *   退票, 抢票     1 pipeline (binding + stored outcome), then 1 FCALL
 *   otherwise
 *   sold out     1 (the worker-local flag answers without the FCALL)
 *   解绑          1 (stored reply), the unbind, then 1 SET NX of the reply
 *   reads        1 (binding; 抢啥 none), then the command's own reads
 *   unknown text / BOOKING_EMPTY / ignored types: 0
 * A retry of 抢票, 退票 or 解绑 that finds its stored outcome or reply is
 * answered from it; the reads (帮助 绑定 抢啥 取票 查票) are answered anew.
 *
 * 查票 reads MariaDB through tk:mytix:SID. A grab or refund does not
 * delete that key: MariaDB changes only when ticket-persistd applies the
 * event, and the persister deletes the key right after applying it (in
 * the pipeline that acknowledges the batch). A delete here would cost the
 * grab a round trip and still let a 查票 arriving before the persister
 * cache the old list again.
 */
#include "wx.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "cache.h"
#include "command.h"
#include "keys.h"
#include "log.h"
#include "redis.h"
#include "sign.h"
#include "store.h"
#include "texts.h"
#include "util.h"
#include "wechat.h"

#define XML_TYPE "text/xml; charset=utf-8"
#define TEXT_TYPE "text/plain; charset=utf-8"

/* The list of activities open for booking changes when admins publish;
 * it is cached for this long at most (admin writes do not invalidate
 * it). */
#define OPEN_TTL_S 10
/* News items of the list (API.md: up to 8 for a click). */
#define OPEN_MAX TK_WX_NEWS_MAX
/* Valid tickets loaded for 查票 (a list page shows them all). */
#define MY_TICKETS_MAX 100
/* China has had no daylight saving time since 1991: Asia/Shanghai is
 * UTC+8 all year, without depending on the host's tzdata or TZ. */
#define SHANGHAI_OFFSET_S (8 * 3600)

/* --- per-process and per-thread state --------------------------------- */

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static int init_state; /* 0 not yet, 1 ready, -1 failed */
static struct tk_wx wx_proc;
static struct tk_cache open_cache;

/* The protocol settings (keys decoded once per process) and the short-TTL
 * cache of the open list; NULL when the wechat section is unusable. */
static const struct tk_wx *
wx_get(const struct tk_conf *conf)
{
    int st = __atomic_load_n(&init_state, __ATOMIC_ACQUIRE);

    if (st == 0) {
        pthread_mutex_lock(&init_lock);
        if (init_state == 0) {
            st = tk_wx_init(&wx_proc, conf) == 0 ? 1 : -1;
            tk_cache_init(&open_cache, conf);
            open_cache.ttl_s = TK_MIN(open_cache.ttl_s, OPEN_TTL_S);
            open_cache.null_ttl_s = TK_MIN(open_cache.null_ttl_s, OPEN_TTL_S);
            __atomic_store_n(&init_state, st, __ATOMIC_RELEASE);
        }
        st = init_state;
        pthread_mutex_unlock(&init_lock);
    }
    return st == 1 ? &wx_proc : NULL;
}

/* Reused from request to request by each thread; never freed (threads
 * live as long as their worker process). */
struct scratch {
    struct tk_buf xml;     /* the plaintext reply */
    struct tk_buf text;    /* a rendered text */
    struct tk_buf link;    /* a link being built */
    struct tk_buf vals[2]; /* prefetched values */
};

static __thread struct scratch scratch;

/* At most one line per second per process for each kind of complaint, so
 * a flood of bad requests cannot flood the log. */
static bool
log_allowed(int64_t *last)
{
    int64_t now = tk_mono_ms();
    int64_t prev = __atomic_load_n(last, __ATOMIC_RELAXED);

    if (prev != 0 && now - prev < 1000) {
        return false;
    }
    return __atomic_compare_exchange_n(last, &prev, now, false,
                                       __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

static int64_t last_refused_log, last_preheat_log, last_error_log;

/* --- one message ------------------------------------------------------ */

struct wxr {
    struct tk_ctx *ctx;
    const struct tk_wx *wx;
    const struct tk_wx_inbound *in;
    const struct tk_wx_msg *msg;
    struct tk_wx_command cmd;
    char msgkey[TK_WX_DEDUPE_KEY_MAX + 1];
    int64_t now;         /* Unix seconds */
    int64_t deadline_ms; /* wall clock */
    struct tk_redis *r;
    struct scratch *s;
    int bound;           /* 1 bound (sid), 0 not */
    char sid[TK_SID_MAX + 1];
    bool cache_reply;    /* store the reply under tk:reply:M */
    const char *outcome; /* for the debug line */
};

static bool
over_deadline(const struct wxr *w)
{
    return tk_now_ms() >= w->deadline_ms;
}

static void
format_time(int64_t t, char out[32])
{
    time_t x = (time_t)(t + SHANGHAI_OFFSET_S);
    struct tm tm;

    if (gmtime_r(&x, &tm) == NULL ||
        strftime(out, 32, "%Y-%m-%d %H:%M", &tm) == 0) {
        out[0] = '\0';
    }
}

/* base_url + path + "?" + the signed query of params, as an arena string;
 * NULL when signing refuses the parameters. */
static const char *
signed_link(struct wxr *w, const char *path,
            const struct tk_sign_param *params, size_t n)
{
    const struct tk_conf *conf = w->ctx->conf;
    char sig[TK_SIG_LEN + 1];
    struct tk_buf *b = &w->s->link;

    if (tk_sign(conf->site.link_secret, params, n, sig) < 0) {
        return NULL;
    }
    tk_buf_reset(b);
    tk_buf_adds(b, conf->site.base_url);
    tk_buf_adds(b, path);
    tk_buf_addc(b, '?');
    for (size_t i = 0; i < n; i++) {
        tk_http_encode(b, params[i].name);
        tk_buf_addc(b, '=');
        tk_http_encode(b, params[i].value);
        tk_buf_addc(b, '&');
    }
    tk_buf_adds(b, "sig=");
    tk_buf_adds(b, sig);
    return tk_arena_strndup(w->ctx->arena, b->data, b->len);
}

static const char *
ticket_link(struct wxr *w, const char *tid)
{
    const struct tk_sign_param p[] = {
        {"openid", w->msg->from_user},
        {"ticket", tid},
    };

    return signed_link(w, "/u/ticket", p, TK_ARRAY_SIZE(p));
}

static const char *
user_link(struct wxr *w, const char *path)
{
    const struct tk_sign_param p[] = {{"openid", w->msg->from_user}};

    return signed_link(w, path, p, TK_ARRAY_SIZE(p));
}

static const char *
site_link(struct wxr *w, const char *path)
{
    return tk_arena_printf(w->ctx->arena, "%s%s", w->ctx->conf->site.base_url,
                           path);
}

/* A text reply of id into the reply buffer. */
static int
say(struct wxr *w, enum tk_text_id id, const char *const *args, size_t nargs)
{
    struct tk_buf *t = &w->s->text;

    tk_buf_reset(t);
    tk_text_render(t, id, args, nargs);
    tk_buf_reset(&w->s->xml);
    return tk_wx_reply_text(&w->s->xml, w->msg, w->now, tk_buf_str(t));
}

#define SAY(w, id) say(w, id, NULL, 0)

static int
news(struct wxr *w, const struct tk_wx_article *items, size_t n)
{
    tk_buf_reset(&w->s->xml);
    return tk_wx_reply_news(&w->s->xml, w->msg, w->now, items, n);
}

/* Renders a text into an arena string (news titles and descriptions). */
static const char *
render(struct wxr *w, enum tk_text_id id, const char *const *args,
       size_t nargs)
{
    struct tk_buf *t = &w->s->text;

    tk_buf_reset(t);
    tk_text_render(t, id, args, nargs);
    return tk_arena_strndup(w->ctx->arena, t->data, t->len);
}

static int
say_bind_first(struct wxr *w)
{
    const char *link = user_link(w, "/u/bind");

    if (link == NULL) {
        return -EINVAL;
    }
    return say(w, TK_TEXT_BIND_FIRST, TK_TEXT_ARGS(link));
}

/* --- lookups ----------------------------------------------------------- */

static int
load_binding(void *p, const char *openid, char sid[TK_SID_MAX + 1])
{
    return tk_store_user_get(tk_ctx_store(p), openid, sid);
}

static int
load_activity(void *p, int64_t id, struct tk_activity *out)
{
    return tk_store_activity_get(tk_ctx_store(p), id, out);
}

static int
load_activity_id(void *p, const char *key, int64_t *id)
{
    struct tk_ctx *ctx = p;
    struct tk_activity *a = tk_arena_alloc(ctx->arena, sizeof(*a));
    int rc = tk_store_activity_get_by_key(tk_ctx_store(ctx), key, a);

    if (rc == 1) {
        *id = a->id;
    }
    return rc;
}

/*
 * The binding, from a prefetched tk:bind value when there was one, else
 * by cache-aside (tk_cache_binding: Redis, then MariaDB). 0 or < 0.
 */
static int
binding_resolve(struct wxr *w, const struct tk_buf *v, int found)
{
    const char *p;
    size_t n;
    int rc;

    if (found) {
        rc = tk_cache_unwrap(v->data, v->len, &p, &n);
        if (rc == 0) {
            w->bound = 0;
            return 0;
        }
        if (rc == 1 && tk_cache_decode_binding(p, n, w->sid) == 0) {
            w->bound = 1;
            return 0;
        }
    }
    if (over_deadline(w)) {
        return -ETIMEDOUT;
    }
    rc = tk_cache_binding(tk_ctx_cache(w->ctx), w->r, w->msg->from_user,
                          load_binding, w->ctx, w->sid);
    if (rc < 0) {
        return rc;
    }
    w->bound = rc;
    return 0;
}

/* An activity by id: worker-local cache, Redis cache-aside, MariaDB.
 * 1 found (any status), 0 unknown, < 0 error. */
static int
activity_by_id(struct wxr *w, int64_t id, struct tk_activity *a)
{
    struct tk_cache_local *l = tk_ctx_local(w->ctx);
    int rc;

    if (tk_cache_local_activity(l, id, a) == 1) {
        return 1;
    }
    if (over_deadline(w)) {
        return -ETIMEDOUT;
    }
    rc = tk_cache_activity(tk_ctx_cache(w->ctx), w->r, id, load_activity,
                           w->ctx, a);
    if (rc == 1) {
        tk_cache_local_put_activity(l, a);
    }
    return rc;
}

/* The activity the command names (key or menu id), as activity_by_id. */
static int
activity_of_command(struct wxr *w, struct tk_activity *a)
{
    int64_t id = 0;
    int rc;

    switch (w->cmd.arg) {
    case TK_WX_CMD_ARG_ID:
        id = w->cmd.activity_id;
        break;
    case TK_WX_CMD_ARG_KEY:
        if (tk_cache_local_activity_id(tk_ctx_local(w->ctx), w->cmd.key,
                                       &id) == 1) {
            break;
        }
        if (over_deadline(w)) {
            return -ETIMEDOUT;
        }
        rc = tk_cache_activity_id(tk_ctx_cache(w->ctx), w->r, w->cmd.key,
                                  load_activity_id, w->ctx, &id);
        if (rc <= 0) {
            return rc;
        }
        break;
    case TK_WX_CMD_ARG_NONE:
    case TK_WX_CMD_ARG_TOO_LONG:
        return 0;
    }
    return activity_by_id(w, id, a);
}

static bool
is_visible(const struct tk_activity *a)
{
    return a->status == TK_ACT_PUBLISHED;
}

/* --- 抢票 and 退票 -------------------------------------------------------- */

static void
log_not_loaded(const struct tk_activity *a)
{
    if (log_allowed(&last_preheat_log)) {
        tk_err("activity %" PRId64 " '%s' is published but not loaded in "
               "redis: run 'ticketctl preheat %" PRId64 "'",
               a->id, a->key, a->id);
    }
}

/* What a grab learnt of the stock, for the worker-local flag. */
static void
sold_out_seen(struct tk_cache_local *l, int64_t id, int64_t remain)
{
    if (remain <= 0) {
        tk_cache_local_set_sold_out(l, id);
    } else {
        tk_cache_local_clear_sold_out(l, id);
    }
}

static int
grab_reply(struct wxr *w, const struct tk_activity *a,
           const struct tk_redis_result *res)
{
    struct tk_cache_local *l = tk_ctx_local(w->ctx);
    const char *link;

    switch (res->outcome) {
    case TK_GRAB_OK:
        w->outcome = "ok";
        sold_out_seen(l, a->id, res->remain);
        link = ticket_link(w, res->ticket_id);
        if (link == NULL) {
            return -EINVAL;
        }
        return say(w, TK_TEXT_BOOK_OK, TK_TEXT_ARGS(a->name, link));
    case TK_GRAB_DUPLICATE:
        w->outcome = "duplicate";
        sold_out_seen(l, a->id, res->remain);
        link = ticket_link(w, res->ticket_id);
        if (link == NULL) {
            return -EINVAL;
        }
        return say(w, TK_TEXT_ALREADY_HAVE, TK_TEXT_ARGS(link));
    case TK_GRAB_SOLD_OUT:
        w->outcome = "sold_out";
        tk_cache_local_set_sold_out(l, a->id);
        return SAY(w, TK_TEXT_SOLD_OUT);
    default:
        w->outcome = "not_loaded";
        log_not_loaded(a);
        return -ENOENT;
    }
}

static int
refund_reply(struct wxr *w, const struct tk_activity *a,
             const struct tk_redis_result *res)
{
    switch (res->outcome) {
    case TK_REFUND_OK:
        w->outcome = "ok";
        tk_cache_local_clear_sold_out(tk_ctx_local(w->ctx), a->id);
        return SAY(w, TK_TEXT_REFUND_OK);
    case TK_REFUND_NO_TICKET:
        w->outcome = "no_ticket";
        return SAY(w, TK_TEXT_NO_TICKET);
    case TK_REFUND_USED:
        w->outcome = "used";
        return SAY(w, TK_TEXT_TICKET_USED);
    default:
        w->outcome = "not_loaded";
        log_not_loaded(a);
        return -ENOENT;
    }
}

/*
 * Whether a 抢票 for a (found) may go by tk_grab_bound: the activity is
 * visible and open and no sold-out flag is up, so that whatever the
 * function answers (a stored outcome included) is what the two-trip path
 * would answer too.
 */
static bool
one_trip(const struct wxr *w, const struct tk_activity *a)
{
    return w->ctx->conf->redis.one_trip_grab && w->msgkey[0] != '\0' &&
           w->cmd.arg != TK_WX_CMD_ARG_NONE && is_visible(a) &&
           w->now >= a->book_start && w->now < a->book_end &&
           !tk_cache_local_sold_out_flagged(tk_ctx_local(w->ctx), a->id);
}

/*
 * 抢票 in one round trip: tk_grab_bound reads the binding and then this
 * message's stored outcome itself. 1 answered, 0 the binding is not in
 * Redis (nothing was done: resolve it and grab as usual), < 0 error.
 */
static int
grab_one_trip(struct wxr *w, const struct tk_activity *a)
{
    struct tk_redis_result res;
    int rc;

    if (over_deadline(w)) {
        return -ETIMEDOUT;
    }
    rc = tk_redis_grab_bound(w->r, a->id, w->msg->from_user, w->msgkey,
                             w->ctx->conf->wechat.dedupe_ttl_s, &res);
    if (rc < 0) {
        return rc;
    }
    switch (res.outcome) {
    case TK_GRAB_NOT_CACHED:
        return 0;
    case TK_GRAB_UNBOUND:
        w->bound = 0;
        w->outcome = "unbound";
        rc = say_bind_first(w);
        break;
    default:
        w->bound = 1;
        memcpy(w->sid, res.student_id, sizeof(w->sid));
        rc = grab_reply(w, a, &res);
        break;
    }
    return rc < 0 ? rc : 1;
}

/*
 * 抢票 and 退票. The activity comes first (worker-local, usually no I/O).
 * An open grab then goes by grab_one_trip (when that finds no cached
 * binding: cache-aside, then tk_grab). Otherwise one pipeline fetches the
 * binding and this message's stored outcome. A stored outcome means a
 * retry: the window checks and the sold-out flag are skipped (they might
 * have changed since) and the FCALL returns the stored outcome and ticket
 * id without acting.
 */
static int
cmd_order(struct wxr *w, bool grab)
{
    struct tk_activity *a = tk_arena_alloc(w->ctx->arena, sizeof(*a));
    char kb[2][TK_KEY_BUF];
    const char *keys[2] = {kb[0], kb[1]};
    int found[2] = {0, 0};
    struct tk_redis_result res;
    int act = 0, rc;
    bool retry, one = false; /* grab_one_trip ran: one_trip() held */

    act = activity_of_command(w, a);
    if (act < 0) {
        return act;
    }
    if (grab && act == 1 && one_trip(w, a)) {
        rc = grab_one_trip(w, a);
        if (rc != 0) {
            return rc < 0 ? rc : 0;
        }
        /* The binding is not in Redis: resolved below (found[0] is 0),
         * then tk_grab looks for the stored outcome. */
        one = true;
    }
    if (!one) {
        tk_key_binding(kb[0], w->msg->from_user);
        if (act == 1 && is_visible(a)) {
            tk_key_dedupe(kb[1], a->id, w->msgkey);
        }
        if (over_deadline(w)) {
            return -ETIMEDOUT;
        }
        rc = tk_redis_mget(w->r, keys, act == 1 && is_visible(a) ? 2 : 1,
                           w->s->vals, found);
        if (rc < 0) {
            return rc;
        }
    }
    rc = binding_resolve(w, &w->s->vals[0], found[0]);
    if (rc < 0) {
        return rc;
    }
    if (!w->bound) {
        w->outcome = "unbound";
        return say_bind_first(w);
    }
    if (w->cmd.arg == TK_WX_CMD_ARG_NONE) {
        w->outcome = "no_key";
        return SAY(w, TK_TEXT_NEED_KEY);
    }
    if (act == 0 || !is_visible(a)) {
        w->outcome = "no_activity";
        return SAY(w, TK_TEXT_NO_ACTIVITY);
    }
    retry = found[1] != 0;
    if (grab && !retry && !one) {
        if (w->now < a->book_start) {
            char when[32];

            w->outcome = "not_started";
            format_time(a->book_start, when);
            return say(w, TK_TEXT_NOT_STARTED, TK_TEXT_ARGS(when));
        }
        if (w->now >= a->book_end) {
            w->outcome = "ended";
            return SAY(w, TK_TEXT_ENDED);
        }
        if (tk_cache_local_answer_sold_out(tk_ctx_local(w->ctx), a->id)) {
            w->outcome = "sold_out_local";
            return SAY(w, TK_TEXT_SOLD_OUT);
        }
    }
    if (!grab && !retry && w->now >= a->start_time) {
        w->outcome = "started";
        return SAY(w, TK_TEXT_REFUND_STARTED);
    }
    if (over_deadline(w)) {
        return -ETIMEDOUT;
    }
    if (grab) {
        rc = tk_redis_grab(w->r, a->id, w->sid, w->msgkey,
                           w->ctx->conf->wechat.dedupe_ttl_s, &res);
        return rc < 0 ? rc : grab_reply(w, a, &res);
    }
    rc = tk_redis_refund(w->r, a->id, w->sid, w->msgkey,
                         w->ctx->conf->wechat.dedupe_ttl_s, &res);
    return rc < 0 ? rc : refund_reply(w, a, &res);
}

/* --- the other commands ------------------------------------------------ */

static int
cmd_help(struct wxr *w)
{
    struct tk_wx_article item = {
        .title = tk_text(TK_TEXT_HELP_TITLE),
        .description = tk_text(w->bound ? TK_TEXT_HELP_DESC
                                        : TK_TEXT_HELP_DESC_UNBOUND),
        .url = site_link(w, "/u/help"),
    };

    return news(w, &item, 1);
}

static int
cmd_bind(struct wxr *w)
{
    if (w->bound) {
        return say(w, TK_TEXT_ALREADY_BOUND, TK_TEXT_ARGS(w->sid));
    }
    return say_bind_first(w);
}

/* 解绑 and unsubscribe: MariaDB first, then the cached binding. */
static int
cmd_unbind(struct wxr *w)
{
    int rc;

    if (over_deadline(w)) {
        return -ETIMEDOUT;
    }
    rc = tk_store_user_unbind(tk_ctx_store(w->ctx), w->msg->from_user);
    if (rc < 0) {
        return rc;
    }
    rc = tk_cache_invalidate_binding(w->r, w->msg->from_user);
    if (rc < 0) {
        return rc;
    }
    return SAY(w, TK_TEXT_UNBOUND);
}

/* The open list's cached payload: "O1" then one netstring per activity
 * holding tk_cache_encode_activity() of it without its description. */
static int
load_open(void *p, struct tk_buf *value)
{
    struct tk_ctx *ctx = p;
    struct tk_activity *acts =
        tk_arena_alloc(ctx->arena, OPEN_MAX * sizeof(*acts));
    struct tk_buf one = TK_BUF_INIT;
    int n = tk_store_activity_list_open(tk_ctx_store(ctx), tk_now(), acts,
                                        OPEN_MAX);

    if (n <= 0) {
        return n;
    }
    tk_buf_adds(value, "O1");
    for (int i = 0; i < n; i++) {
        acts[i].description[0] = '\0';
        tk_buf_reset(&one);
        tk_cache_encode_activity(&one, &acts[i]);
        tk_buf_printf(value, "%zu:", one.len);
        tk_buf_add(value, one.data, one.len);
        tk_buf_addc(value, ',');
    }
    tk_buf_release(&one);
    return 1;
}

/* Decodes up to max activities of a load_open payload; the count or
 * -EINVAL. */
static int
decode_open(const char *p, size_t n, struct tk_activity *out, size_t max)
{
    size_t i = 2, count = 0;

    if (n < 2 || memcmp(p, "O1", 2) != 0) {
        return -EINVAL;
    }
    while (i < n && count < max) {
        size_t len = 0;

        while (i < n && p[i] >= '0' && p[i] <= '9' && len < n) {
            len = len * 10 + (size_t)(p[i++] - '0');
        }
        if (i >= n || p[i] != ':' || len > n - i - 1 ||
            i + 1 + len >= n || p[i + 1 + len] != ',') {
            return -EINVAL;
        }
        if (tk_cache_decode_activity(p + i + 1, len, &out[count]) < 0) {
            return -EINVAL;
        }
        count++;
        i += len + 2;
    }
    return (int)count;
}

static int
cmd_book_what(struct wxr *w)
{
    struct tk_activity *acts =
        tk_arena_alloc(w->ctx->arena, OPEN_MAX * sizeof(*acts));
    struct tk_wx_article items[OPEN_MAX];
    struct tk_buf *v = &w->s->vals[1];
    char key[TK_KEY_BUF];
    size_t max = w->cmd.source == TK_WX_CMD_FROM_TEXT ? 1 : OPEN_MAX;
    size_t k = 0;
    int n, rc;

    if (over_deadline(w)) {
        return -ETIMEDOUT;
    }
    tk_key_act_open(key);
    rc = tk_cache_get(&open_cache, w->r, key, load_open, w->ctx, v);
    if (rc < 0) {
        return rc;
    }
    n = rc == 0 ? 0 : decode_open(v->data, v->len, acts, OPEN_MAX);
    if (n < 0) {
        tk_err("corrupt open list in '%s'", key);
        return n;
    }
    for (int i = 0; i < n && k < max; i++) {
        char from[32], to[32];

        /* The list may be a few seconds old. */
        if (acts[i].book_end <= w->now) {
            continue;
        }
        format_time(acts[i].book_start, from);
        format_time(acts[i].book_end, to);
        items[k].title = acts[i].name;
        items[k].description =
            render(w, TK_TEXT_BOOK_WHAT_DESC, TK_TEXT_ARGS(from, to));
        items[k].pic_url = acts[i].pic_url;
        items[k].url = tk_arena_printf(w->ctx->arena,
                                       "%s/u/activity?id=%" PRId64,
                                       w->ctx->conf->site.base_url,
                                       acts[i].id);
        k++;
    }
    if (k == 0) {
        return SAY(w, TK_TEXT_NOTHING_OPEN);
    }
    return news(w, items, k);
}

/* One news article for ticket t of activity a. */
static int
ticket_article(struct wxr *w, const struct tk_activity *a, const char *tid,
               struct tk_wx_article *item)
{
    char when[32];

    format_time(a->start_time, when);
    item->title = render(w, TK_TEXT_TICKET_TITLE, TK_TEXT_ARGS(a->name));
    item->description =
        render(w, TK_TEXT_TICKET_DESC, TK_TEXT_ARGS(a->place, when));
    item->pic_url = a->pic_url;
    item->url = ticket_link(w, tid);
    return item->url == NULL ? -EINVAL : 0;
}

/* 取票 KEY: the holder hash in Redis is authoritative during a sale. */
static int
cmd_take(struct wxr *w)
{
    struct tk_activity *a = tk_arena_alloc(w->ctx->arena, sizeof(*a));
    struct tk_redis_reply *reply = NULL;
    struct tk_wx_article item;
    char key[TK_KEY_BUF];
    int act, rc;

    if (!w->bound) {
        return say_bind_first(w);
    }
    if (w->cmd.arg == TK_WX_CMD_ARG_NONE) {
        return SAY(w, TK_TEXT_NEED_KEY);
    }
    act = activity_of_command(w, a);
    if (act < 0) {
        return act;
    }
    if (act == 0 || !is_visible(a)) {
        return SAY(w, TK_TEXT_NO_ACTIVITY);
    }
    if (over_deadline(w)) {
        return -ETIMEDOUT;
    }
    tk_key_holders(key, a->id);
    rc = tk_redis_cmd(w->r, &reply, "HGET", key, w->sid, NULL);
    if (rc < 0) {
        return rc;
    }
    if (reply->type == TK_REDIS_NIL) {
        rc = SAY(w, TK_TEXT_NO_TICKET);
    } else if (reply->type == TK_REDIS_STRING &&
               reply->len <= TK_TICKET_ID_MAX) {
        rc = ticket_article(w, a, reply->str, &item);
        if (rc == 0) {
            rc = news(w, &item, 1);
        }
    } else {
        tk_err("unexpected reply to HGET '%s'", key);
        rc = -EPROTO;
    }
    tk_redis_reply_free(reply);
    return rc;
}

static int
load_my_tickets(void *p, const char *sid, struct tk_ticket_list *out)
{
    struct tk_ctx *ctx = p;
    struct tk_ticket *t =
        tk_arena_alloc(ctx->arena, MY_TICKETS_MAX * sizeof(*t));
    int n = tk_store_ticket_list_valid(tk_ctx_store(ctx), sid, t,
                                       MY_TICKETS_MAX);

    for (int i = 0; i < n; i++) {
        tk_ticket_list_add(out, &t[i]);
    }
    return n < 0 ? n : n > 0;
}

/* 查票: a text gets one article linking to the list page; a click gets
 * the tickets themselves (the last article links to the list when they
 * do not fit). */
static int
cmd_tickets(struct wxr *w)
{
    struct tk_ticket_list list = {NULL, 0};
    struct tk_wx_article items[TK_WX_NEWS_MAX];
    size_t k = 0;
    bool as_list;
    int rc;

    if (!w->bound) {
        return say_bind_first(w);
    }
    if (over_deadline(w)) {
        return -ETIMEDOUT;
    }
    rc = tk_cache_my_tickets(tk_ctx_cache(w->ctx), w->r, w->sid,
                             load_my_tickets, w->ctx, &list);
    if (rc < 0) {
        goto out;
    }
    if (list.n == 0) {
        rc = SAY(w, TK_TEXT_NO_TICKETS);
        goto out;
    }
    as_list = w->cmd.source == TK_WX_CMD_FROM_TEXT ||
              list.n > TK_WX_NEWS_MAX;
    for (size_t i = 0; w->cmd.source != TK_WX_CMD_FROM_TEXT &&
                       i < list.n && k + as_list < TK_WX_NEWS_MAX;
         i++) {
        struct tk_activity *a = tk_arena_alloc(w->ctx->arena, sizeof(*a));

        rc = activity_by_id(w, list.items[i].activity_id, a);
        if (rc < 0) {
            goto out;
        }
        if (rc == 0) {
            continue;
        }
        rc = ticket_article(w, a, list.items[i].unique_id, &items[k]);
        if (rc < 0) {
            goto out;
        }
        k++;
    }
    if (as_list) {
        char count[24];

        snprintf(count, sizeof(count), "%zu", list.n);
        items[k].title = tk_text(TK_TEXT_TICKETS_TITLE);
        items[k].description =
            render(w, TK_TEXT_TICKETS_DESC, TK_TEXT_ARGS(count));
        items[k].pic_url = NULL;
        items[k].url = user_link(w, "/u/tickets");
        if (items[k].url == NULL) {
            rc = -EINVAL;
            goto out;
        }
        k++;
    }
    rc = news(w, items, k);
out:
    tk_ticket_list_release(&list);
    return rc;
}

/*
 * 帮助, 绑定, 抢啥, 取票 and 查票 only read: a retry computes its reply
 * again (the same one unless the data changed in between, and then the
 * newer one is the truth) instead of the first reply being stored for
 * it. Storing it was a Redis write, so an AOF fsync, for every read.
 */
static int
cmd_read(struct wxr *w)
{
    char kb[TK_KEY_BUF];
    const char *keys[1] = {kb};
    int found = 0;
    int rc;

    if (w->cmd.cmd != TK_WX_CMD_BOOK_WHAT) {
        tk_key_binding(kb, w->msg->from_user);
        if (over_deadline(w)) {
            return -ETIMEDOUT;
        }
        rc = tk_redis_mget(w->r, keys, 1, w->s->vals, &found);
        if (rc < 0) {
            return rc;
        }
        rc = binding_resolve(w, &w->s->vals[0], found);
        if (rc < 0) {
            return rc;
        }
    }
    switch (w->cmd.cmd) {
    case TK_WX_CMD_HELP:
        return cmd_help(w);
    case TK_WX_CMD_BIND:
        return cmd_bind(w);
    case TK_WX_CMD_BOOK_WHAT:
        return cmd_book_what(w);
    case TK_WX_CMD_TAKE:
        return cmd_take(w);
    default:
        return cmd_tickets(w);
    }
}

/*
 * 解绑 and unsubscribe act, so their reply is stored under tk:reply:M and
 * a retry gets it instead of acting again. A stored reply is used only if
 * it was addressed to this user (in plaintext mode anyone holding one
 * signed URL can post any MsgId).
 */
static int
cmd_stored(struct wxr *w)
{
    char kb[TK_KEY_BUF];
    const char *keys[1] = {kb};
    int found = 0;
    struct tk_buf *v = w->s->vals;
    int rc;

    tk_key_reply(kb, w->msgkey);
    if (over_deadline(w)) {
        return -ETIMEDOUT;
    }
    rc = tk_redis_mget(w->r, keys, 1, v, &found);
    if (rc < 0) {
        return rc;
    }
    if (found) {
        struct tk_buf *head = &w->s->link;

        tk_buf_reset(head);
        tk_buf_printf(head, "<xml><ToUserName><![CDATA[%s]]></ToUserName>",
                      w->msg->from_user);
        if (v[0].len <= TK_WX_REPLY_MAX && v[0].len >= head->len &&
            memcmp(v[0].data, head->data, head->len) == 0) {
            w->outcome = "stored";
            tk_buf_reset(&w->s->xml);
            tk_buf_add(&w->s->xml, v[0].data, v[0].len);
            return 0;
        }
    }
    w->cache_reply = true;
    return cmd_unbind(w);
}

static void
store_reply(struct wxr *w)
{
    char key[TK_KEY_BUF], ttl[16];
    struct tk_redis_reply *reply = NULL;

    tk_key_reply(key, w->msgkey);
    snprintf(ttl, sizeof(ttl), "%d", w->ctx->conf->wechat.dedupe_ttl_s);
    /* NX: a concurrent retry that got here first keeps its reply. */
    if (tk_redis_cmd(w->r, &reply, "SET", key, tk_buf_str(&w->s->xml), "NX",
                     "EX", ttl, NULL) == 0) {
        tk_redis_reply_free(reply);
    }
}

static int
run(struct wxr *w)
{
    switch (w->cmd.cmd) {
    case TK_WX_CMD_UNKNOWN:
        /* A pure function of the message: a retry gets the same. */
        return SAY(w, TK_TEXT_UNKNOWN);
    case TK_WX_CMD_BOOKING_EMPTY:
        return SAY(w, TK_TEXT_NOTHING_OPEN);
    case TK_WX_CMD_BOOK:
        return cmd_order(w, true);
    case TK_WX_CMD_REFUND:
        return cmd_order(w, false);
    case TK_WX_CMD_UNBIND:
    case TK_WX_CMD_UNSUBSCRIBE:
        return cmd_stored(w);
    case TK_WX_CMD_HELP:
    case TK_WX_CMD_BIND:
    case TK_WX_CMD_BOOK_WHAT:
    case TK_WX_CMD_TAKE:
    case TK_WX_CMD_TICKETS:
        return cmd_read(w);
    default:
        return SAY(w, TK_TEXT_UNKNOWN);
    }
}

/* --- the route --------------------------------------------------------- */

static void
query_of(const struct tk_req *req, struct tk_wx_query *q)
{
    q->signature = tk_req_param(req, "signature");
    q->timestamp = tk_req_param(req, "timestamp");
    q->nonce = tk_req_param(req, "nonce");
    q->echostr = tk_req_param(req, "echostr");
    q->encrypt_type = tk_req_param(req, "encrypt_type");
    q->msg_signature = tk_req_param(req, "msg_signature");
}

static void
refuse(const struct tk_req *req, struct tk_resp *resp, enum tk_wx_status st)
{
    if (log_allowed(&last_refused_log)) {
        tk_warn("wechat request refused: %s (from %s)", tk_wx_status_name(st),
                req->remote_addr);
    }
    tk_resp_error(resp, tk_wx_status_http(st));
}

static void
answer_success(struct tk_resp *resp)
{
    tk_resp_text(resp, 200, TEXT_TYPE, TK_WX_SUCCESS);
}

/* Seals the plaintext reply in xml into the response body. */
static int
answer(const struct tk_wx *wx, const struct tk_wx_inbound *in,
       const struct tk_buf *xml, int64_t now, struct tk_resp *resp)
{
    int rc;

    tk_buf_reset(&resp->body);
    rc = tk_wx_reply_seal(wx, in, xml->data, xml->len, now, NULL,
                          &resp->body);
    if (rc < 0) {
        tk_err("cannot seal a reply of %zu bytes: %s", xml->len,
               strerror(-rc));
        return rc;
    }
    resp->status = 200;
    resp->content_type = XML_TYPE;
    return 0;
}

/* The busy text for msg into xml. */
static int
busy_xml(const struct tk_wx_msg *msg, int64_t now, struct tk_buf *xml)
{
    tk_buf_reset(xml);
    return tk_wx_reply_text(xml, msg, now, tk_text(TK_TEXT_BUSY));
}

static int
handle_get(const struct tk_wx *wx, struct tk_req *req, struct tk_resp *resp)
{
    struct tk_wx_query q;
    enum tk_wx_status st;

    query_of(req, &q);
    st = tk_wx_verify_get(wx, &q, tk_now());
    if (st != TK_WX_OK) {
        refuse(req, resp, st);
        return 0;
    }
    tk_resp_text(resp, 200, "text/plain", q.echostr);
    return 0;
}

int
tk_wx_handle(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    const struct tk_wx *wx = wx_get(ctx->conf);
    struct tk_wx_inbound *in;
    struct tk_wx_query q;
    enum tk_wx_status st;
    struct wxr w;
    uint64_t rt0;
    int rc;

    if (wx == NULL) {
        return -EINVAL; /* logged by tk_wx_init */
    }
    if (req->method != TK_M_POST) {
        return handle_get(wx, req, resp);
    }
    in = tk_arena_alloc(ctx->arena, sizeof(*in));
    query_of(req, &q);
    st = tk_wx_verify_post(wx, &q, req->body != NULL ? req->body : "",
                           req->body_len, tk_now(), ctx->arena, in);
    if (st != TK_WX_OK) {
        refuse(req, resp, st);
        return 0;
    }
    memset(&w, 0, sizeof(w));
    w.ctx = ctx;
    w.wx = wx;
    w.in = in;
    w.msg = &in->msg;
    w.s = &scratch;
    w.now = tk_now();
    w.deadline_ms = (req->start_ms > 0 ? req->start_ms : ctx->now_ms) +
                    ctx->conf->wechat.deadline_ms;
    w.outcome = "replied";
    tk_wx_cmd_parse(w.msg, &w.cmd);
    if (w.cmd.cmd == TK_WX_CMD_IGNORE || w.msg->from_user[0] == '\0') {
        answer_success(resp);
        return 0;
    }
    tk_wx_dedupe_key(w.msg, w.msgkey);
    rt0 = ctx->redis != NULL ? tk_redis_round_trips(ctx->redis) : 0;
    w.r = tk_ctx_redis(ctx);
    rc = run(&w);
    if (rc < 0) {
        /* Whatever failed was logged where it failed (a timeout is the
         * deadline): the student gets the busy text, never a 5xx, and a
         * retry tries again. */
        w.outcome = rc == -ETIMEDOUT ? "deadline" : "error";
        w.cache_reply = false;
        if (busy_xml(w.msg, w.now, &w.s->xml) < 0) {
            return -EINVAL;
        }
    }
    if (w.cache_reply) {
        store_reply(&w);
    }
    tk_debug("wechat %s: %s, %" PRIu64 " redis round trips",
             tk_wx_cmd_name(w.cmd.cmd), w.outcome,
             tk_redis_round_trips(w.r) - rt0);
    if (answer(wx, in, &w.s->xml, w.now, resp) < 0) {
        if (log_allowed(&last_error_log)) {
            tk_err("wechat reply to '%s' could not be sealed", w.msgkey);
        }
        answer_success(resp);
    }
    return 0;
}

void
tk_wx_busy(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    const struct tk_wx *wx = wx_get(ctx->conf);
    struct tk_wx_inbound *in;
    struct tk_wx_command cmd;
    struct tk_wx_query q;
    enum tk_wx_status st;
    int64_t now = tk_now();

    if (wx == NULL || req->method != TK_M_POST ||
        tk_req_parse_query(req) < 0) {
        answer_success(resp);
        return;
    }
    in = tk_arena_alloc(ctx->arena, sizeof(*in));
    query_of(req, &q);
    st = tk_wx_verify_post(wx, &q, req->body != NULL ? req->body : "",
                           req->body_len, now, ctx->arena, in);
    if (st != TK_WX_OK) {
        refuse(req, resp, st);
        return;
    }
    tk_wx_cmd_parse(&in->msg, &cmd);
    if (cmd.cmd == TK_WX_CMD_IGNORE || in->msg.from_user[0] == '\0' ||
        busy_xml(&in->msg, now, &scratch.xml) < 0 ||
        answer(wx, in, &scratch.xml, now, resp) < 0) {
        answer_success(resp);
    }
}
