#include "cache.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "crypto.h"
#include "keys.h"
#include "log.h"
#include "redis.h"
#include "util.h"

#define PAUSE_MAX_MS 20 /* longest pause between polls of a waiter */

void
tk_cache_init(struct tk_cache *c, const struct tk_conf *conf)
{
    memset(c, 0, sizeof(*c));
    c->ttl_s = conf->cache.ttl_s;
    c->null_ttl_s = conf->cache.null_ttl_s;
    c->lock_ttl_ms = conf->cache.lock_ttl_ms;
    c->lock_wait_ms = conf->cache.lock_wait_ms;
    atomic_init(&c->hits, 0);
    atomic_init(&c->misses, 0);
    atomic_init(&c->loads, 0);
    atomic_init(&c->fallbacks, 0);
    atomic_init(&c->corrupt, 0);
}

/* A cheap per-thread generator for jitter; not for secrets. */
static uint64_t
jitter_rand(void)
{
    static _Thread_local uint64_t s;

    if (s == 0) {
        tk_random_bytes(&s, sizeof(s));
        s |= 1;
    }
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}

/* The TTL of a stored value: ttl_s plus up to 10% jitter. */
static int64_t
value_ttl_ms(const struct tk_cache *c)
{
    int64_t base = (int64_t)c->ttl_s * 1000;

    return base + (int64_t)(jitter_rand() % (uint64_t)(base / 10 + 1));
}

static void
sleep_ms(int64_t ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int
tk_cache_unwrap(const char *data, size_t len, const char **payload,
                size_t *plen)
{
    if (len == 1 && data[0] == 'n') {
        return 0;
    }
    if (len >= 1 && data[0] == 'v') {
        *payload = data + 1;
        *plen = len - 1;
        return 1;
    }
    return -EINVAL;
}

/* 1 value, 0 null marker, -ENOENT miss (or corrupt), < 0 error. */
static int
read_cached(struct tk_cache *c, struct tk_redis *r, const char *key,
            struct tk_buf *raw, struct tk_buf *value)
{
    const char *p;
    size_t n;
    int rc = tk_redis_get(r, key, raw);

    if (rc <= 0) {
        return rc < 0 ? rc : -ENOENT;
    }
    rc = tk_cache_unwrap(raw->data, raw->len, &p, &n);
    if (rc < 0) {
        atomic_fetch_add(&c->corrupt, 1);
        tk_warn("corrupt cached value '%s'; reloading", key);
        return -ENOENT;
    }
    atomic_fetch_add(&c->hits, 1);
    tk_buf_reset(value);
    if (rc == 1) {
        tk_buf_add(value, p, n);
    }
    return rc;
}

/* Stores a loaded value ("v" + payload) or the null marker. */
static void
store(struct tk_cache *c, struct tk_redis *r, const char *key, int found,
      const struct tk_buf *value, struct tk_buf *raw)
{
    int64_t ttl_ms;

    tk_buf_reset(raw);
    if (found) {
        ttl_ms = value_ttl_ms(c);
        tk_buf_addc(raw, 'v');
        tk_buf_add(raw, value->data, value->len);
    } else {
        ttl_ms = (int64_t)c->null_ttl_s * 1000;
        tk_buf_addc(raw, 'n');
    }
    /* A failure is logged by the redis layer; the value is still good. */
    (void)tk_redis_set(r, key, raw->data, raw->len, ttl_ms);
}

/* The lock is ours: check again (the previous holder may have just
 * stored it), else load, store and unlock. */
static int
fill(struct tk_cache *c, struct tk_redis *r, const char *key,
     const char *lock, const char *token,
     int (*load)(void *ctx, struct tk_buf *value), void *ctx,
     struct tk_buf *raw, struct tk_buf *value)
{
    int rc = read_cached(c, r, key, raw, value);

    if (rc == -ENOENT) {
        atomic_fetch_add(&c->loads, 1);
        tk_buf_reset(value);
        rc = load(ctx, value);
        if (rc >= 0) {
            rc = rc > 0;
            store(c, r, key, rc, value, raw);
        }
    }
    (void)tk_redis_unlock(r, lock, token);
    return rc;
}

int
tk_cache_get(struct tk_cache *c, struct tk_redis *r, const char *key,
             int (*load)(void *ctx, struct tk_buf *value), void *ctx,
             struct tk_buf *value)
{
    struct tk_buf raw = TK_BUF_INIT;
    char lock[TK_KEY_BUF];
    char token[TK_REDIS_TOKEN_LEN + 1];
    int64_t deadline, pause = 1;
    int rc = read_cached(c, r, key, &raw, value);

    if (rc != -ENOENT) {
        goto out;
    }
    atomic_fetch_add(&c->misses, 1);
    tk_key_lock(lock, key);
    deadline = tk_mono_ms() + c->lock_wait_ms;
    for (;;) {
        rc = tk_redis_lock(r, lock, c->lock_ttl_ms, token);
        if (rc < 0) {
            goto out;
        }
        if (rc == 1) {
            rc = fill(c, r, key, lock, token, load, ctx, &raw, value);
            goto out;
        }
        if (tk_mono_ms() >= deadline) {
            break;
        }
        sleep_ms(pause / 2 + 1 + (int64_t)(jitter_rand() % (uint64_t)pause));
        pause = TK_MIN(pause * 2, PAUSE_MAX_MS);
        rc = read_cached(c, r, key, &raw, value);
        if (rc != -ENOENT) {
            goto out;
        }
    }
    /* Bounded wait over: one direct load, not stored (the lock holder's
     * value may be newer). */
    atomic_fetch_add(&c->fallbacks, 1);
    atomic_fetch_add(&c->loads, 1);
    tk_buf_reset(value);
    rc = load(ctx, value);
    if (rc > 0) {
        rc = 1;
    }

out:
    tk_buf_release(&raw);
    return rc;
}

int
tk_cache_invalidate(struct tk_redis *r, const char *key)
{
    int rc = tk_redis_del(r, key);

    return rc < 0 ? rc : 0;
}

int
tk_cache_invalidate_activity(struct tk_redis *r, int64_t id, const char *key)
{
    char k[TK_KEY_BUF];
    int rc;

    tk_key_act_by_id(k, id);
    rc = tk_cache_invalidate(r, k);
    if (rc == 0 && key != NULL && key[0] != '\0') {
        tk_key_act_by_key(k, key);
        rc = tk_cache_invalidate(r, k);
    }
    return rc;
}

int
tk_cache_invalidate_binding(struct tk_redis *r, const char *openid)
{
    char k[TK_KEY_BUF];

    tk_key_binding(k, openid);
    return tk_cache_invalidate(r, k);
}

int
tk_cache_invalidate_my_tickets(struct tk_redis *r, const char *sid)
{
    char k[TK_KEY_BUF];

    tk_key_my_tickets(k, sid);
    return tk_cache_invalidate(r, k);
}

int
tk_cache_put_activity(struct tk_cache *c, struct tk_redis *r,
                      const struct tk_activity *a)
{
    struct tk_buf v = TK_BUF_INIT;
    char k[TK_KEY_BUF];
    int rc;

    tk_buf_addc(&v, 'v');
    tk_cache_encode_activity(&v, a);
    tk_key_act_by_id(k, a->id);
    rc = tk_redis_set(r, k, v.data, v.len, value_ttl_ms(c));
    if (rc == 0) {
        tk_buf_reset(&v);
        tk_buf_addc(&v, 'v');
        tk_cache_encode_activity_id(&v, a->id);
        tk_key_act_by_key(k, a->key);
        rc = tk_redis_set(r, k, v.data, v.len, value_ttl_ms(c));
    }
    tk_buf_release(&v);
    return rc;
}

int
tk_cache_put_bindings(struct tk_cache *c, struct tk_redis *r,
                      const char *const *openids, const char *const *sids,
                      size_t n, int64_t min_ttl_ms)
{
    struct tk_redis_command *cmds = tk_xcalloc(n, sizeof(*cmds));
    struct tk_redis_reply **replies = tk_xcalloc(n, sizeof(*replies));
    const char **argv = tk_xcalloc(5 * n, sizeof(*argv));
    size_t *argvlen = tk_xcalloc(5 * n, sizeof(*argvlen));
    char (*keys)[TK_KEY_BUF] = tk_xcalloc(n, sizeof(*keys));
    char (*ttls)[24] = tk_xcalloc(n, sizeof(*ttls));
    struct tk_buf *vals = tk_xcalloc(n, sizeof(*vals));
    int rc;

    for (size_t i = 0; i < n; i++) {
        const char **a = &argv[5 * i];
        size_t *al = &argvlen[5 * i];
        int64_t ttl;

        tk_buf_addc(&vals[i], 'v');
        tk_cache_encode_binding(&vals[i], sids[i]);
        al[1] = tk_key_binding(keys[i], openids[i]);
        ttl = value_ttl_ms(c);
        if (ttl < min_ttl_ms) {
            ttl = min_ttl_ms;
        }
        al[4] = (size_t)snprintf(ttls[i], sizeof(ttls[i]), "%" PRId64, ttl);
        a[0] = "SET";
        al[0] = 3;
        a[1] = keys[i];
        a[2] = vals[i].data;
        al[2] = vals[i].len;
        a[3] = "PX";
        al[3] = 2;
        a[4] = ttls[i];
        cmds[i].argc = 5;
        cmds[i].argv = a;
        cmds[i].argvlen = al;
    }
    rc = tk_redis_pipeline(r, cmds, n, replies);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && replies[i]->type == TK_REDIS_ERROR) {
            tk_err("cannot cache binding '%s': %s", openids[i],
                   replies[i]->str);
            rc = -EPROTO;
        }
        tk_redis_reply_free(replies[i]);
        tk_buf_release(&vals[i]);
    }
    free(vals);
    free(ttls);
    free(keys);
    free(argvlen);
    free(argv);
    free(replies);
    free(cmds);
    return rc;
}

/* --- encodings ----------------------------------------------------------- */

static void
put_str(struct tk_buf *b, const char *s, size_t n)
{
    tk_buf_printf(b, "%zu:", n);
    tk_buf_add(b, s, n);
    tk_buf_addc(b, ',');
}

static void
put_cstr(struct tk_buf *b, const char *s)
{
    put_str(b, s, strlen(s));
}

static void
put_i64(struct tk_buf *b, int64_t v)
{
    char t[24];

    put_str(b, t, (size_t)snprintf(t, sizeof(t), "%" PRId64, v));
}

struct reader {
    const char *p;
    size_t n;
};

/* The next netstring's bytes. */
static int
get_field(struct reader *rd, const char **s, size_t *len)
{
    size_t i = 0, v = 0;

    while (i < rd->n && i < 6 && rd->p[i] >= '0' && rd->p[i] <= '9') {
        v = v * 10 + (size_t)(rd->p[i] - '0');
        i++;
    }
    if (i == 0 || (i > 1 && rd->p[0] == '0') || i >= rd->n ||
        rd->p[i] != ':' || rd->n - i - 1 < v + 1 ||
        rd->p[i + 1 + v] != ',') {
        return -EINVAL;
    }
    *s = rd->p + i + 1;
    *len = v;
    rd->p += i + v + 2;
    rd->n -= i + v + 2;
    return 0;
}

/* A string of at most size - 1 bytes, without NULs; UTF-8 when utf8. */
static int
get_str(struct reader *rd, char *dst, size_t size, bool utf8)
{
    const char *s;
    size_t n;

    if (get_field(rd, &s, &n) < 0 || n >= size || memchr(s, '\0', n) ||
        (utf8 && !tk_utf8_is_valid(s, n))) {
        return -EINVAL;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

static int
get_i64(struct reader *rd, int64_t *v)
{
    char t[24];

    if (get_str(rd, t, sizeof(t), false) < 0) {
        return -EINVAL;
    }
    return tk_parse_i64(t, v) < 0 ? -EINVAL : 0;
}

static int
get_int(struct reader *rd, int *v, int lo, int hi)
{
    int64_t x;

    if (get_i64(rd, &x) < 0 || x < lo || x > hi) {
        return -EINVAL;
    }
    *v = (int)x;
    return 0;
}

/* Consumes the version tag tag (2 bytes). */
static int
get_tag(struct reader *rd, const char *tag)
{
    if (rd->n < 2 || memcmp(rd->p, tag, 2) != 0) {
        return -EINVAL;
    }
    rd->p += 2;
    rd->n -= 2;
    return 0;
}

void
tk_cache_encode_activity(struct tk_buf *out, const struct tk_activity *a)
{
    tk_buf_adds(out, "A1");
    put_i64(out, a->id);
    put_i64(out, a->status);
    put_cstr(out, a->key);
    put_cstr(out, a->name);
    put_cstr(out, a->place);
    put_cstr(out, a->pic_url);
    put_cstr(out, a->description);
    put_i64(out, a->start_time);
    put_i64(out, a->end_time);
    put_i64(out, a->book_start);
    put_i64(out, a->book_end);
    put_i64(out, a->total_tickets);
}

int
tk_cache_decode_activity(const char *p, size_t n, struct tk_activity *a)
{
    struct reader rd = { p, n };

    memset(a, 0, sizeof(*a));
    if (get_tag(&rd, "A1") < 0 || get_i64(&rd, &a->id) < 0 ||
        get_int(&rd, &a->status, TK_ACT_DELETED, TK_ACT_PUBLISHED) < 0 ||
        get_str(&rd, a->key, sizeof(a->key), true) < 0 ||
        get_str(&rd, a->name, sizeof(a->name), true) < 0 ||
        get_str(&rd, a->place, sizeof(a->place), true) < 0 ||
        get_str(&rd, a->pic_url, sizeof(a->pic_url), true) < 0 ||
        get_str(&rd, a->description, sizeof(a->description), true) < 0 ||
        get_i64(&rd, &a->start_time) < 0 || get_i64(&rd, &a->end_time) < 0 ||
        get_i64(&rd, &a->book_start) < 0 || get_i64(&rd, &a->book_end) < 0 ||
        get_i64(&rd, &a->total_tickets) < 0 || rd.n != 0 || a->id <= 0 ||
        a->total_tickets < 0) {
        memset(a, 0, sizeof(*a));
        return -EINVAL;
    }
    return 0;
}

void
tk_cache_encode_activity_id(struct tk_buf *out, int64_t id)
{
    tk_buf_adds(out, "K1");
    put_i64(out, id);
}

int
tk_cache_decode_activity_id(const char *p, size_t n, int64_t *id)
{
    struct reader rd = { p, n };
    int64_t v;

    if (get_tag(&rd, "K1") < 0 || get_i64(&rd, &v) < 0 || rd.n != 0 ||
        v <= 0) {
        return -EINVAL;
    }
    *id = v;
    return 0;
}

static bool
sid_is_valid(const char *s)
{
    size_t n = strlen(s);

    if (n < 1 || n > TK_SID_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            return false;
        }
    }
    return true;
}

void
tk_cache_encode_binding(struct tk_buf *out, const char *sid)
{
    tk_buf_adds(out, "B1");
    put_cstr(out, sid);
}

int
tk_cache_decode_binding(const char *p, size_t n, char sid[TK_SID_MAX + 1])
{
    struct reader rd = { p, n };
    char s[TK_SID_MAX + 1];

    if (get_tag(&rd, "B1") < 0 || get_str(&rd, s, sizeof(s), true) < 0 ||
        rd.n != 0 || !sid_is_valid(s)) {
        return -EINVAL;
    }
    memcpy(sid, s, sizeof(s));
    return 0;
}

void
tk_ticket_list_release(struct tk_ticket_list *list)
{
    if (list == NULL) {
        return;
    }
    free(list->items);
    list->items = NULL;
    list->n = 0;
}

void
tk_ticket_list_add(struct tk_ticket_list *list, const struct tk_ticket *t)
{
    list->items = tk_xrealloc(list->items,
                              (list->n + 1) * sizeof(*list->items));
    list->items[list->n++] = *t;
}

void
tk_cache_encode_tickets(struct tk_buf *out, const struct tk_ticket_list *list)
{
    tk_buf_adds(out, "T1");
    put_i64(out, (int64_t)list->n);
    for (size_t i = 0; i < list->n; i++) {
        const struct tk_ticket *t = &list->items[i];

        put_cstr(out, t->unique_id);
        put_i64(out, t->activity_id);
        put_cstr(out, t->student_id);
        put_i64(out, t->status);
        put_i64(out, t->created_at);
        put_i64(out, t->updated_at);
    }
}

int
tk_cache_decode_tickets(const char *p, size_t n, struct tk_ticket_list *out)
{
    struct reader rd = { p, n };
    int64_t count;

    tk_ticket_list_release(out);
    if (get_tag(&rd, "T1") < 0 || get_i64(&rd, &count) < 0 || count < 0 ||
        count > TK_TICKET_LIST_MAX) {
        return -EINVAL;
    }
    /* Each ticket takes at least 6 fields of 3 bytes: no huge counts. */
    if ((uint64_t)count > rd.n / 18) {
        return -EINVAL;
    }
    for (int64_t i = 0; i < count; i++) {
        struct tk_ticket t;

        memset(&t, 0, sizeof(t));
        if (get_str(&rd, t.unique_id, sizeof(t.unique_id), false) < 0 ||
            get_i64(&rd, &t.activity_id) < 0 ||
            get_str(&rd, t.student_id, sizeof(t.student_id), true) < 0 ||
            get_int(&rd, &t.status, TK_TICKET_CANCELLED, TK_TICKET_USED) < 0 ||
            get_i64(&rd, &t.created_at) < 0 ||
            get_i64(&rd, &t.updated_at) < 0 || t.unique_id[0] == '\0' ||
            !sid_is_valid(t.student_id)) {
            tk_ticket_list_release(out);
            return -EINVAL;
        }
        tk_ticket_list_add(out, &t);
    }
    if (rd.n != 0) {
        tk_ticket_list_release(out);
        return -EINVAL;
    }
    return 0;
}

/* --- typed caches ---------------------------------------------------- */

/*
 * tk_cache_get() whose payload must pass decode; a cached payload that
 * does not is deleted and read again once (so loaded afresh).
 */
static int
get_decoded(struct tk_cache *c, struct tk_redis *r, const char *key,
            int (*load)(void *ctx, struct tk_buf *value), void *ctx,
            int (*decode)(const char *p, size_t n, void *out), void *out)
{
    struct tk_buf value = TK_BUF_INIT;
    int rc;

    for (int attempt = 0;; attempt++) {
        rc = tk_cache_get(c, r, key, load, ctx, &value);
        if (rc <= 0 || decode(value.data, value.len, out) == 0) {
            break;
        }
        atomic_fetch_add(&c->corrupt, 1);
        if (attempt > 0) {
            tk_err("undecodable value for '%s'", key);
            rc = -EPROTO;
            break;
        }
        tk_warn("corrupt cached value '%s'; reloading", key);
        rc = tk_redis_del(r, key);
        if (rc < 0) {
            break;
        }
    }
    tk_buf_release(&value);
    return rc;
}

struct activity_ctx {
    int (*load)(void *ctx, int64_t id, struct tk_activity *out);
    void *ctx;
    int64_t id;
};

static int
load_activity(void *p, struct tk_buf *value)
{
    struct activity_ctx *x = p;
    struct tk_activity *a = tk_xcalloc(1, sizeof(*a));
    int rc = x->load(x->ctx, x->id, a);

    if (rc > 0) {
        tk_cache_encode_activity(value, a);
    }
    free(a);
    return rc;
}

static int
decode_activity(const char *p, size_t n, void *out)
{
    return tk_cache_decode_activity(p, n, out);
}

int
tk_cache_activity(struct tk_cache *c, struct tk_redis *r, int64_t id,
                  int (*load)(void *ctx, int64_t id, struct tk_activity *out),
                  void *ctx, struct tk_activity *out)
{
    struct activity_ctx x = { load, ctx, id };
    char key[TK_KEY_BUF];

    tk_key_act_by_id(key, id);
    return get_decoded(c, r, key, load_activity, &x, decode_activity, out);
}

struct activity_id_ctx {
    int (*load)(void *ctx, const char *key, int64_t *id);
    void *ctx;
    const char *key;
};

static int
load_activity_id(void *p, struct tk_buf *value)
{
    struct activity_id_ctx *x = p;
    int64_t id = 0;
    int rc = x->load(x->ctx, x->key, &id);

    if (rc > 0) {
        tk_cache_encode_activity_id(value, id);
    }
    return rc;
}

static int
decode_activity_id(const char *p, size_t n, void *out)
{
    return tk_cache_decode_activity_id(p, n, out);
}

int
tk_cache_activity_id(struct tk_cache *c, struct tk_redis *r, const char *key,
                     int (*load)(void *ctx, const char *key, int64_t *id),
                     void *ctx, int64_t *id)
{
    struct activity_id_ctx x = { load, ctx, key };
    char k[TK_KEY_BUF];

    if (strlen(key) > TK_KEY_MAX) {
        return 0; /* no activity has such a key; tk_key_* would cut it */
    }
    tk_key_act_by_key(k, key);
    return get_decoded(c, r, k, load_activity_id, &x, decode_activity_id, id);
}

struct binding_ctx {
    int (*load)(void *ctx, const char *openid, char sid[TK_SID_MAX + 1]);
    void *ctx;
    const char *openid;
};

static int
load_binding(void *p, struct tk_buf *value)
{
    struct binding_ctx *x = p;
    char sid[TK_SID_MAX + 1] = "";
    int rc = x->load(x->ctx, x->openid, sid);

    if (rc > 0) {
        if (!sid_is_valid(sid)) {
            tk_err("bad student id bound to '%s'", x->openid);
            return -EINVAL;
        }
        tk_cache_encode_binding(value, sid);
    }
    return rc;
}

static int
decode_binding(const char *p, size_t n, void *out)
{
    return tk_cache_decode_binding(p, n, out);
}

int
tk_cache_binding(struct tk_cache *c, struct tk_redis *r, const char *openid,
                 int (*load)(void *ctx, const char *openid,
                             char sid[TK_SID_MAX + 1]),
                 void *ctx, char sid[TK_SID_MAX + 1])
{
    struct binding_ctx x = { load, ctx, openid };
    char k[TK_KEY_BUF];

    if (strlen(openid) > TK_OPENID_MAX) {
        return -EINVAL;
    }
    tk_key_binding(k, openid);
    return get_decoded(c, r, k, load_binding, &x, decode_binding, sid);
}

struct tickets_ctx {
    int (*load)(void *ctx, const char *sid, struct tk_ticket_list *out);
    void *ctx;
    const char *sid;
};

static int
load_tickets(void *p, struct tk_buf *value)
{
    struct tickets_ctx *x = p;
    struct tk_ticket_list list = { NULL, 0 };
    int rc = x->load(x->ctx, x->sid, &list);

    if (rc > 0) {
        if (list.n > TK_TICKET_LIST_MAX) {
            tk_err("too many tickets for '%s'", x->sid);
            rc = -E2BIG;
        } else {
            tk_cache_encode_tickets(value, &list);
        }
    }
    tk_ticket_list_release(&list);
    return rc;
}

static int
decode_tickets(const char *p, size_t n, void *out)
{
    return tk_cache_decode_tickets(p, n, out);
}

int
tk_cache_my_tickets(struct tk_cache *c, struct tk_redis *r, const char *sid,
                    int (*load)(void *ctx, const char *sid,
                                struct tk_ticket_list *out),
                    void *ctx, struct tk_ticket_list *out)
{
    struct tickets_ctx x = { load, ctx, sid };
    char k[TK_KEY_BUF];

    tk_ticket_list_release(out);
    if (!sid_is_valid(sid)) {
        return -EINVAL;
    }
    tk_key_my_tickets(k, sid);
    return get_decoded(c, r, k, load_tickets, &x, decode_tickets, out);
}

/* --- worker-local cache ---------------------------------------------- */

#define LOCAL_ACTS 64  /* power of two */
#define LOCAL_KEYS 128 /* power of two */

struct local_act {
    pthread_mutex_t mu;
    int64_t until; /* tk_mono_ms(); 0 = empty */
    struct tk_activity a;
};

struct local_key {
    pthread_mutex_t mu;
    int64_t until;
    int64_t id;
    char key[TK_KEY_MAX + 1];
};

struct local_flag {
    pthread_mutex_t mu;
    int64_t until;   /* sold out until then (tk_mono_ms) */
    int64_t refresh; /* since then one request re-checks in Redis; 0 none */
    int64_t id;
};

struct tk_cache_local {
    int ttl_ms;
    int soldout_ms;
    struct local_act acts[LOCAL_ACTS];
    struct local_key keys[LOCAL_KEYS];
    struct local_flag flags[LOCAL_ACTS];
};

static size_t
id_slot(int64_t id, size_t n)
{
    return (size_t)(((uint64_t)id * 0x9e3779b97f4a7c15ULL) >> 32) & (n - 1);
}

static size_t
key_slot(const char *key)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (; *key != '\0'; key++) {
        h = (h ^ (unsigned char)*key) * 0x100000001b3ULL;
    }
    return (size_t)(h >> 32) & (LOCAL_KEYS - 1);
}

struct tk_cache_local *
tk_cache_local_new(const struct tk_conf *conf)
{
    struct tk_cache_local *l = tk_xcalloc(1, sizeof(*l));

    l->ttl_ms = conf->cache.local_ttl_ms;
    l->soldout_ms = conf->cache.soldout_ms;
    for (size_t i = 0; i < LOCAL_ACTS; i++) {
        pthread_mutex_init(&l->acts[i].mu, NULL);
        pthread_mutex_init(&l->flags[i].mu, NULL);
    }
    for (size_t i = 0; i < LOCAL_KEYS; i++) {
        pthread_mutex_init(&l->keys[i].mu, NULL);
    }
    return l;
}

void
tk_cache_local_free(struct tk_cache_local *l)
{
    if (l == NULL) {
        return;
    }
    for (size_t i = 0; i < LOCAL_ACTS; i++) {
        pthread_mutex_destroy(&l->acts[i].mu);
        pthread_mutex_destroy(&l->flags[i].mu);
    }
    for (size_t i = 0; i < LOCAL_KEYS; i++) {
        pthread_mutex_destroy(&l->keys[i].mu);
    }
    free(l);
}

int
tk_cache_local_activity(struct tk_cache_local *l, int64_t id,
                        struct tk_activity *out)
{
    struct local_act *s = &l->acts[id_slot(id, LOCAL_ACTS)];
    int rc = 0;

    pthread_mutex_lock(&s->mu);
    if (s->until > tk_mono_ms() && s->a.id == id) {
        *out = s->a;
        rc = 1;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void
tk_cache_local_put_activity(struct tk_cache_local *l,
                            const struct tk_activity *a)
{
    struct local_act *s = &l->acts[id_slot(a->id, LOCAL_ACTS)];
    struct local_key *k = &l->keys[key_slot(a->key)];
    int64_t until = tk_mono_ms() + l->ttl_ms;

    if (l->ttl_ms == 0) {
        return;
    }
    pthread_mutex_lock(&s->mu);
    s->a = *a;
    s->until = until;
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_lock(&k->mu);
    tk_strlcpy(k->key, a->key, sizeof(k->key));
    k->id = a->id;
    k->until = until;
    pthread_mutex_unlock(&k->mu);
}

int
tk_cache_local_activity_id(struct tk_cache_local *l, const char *key,
                           int64_t *id)
{
    struct local_key *k = &l->keys[key_slot(key)];
    int rc = 0;

    pthread_mutex_lock(&k->mu);
    if (k->until > tk_mono_ms() && strcmp(k->key, key) == 0) {
        *id = k->id;
        rc = 1;
    }
    pthread_mutex_unlock(&k->mu);
    return rc;
}

void
tk_cache_local_drop(struct tk_cache_local *l, int64_t id)
{
    struct local_act *s = &l->acts[id_slot(id, LOCAL_ACTS)];

    pthread_mutex_lock(&s->mu);
    if (s->a.id == id) {
        s->until = 0;
    }
    pthread_mutex_unlock(&s->mu);
    /* The key may have changed since: look at every key entry. */
    for (size_t i = 0; i < LOCAL_KEYS; i++) {
        struct local_key *k = &l->keys[i];

        pthread_mutex_lock(&k->mu);
        if (k->id == id) {
            k->until = 0;
        }
        pthread_mutex_unlock(&k->mu);
    }
}

/*
 * Once the flag has expired, the first request to look becomes the one
 * that asks Redis; until its answer re-arms or clears the flag (or
 * soldout_ms passes without either: it failed), the others keep
 * answering from the flag. Without this every request in flight at
 * expiry ran the grab function, about a tenth of a storm's requests,
 * each a write of its retry record and so an fsync with appendfsync
 * always.
 */
bool
tk_cache_local_answer_sold_out(struct tk_cache_local *l, int64_t id)
{
    struct local_flag *f = &l->flags[id_slot(id, LOCAL_ACTS)];
    bool out = false;

    pthread_mutex_lock(&f->mu);
    if (f->id == id && f->until != 0) {
        int64_t now = tk_mono_ms();

        if (f->until > now) {
            out = true;
        } else if (f->refresh != 0 && f->refresh + l->soldout_ms > now) {
            out = true;
        } else {
            f->refresh = now;
        }
    }
    pthread_mutex_unlock(&f->mu);
    return out;
}

bool
tk_cache_local_sold_out_flagged(struct tk_cache_local *l, int64_t id)
{
    struct local_flag *f = &l->flags[id_slot(id, LOCAL_ACTS)];
    bool out;

    pthread_mutex_lock(&f->mu);
    out = f->id == id && f->until != 0;
    pthread_mutex_unlock(&f->mu);
    return out;
}

void
tk_cache_local_set_sold_out(struct tk_cache_local *l, int64_t id)
{
    struct local_flag *f = &l->flags[id_slot(id, LOCAL_ACTS)];

    if (l->soldout_ms == 0) {
        return;
    }
    pthread_mutex_lock(&f->mu);
    f->id = id;
    f->until = tk_mono_ms() + l->soldout_ms;
    f->refresh = 0;
    pthread_mutex_unlock(&f->mu);
}

void
tk_cache_local_clear_sold_out(struct tk_cache_local *l, int64_t id)
{
    struct local_flag *f = &l->flags[id_slot(id, LOCAL_ACTS)];

    pthread_mutex_lock(&f->mu);
    if (f->id == id) {
        f->until = 0;
        f->refresh = 0;
    }
    pthread_mutex_unlock(&f->mu);
}
