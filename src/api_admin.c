/*
 * The admin side of the JSON API (/api/a/...). A session is a random token in
 * an HttpOnly cookie naming a Redis key (tk_key_session) that holds the
 * admin's name for site.session_ttl_s, renewed by every request. Failed
 * logins are counted per user name and per address for login_window_s;
 * past login_max_failures the password is not even checked.
 *
 * Writes go to MariaDB first, then Redis (a published activity is loaded
 * so grabs work), then the caches are invalidated.
 */
#include "api.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "cache.h"
#include "crypto.h"
#include "data.h"
#include "json.h"
#include "keys.h"
#include "log.h"
#include "redis.h"
#include "store.h"

#define COOKIE "tk_session"
#define TOKEN_BYTES 32
#define PASSWORD_MAX 1024
#define TIME_MAX 253402300799LL /* 9999-12-31T23:59:59Z */
#define TICKETS_MAX 10000000

/* --- sessions and login ------------------------------------------------- */

/* The session token of the request's cookie if it is well-formed. */
static const char *
session_token(const struct tk_req *req)
{
    const char *t = tk_req_cookie(req, COOKIE);

    if (t == NULL || strlen(t) != 2 * TOKEN_BYTES ||
        strspn(t, "0123456789abcdef") != 2 * TOKEN_BYTES) {
        return NULL;
    }
    return t;
}

/* 1 logged in (the session renewed), 0 not, < 0 error. */
static int
session_check(struct tk_ctx *ctx, const struct tk_req *req)
{
    struct tk_buf user = TK_BUF_INIT;
    const char *token = session_token(req);
    char key[TK_KEY_BUF];
    int rc;

    if (token == NULL) {
        return 0;
    }
    tk_key_session(key, token);
    rc = tk_redis_get(tk_ctx_redis(ctx), key, &user);
    if (rc == 1) {
        rc = tk_redis_set(tk_ctx_redis(ctx), key, user.data, user.len,
                          (int64_t)ctx->conf->site.session_ttl_s * 1000);
        rc = rc < 0 ? rc : 1;
    }
    tk_buf_release(&user);
    return rc;
}

/* The guard of every admin route but login: 1 go on; otherwise the
 * answer is written (0) or an error returned. */
static int
require_admin(struct tk_ctx *ctx, const struct tk_req *req,
              struct tk_resp *resp)
{
    int rc = session_check(ctx, req);

    if (rc == 0) {
        tk_resp_json(resp, TK_API_AUTH, "not logged in", NULL);
    }
    return rc;
}

static void
set_cookie(struct tk_ctx *ctx, struct tk_resp *resp, const char *token,
           int max_age)
{
    bool secure = strncmp(ctx->conf->site.base_url, "https:", 6) == 0;
    char *v = tk_arena_printf(ctx->arena,
                              COOKIE "=%s; Path=/; Max-Age=%d; HttpOnly; "
                              "SameSite=Strict%s",
                              token, max_age, secure ? "; Secure" : "");

    (void)tk_resp_header(resp, "Set-Cookie", v);
}

/* The failure counters' keys: per user name and per remote address. */
static void
fail_keys(const struct tk_req *req, const char *username,
          char user_key[TK_KEY_BUF], char addr_key[TK_KEY_BUF])
{
    char who[TK_USERNAME_MAX + 8];

    snprintf(who, sizeof(who), "u:%s", username);
    tk_key_login_fail(user_key, who);
    snprintf(who, sizeof(who), "a:%.64s", req->remote_addr);
    tk_key_login_fail(addr_key, who);
}

/* 1 when either counter has reached the limit, 0 not, < 0 error. */
static int
is_throttled(struct tk_ctx *ctx, char keys[2][TK_KEY_BUF])
{
    const char *k[2] = {keys[0], keys[1]};
    struct tk_buf v[2] = {TK_BUF_INIT, TK_BUF_INIT};
    int found[2], rc;

    rc = tk_redis_mget(tk_ctx_redis(ctx), k, 2, v, found);
    for (int i = 0; rc == 0 && i < 2; i++) {
        int64_t n;

        if (found[i] && tk_parse_i64(tk_buf_str(&v[i]), &n) == 0 &&
            n >= ctx->conf->site.login_max_failures) {
            rc = 1;
        }
    }
    tk_buf_release(&v[0]);
    tk_buf_release(&v[1]);
    return rc;
}

/* Counts a failure on both keys; the window starts at the first one. */
static int
count_failure(struct tk_ctx *ctx, char keys[2][TK_KEY_BUF])
{
    char window[24];
    const char *incr0[] = {"INCR", keys[0]};
    const char *exp0[] = {"EXPIRE", keys[0], window, "NX"};
    const char *incr1[] = {"INCR", keys[1]};
    const char *exp1[] = {"EXPIRE", keys[1], window, "NX"};
    const struct tk_redis_command cmds[4] = {
        {2, incr0, NULL}, {4, exp0, NULL}, {2, incr1, NULL}, {4, exp1, NULL}};
    struct tk_redis_reply *replies[4];
    int rc;

    snprintf(window, sizeof(window), "%d", ctx->conf->site.login_window_s);
    rc = tk_redis_pipeline(tk_ctx_redis(ctx), cmds, 4, replies);
    for (int i = 0; i < 4; i++) {
        if (rc == 0 && replies[i]->type == TK_REDIS_ERROR) {
            tk_err("cannot count failed login: %s", replies[i]->str);
            rc = -EPROTO;
        }
        tk_redis_reply_free(replies[i]);
    }
    return rc;
}

static int
login_post(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    char keys[2][TK_KEY_BUF], key[TK_KEY_BUF], token[2 * TOKEN_BYTES + 1];
    const char *username, *password;
    int rc;

    if (tk_api_text(req, "username", TK_USERNAME_MAX, false, &username) <=
            0 ||
        tk_api_text(req, "password", PASSWORD_MAX, false, &password) <= 0) {
        tk_resp_json(resp, TK_API_INPUT,
                     "missing or malformed username or password", NULL);
        return 0;
    }
    fail_keys(req, username, keys[0], keys[1]);
    rc = is_throttled(ctx, keys);
    if (rc != 0) {
        if (rc == 1) {
            tk_resp_json(resp, TK_API_AUTH,
                         "too many failed logins; try again later", NULL);
        }
        return rc < 0 ? rc : 0;
    }
    rc = tk_store_admin_verify(tk_ctx_store(ctx), username, password);
    if (rc < 0) {
        return rc;
    }
    if (rc == 0) {
        tk_notice("failed admin login for '%s' from '%s'", username,
                  req->remote_addr);
        rc = count_failure(ctx, keys);
        if (rc < 0) {
            return rc;
        }
        tk_resp_json(resp, TK_API_AUTH, "wrong username or password", NULL);
        return 0;
    }
    (void)tk_redis_del(tk_ctx_redis(ctx), keys[0]);
    tk_random_hex(token, TOKEN_BYTES);
    tk_key_session(key, token);
    rc = tk_redis_set(tk_ctx_redis(ctx), key, username, strlen(username),
                      (int64_t)ctx->conf->site.session_ttl_s * 1000);
    if (rc < 0) {
        return rc;
    }
    set_cookie(ctx, resp, token, ctx->conf->site.session_ttl_s);
    tk_resp_json(resp, TK_API_OK, "ok", NULL);
    return 0;
}

int
tk_api_a_login(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    int rc;

    if (req->method == TK_M_POST) {
        return login_post(ctx, req, resp);
    }
    rc = require_admin(ctx, req, resp);
    if (rc == 1) {
        tk_resp_json(resp, TK_API_OK, "ok", NULL);
    }
    return rc < 0 ? rc : 0;
}

int
tk_api_a_logout(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    char key[TK_KEY_BUF];
    int rc = require_admin(ctx, req, resp);

    if (rc <= 0) {
        return rc;
    }
    tk_key_session(key, session_token(req));
    rc = tk_redis_del(tk_ctx_redis(ctx), key);
    if (rc < 0) {
        return rc;
    }
    set_cookie(ctx, resp, "", 0);
    tk_resp_json(resp, TK_API_OK, "ok", NULL);
    return 0;
}

/* --- activities --------------------------------------------------------- */

static void
activity_json(struct tk_buf *b, const struct tk_activity *a, bool full)
{
    tk_api_json_int(b, "id", a->id);
    tk_api_json_str(b, "name", a->name);
    if (full) {
        tk_api_json_str(b, "key", a->key);
    }
    tk_api_json_str(b, "description", a->description);
    tk_api_json_int(b, "startTime", a->start_time);
    tk_api_json_int(b, "endTime", a->end_time);
    tk_api_json_str(b, "place", a->place);
    tk_api_json_int(b, "bookStart", a->book_start);
    tk_api_json_int(b, "bookEnd", a->book_end);
    if (full) {
        tk_api_json_str(b, "picUrl", a->pic_url);
        tk_api_json_int(b, "totalTickets", a->total_tickets);
    }
    tk_api_json_int(b, "status", a->status);
}

struct list_state {
    struct tk_buf *b;
    int64_t now;
};

static int
list_one(const struct tk_activity *a, void *arg)
{
    struct list_state *st = arg;

    tk_buf_adds(st->b, st->b->len > 1 ? ",{" : "{");
    activity_json(st->b, a, false);
    tk_api_json_int(st->b, "currentTime", st->now);
    tk_buf_addc(st->b, '}');
    return 0;
}

int
tk_api_a_list(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    struct tk_buf b = TK_BUF_INIT;
    struct list_state st = {&b, ctx->now_ms / 1000};
    int rc = require_admin(ctx, req, resp);

    if (rc <= 0) {
        return rc;
    }
    tk_buf_addc(&b, '[');
    rc = tk_store_activity_list(tk_ctx_store(ctx), list_one, &st);
    tk_buf_addc(&b, ']');
    if (rc >= 0) {
        tk_resp_json(resp, TK_API_OK, "ok", tk_buf_str(&b));
        rc = 0;
    }
    tk_buf_release(&b);
    return rc;
}

/* Fields of an activity in a request; which ones were given. */
enum {
    F_NAME = 1 << 0,
    F_KEY = 1 << 1,
    F_PLACE = 1 << 2,
    F_DESC = 1 << 3,
    F_PIC = 1 << 4,
    F_START = 1 << 5,
    F_END = 1 << 6,
    F_BSTART = 1 << 7,
    F_BEND = 1 << 8,
    F_TOTAL = 1 << 9,
    F_STATUS = 1 << 10,
    F_REQUIRED = F_NAME | F_KEY | F_START | F_END | F_BSTART | F_BEND |
                 F_TOTAL | F_STATUS,
};

static bool
key_is_valid(const char *key)
{
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        if (*p <= ' ' || *p == 0x7f) {
            return false;
        }
    }
    /* A full-width space would split "抢票 KEY" too. */
    return strstr(key, "\xe3\x80\x80") == NULL;
}

/* One text field into dst: 1 given, 0 absent; -EINVAL (*bad names it). */
static int
text_field(const struct tk_req *req, const char *name, size_t max,
           bool multiline, bool may_be_empty, char *dst, const char **bad)
{
    const char *raw = tk_req_param(req, name), *v;
    int rc;

    if (raw == NULL) {
        return 0;
    }
    rc = tk_api_text(req, name, max, multiline, &v);
    if (rc == 0 && may_be_empty) {
        dst[0] = '\0';
        return 1;
    }
    if (rc <= 0) {
        *bad = name;
        return -EINVAL;
    }
    memcpy(dst, v, strlen(v) + 1);
    return 1;
}

static int
int_field(const struct tk_req *req, const char *name, int64_t min,
          int64_t max, int64_t *dst, const char **bad)
{
    int rc = tk_req_param_i64(req, name, min, max, dst);

    if (rc == 0 && tk_req_param(req, name) != NULL) {
        rc = -EINVAL; /* present but empty */
    }
    if (rc < 0) {
        *bad = name;
    }
    return rc;
}

/* Reads the given fields over a; *given gets their F_* bits. 0, or
 * -EINVAL with *bad naming the field at fault. */
static int
read_activity(const struct tk_req *req, struct tk_activity *a,
              unsigned *given, const char **bad)
{
    struct {
        const char *name;
        unsigned bit;
        size_t max;
        bool multiline, may_be_empty;
        char *dst;
    } texts[] = {
        {"name", F_NAME, TK_NAME_MAX, false, false, a->name},
        {"key", F_KEY, TK_KEY_MAX, false, false, a->key},
        {"place", F_PLACE, TK_PLACE_MAX, false, true, a->place},
        {"description", F_DESC, TK_DESC_MAX, true, true, a->description},
        {"picUrl", F_PIC, TK_URL_MAX, false, true, a->pic_url},
    };
    struct {
        const char *name;
        unsigned bit;
        int64_t max;
        int64_t *dst;
    } ints[] = {
        {"startTime", F_START, TIME_MAX, &a->start_time},
        {"endTime", F_END, TIME_MAX, &a->end_time},
        {"bookStart", F_BSTART, TIME_MAX, &a->book_start},
        {"bookEnd", F_BEND, TIME_MAX, &a->book_end},
        {"totalTickets", F_TOTAL, TICKETS_MAX, &a->total_tickets},
    };
    int64_t status;
    int rc;

    *given = 0;
    for (size_t i = 0; i < TK_ARRAY_SIZE(texts); i++) {
        rc = text_field(req, texts[i].name, texts[i].max, texts[i].multiline,
                        texts[i].may_be_empty, texts[i].dst, bad);
        if (rc < 0) {
            return rc;
        }
        *given |= rc == 1 ? texts[i].bit : 0;
    }
    if ((*given & F_KEY) && !key_is_valid(a->key)) {
        *bad = "key";
        return -EINVAL;
    }
    if ((*given & F_PIC) && a->pic_url[0] != '\0' &&
        strncmp(a->pic_url, "https://", 8) != 0 &&
        strncmp(a->pic_url, "http://", 7) != 0) {
        *bad = "picUrl";
        return -EINVAL;
    }
    for (size_t i = 0; i < TK_ARRAY_SIZE(ints); i++) {
        rc = int_field(req, ints[i].name, 0, ints[i].max, ints[i].dst, bad);
        if (rc < 0) {
            return rc;
        }
        *given |= rc == 1 ? ints[i].bit : 0;
    }
    rc = int_field(req, "status", TK_ACT_SAVED, TK_ACT_PUBLISHED, &status,
                   bad);
    if (rc < 0) {
        return rc;
    }
    if (rc == 1) {
        a->status = (int)status;
        *given |= F_STATUS;
    }
    return 0;
}

/* The rules every stored activity obeys; NULL when a keeps them. */
static const char *
check_consistent(const struct tk_activity *a)
{
    if (a->end_time < a->start_time) {
        return "endTime is before startTime";
    }
    if (a->book_end < a->book_start) {
        return "bookEnd is before bookStart";
    }
    return NULL;
}

/* The answer for a field at fault, as the client named it. */
static void
bad_field(struct tk_ctx *ctx, struct tk_resp *resp, const char *what,
          const char *field)
{
    tk_resp_json(resp, TK_API_INPUT,
                 tk_arena_printf(ctx->arena, "%s field: %s", what, field),
                 NULL);
}

/* After a write: the caches forget the activity under both keys. */
static void
invalidate(struct tk_ctx *ctx, int64_t id, const char *old_key,
           const char *new_key)
{
    (void)tk_cache_invalidate_activity(tk_ctx_redis(ctx), id, old_key);
    if (new_key != NULL && strcmp(old_key, new_key) != 0) {
        (void)tk_cache_invalidate_activity(tk_ctx_redis(ctx), id, new_key);
    }
    tk_cache_local_drop(tk_ctx_local(ctx), id);
    tk_cache_local_clear_sold_out(tk_ctx_local(ctx), id);
}

/* Loads a published activity into Redis; on failure the answer says what
 * was saved and how to finish (the row is already written). */
static int
load_published(struct tk_ctx *ctx, struct tk_resp *resp,
               const struct tk_activity *a, bool reset)
{
    if (tk_data_load(ctx, a, reset) < 0) {
        tk_err("activity %lld saved but not loaded into redis; run "
               "'ticketctl preheat %lld'", (long long)a->id,
               (long long)a->id);
        tk_resp_json(resp, -1, tk_arena_printf(ctx->arena,
                     "saved, but not loaded into redis: run ticketctl "
                     "preheat %lld", (long long)a->id), NULL);
        return -1;
    }
    return 0;
}

int
tk_api_a_create(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    struct tk_activity *a = tk_arena_calloc(ctx->arena, sizeof(*a));
    const char *bad = NULL, *why;
    unsigned given;
    int64_t id;
    char data[32];
    int rc = require_admin(ctx, req, resp);

    if (rc <= 0) {
        return rc;
    }
    if (read_activity(req, a, &given, &bad) < 0) {
        bad_field(ctx, resp, "malformed", bad);
        return 0;
    }
    if ((given & F_REQUIRED) != F_REQUIRED) {
        static const char *const names[] = {
            "name", "key", "place", "description", "picUrl", "startTime",
            "endTime", "bookStart", "bookEnd", "totalTickets", "status"};
        unsigned missing = F_REQUIRED & ~given;

        bad_field(ctx, resp, "missing",
                  names[__builtin_ctz(missing)]);
        return 0;
    }
    why = check_consistent(a);
    if (why != NULL) {
        tk_resp_json(resp, TK_API_INPUT, why, NULL);
        return 0;
    }
    rc = tk_store_activity_create(tk_ctx_store(ctx), a, &id);
    if (rc == -EEXIST) {
        tk_resp_json(resp, TK_API_LOGIC, "key already used", NULL);
        return 0;
    }
    if (rc < 0) {
        return rc;
    }
    a->id = id;
    invalidate(ctx, id, a->key, NULL);
    if (a->status == TK_ACT_PUBLISHED &&
        load_published(ctx, resp, a, false) < 0) {
        return 0;
    }
    snprintf(data, sizeof(data), "%lld", (long long)id);
    tk_resp_json(resp, TK_API_OK, "ok", data);
    return 0;
}

/* The id field and the activity it names (not deleted): 1, or 0 with the
 * answer written, or < 0. */
static int
target(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp,
       const char *field, struct tk_activity *a)
{
    int64_t id;
    int rc = tk_req_param_i64(req, field, 1, INT64_MAX, &id);

    if (rc <= 0) {
        bad_field(ctx, resp, "missing or malformed", field);
        return 0;
    }
    rc = tk_store_activity_get(tk_ctx_store(ctx), id, a);
    if (rc < 0) {
        return rc;
    }
    if (rc == 0 || a->status == TK_ACT_DELETED) {
        tk_resp_json(resp, TK_API_LOGIC, "activity not found", NULL);
        return 0;
    }
    return 1;
}

int
tk_api_a_delete(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    struct tk_activity *a = tk_arena_calloc(ctx->arena, sizeof(*a));
    int rc = require_admin(ctx, req, resp);

    if (rc <= 0) {
        return rc;
    }
    rc = target(ctx, req, resp, "id", a);
    if (rc <= 0) {
        return rc;
    }
    rc = tk_store_activity_set_status(tk_ctx_store(ctx), a->id,
                                      TK_ACT_DELETED);
    if (rc < 0) {
        return rc;
    }
    if (rc == 0) {
        tk_resp_json(resp, TK_API_LOGIC, "activity not found", NULL);
        return 0;
    }
    invalidate(ctx, a->id, a->key, NULL);
    tk_resp_json(resp, TK_API_OK, "ok", NULL);
    return 0;
}

static int
detail_get(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    struct tk_activity *a = tk_arena_calloc(ctx->arena, sizeof(*a));
    struct tk_buf b = TK_BUF_INIT;
    int64_t booked, used;
    int rc = target(ctx, req, resp, "id", a);

    if (rc <= 0) {
        return rc;
    }
    rc = tk_data_counts(ctx, a, &booked, &used);
    if (rc < 0) {
        return rc;
    }
    tk_buf_addc(&b, '{');
    activity_json(&b, a, true);
    tk_api_json_int(&b, "bookedTickets", booked);
    tk_api_json_int(&b, "usedTickets", used);
    tk_api_json_int(&b, "currentTime", ctx->now_ms / 1000);
    tk_buf_addc(&b, '}');
    tk_resp_json(resp, TK_API_OK, "ok", tk_buf_str(&b));
    tk_buf_release(&b);
    return 0;
}

/* The edit rules of API.md, by the stored activity's state at now: NULL
 * when the change from old to a is allowed. */
static const char *
check_edit(const struct tk_activity *old, const struct tk_activity *a,
           int64_t now)
{
    bool times = a->start_time != old->start_time ||
                 a->end_time != old->end_time ||
                 a->book_start != old->book_start ||
                 a->book_end != old->book_end;

    if (old->status == TK_ACT_PUBLISHED) {
        if (strcmp(a->name, old->name) != 0) {
            return "name cannot change once published";
        }
        if (strcmp(a->place, old->place) != 0) {
            return "place cannot change once published";
        }
        if (a->book_start != old->book_start) {
            return "bookStart cannot change once published";
        }
        if (a->status != TK_ACT_PUBLISHED) {
            return "a published activity cannot go back to saved";
        }
    }
    if (now >= old->end_time && times) {
        return "times cannot change once the activity has ended";
    }
    if (now >= old->start_time && a->book_end != old->book_end) {
        return "bookEnd cannot change once the activity has started";
    }
    if (now >= old->book_start && a->total_tickets != old->total_tickets) {
        return "totalTickets cannot change once booking has started";
    }
    return NULL;
}

static int
detail_post(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    struct tk_activity *old = tk_arena_calloc(ctx->arena, sizeof(*old));
    struct tk_activity *a = tk_arena_alloc(ctx->arena, sizeof(*a));
    const char *bad = NULL, *why;
    unsigned given;
    int rc = target(ctx, req, resp, "id", old);

    if (rc <= 0) {
        return rc;
    }
    *a = *old;
    if (read_activity(req, a, &given, &bad) < 0) {
        bad_field(ctx, resp, "malformed", bad);
        return 0;
    }
    why = check_consistent(a);
    if (why != NULL) {
        tk_resp_json(resp, TK_API_INPUT, why, NULL);
        return 0;
    }
    why = check_edit(old, a, ctx->now_ms / 1000);
    if (why != NULL) {
        tk_resp_json(resp, TK_API_LOGIC, why, NULL);
        return 0;
    }
    rc = tk_store_activity_update(tk_ctx_store(ctx), a);
    if (rc == -EEXIST) {
        tk_resp_json(resp, TK_API_LOGIC, "key already used", NULL);
        return 0;
    }
    if (rc < 0) {
        return rc;
    }
    if (rc == 0) {
        tk_resp_json(resp, TK_API_LOGIC, "activity not found", NULL);
        return 0;
    }
    invalidate(ctx, a->id, old->key, a->key);
    /* Published now: load it. A total changed before booking opened
     * replaces the stock; nobody can hold a ticket yet. */
    if (a->status == TK_ACT_PUBLISHED &&
        load_published(ctx, resp, a,
                       old->status == TK_ACT_PUBLISHED &&
                           a->total_tickets != old->total_tickets) < 0) {
        return 0;
    }
    tk_resp_json(resp, TK_API_OK, "ok", NULL);
    return 0;
}

int
tk_api_a_detail(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    int rc = require_admin(ctx, req, resp);

    if (rc <= 0) {
        return rc;
    }
    if (req->method == TK_M_POST) {
        return detail_post(ctx, req, resp);
    }
    return detail_get(ctx, req, resp);
}

/* --- images ------------------------------------------------------------- */

/* The image type by magic bytes: the file name extension and MIME type,
 * or NULL for anything else. */
static const char *
image_type(const unsigned char *p, size_t n, const char **mime)
{
    if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) {
        *mime = "image/png";
        return "png";
    }
    if (n >= 3 && memcmp(p, "\xff\xd8\xff", 3) == 0) {
        *mime = "image/jpeg";
        return "jpg";
    }
    if (n >= 6 &&
        (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0)) {
        *mime = "image/gif";
        return "gif";
    }
    if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0) {
        *mime = "image/webp";
        return "webp";
    }
    return NULL;
}

/* Writes the whole file under a fresh name; the caller unlinks on later
 * failure. 0, or -errno (logged). */
static int
write_file(const char *path, const char *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                  0644);
    int rc = 0;

    if (fd < 0) {
        rc = -errno;
        tk_err("cannot create upload '%s': %s", path, strerror(errno));
        return rc;
    }
    while (n > 0) {
        ssize_t w = write(fd, data, n);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            rc = w < 0 ? -errno : -EIO;
            tk_err("cannot write upload '%s': %s", path, strerror(-rc));
            break;
        }
        data += w;
        n -= (size_t)w;
    }
    if (close(fd) < 0 && rc == 0) {
        rc = -errno;
        tk_err("cannot close upload '%s': %s", path, strerror(errno));
    }
    if (rc < 0) {
        (void)unlink(path);
    }
    return rc;
}

int
tk_api_a_upload(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    const struct tk_conf *conf = ctx->conf;
    const struct tk_part *part;
    const char *ext, *mime = NULL;
    char name[40], hex[33], *path;
    struct tk_buf url = TK_BUF_INIT, data = TK_BUF_INIT;
    int64_t id;
    int rc = require_admin(ctx, req, resp);

    if (rc <= 0) {
        return rc;
    }
    part = tk_req_file(req, "image");
    if (part == NULL || part->len == 0) {
        tk_resp_json(resp, TK_API_INPUT, "missing file field: image", NULL);
        return 0;
    }
    if (part->len > (size_t)conf->site.upload_max_kb * 1024) {
        tk_resp_json(resp, TK_API_INPUT,
                     tk_arena_printf(ctx->arena, "image too large: at most "
                                     "%d KiB", conf->site.upload_max_kb),
                     NULL);
        return 0;
    }
    ext = image_type((const unsigned char *)part->data, part->len, &mime);
    if (ext == NULL) {
        tk_resp_json(resp, TK_API_INPUT,
                     "not an image: PNG, JPEG, GIF or WebP only", NULL);
        return 0;
    }
    /* Our own random name: nothing of the client's file name is used. */
    tk_random_hex(hex, 16);
    snprintf(name, sizeof(name), "%s.%s", hex, ext);
    path = tk_arena_printf(ctx->arena, "%s/%s", conf->site.upload_dir, name);
    rc = write_file(path, part->data, part->len);
    if (rc < 0) {
        return rc;
    }
    rc = tk_store_image_insert(tk_ctx_store(ctx), name, mime,
                               (int64_t)part->len, &id);
    if (rc < 0) {
        (void)unlink(path);
        return rc;
    }
    tk_buf_printf(&url, "%s%s/%s", conf->site.base_url, conf->site.upload_url,
                  name);
    tk_buf_add_json_str(&data, tk_buf_str(&url));
    tk_resp_json(resp, TK_API_OK, "ok", tk_buf_str(&data));
    tk_buf_release(&data);
    tk_buf_release(&url);
    return 0;
}

/* --- menu --------------------------------------------------------------- */

static int
menu_get(struct tk_ctx *ctx, struct tk_resp *resp)
{
    int64_t ids[TK_MENU_MAX];
    struct tk_activity *a = tk_arena_alloc(ctx->arena, sizeof(*a));
    struct tk_buf b = TK_BUF_INIT;
    int n = tk_store_menu_get(tk_ctx_store(ctx), ids), rc = 0;

    if (n < 0) {
        return n;
    }
    tk_buf_addc(&b, '[');
    for (int i = 0; i < n; i++) {
        rc = tk_store_activity_get(tk_ctx_store(ctx), ids[i], a);
        if (rc < 0) {
            goto out;
        }
        if (rc == 0 || a->status == TK_ACT_DELETED) {
            continue;
        }
        tk_buf_adds(&b, b.len > 1 ? ",{" : "{");
        tk_api_json_int(&b, "id", a->id);
        tk_api_json_str(&b, "name", a->name);
        tk_api_json_str(&b, "key", a->key);
        tk_api_json_int(&b, "menuIndex", i + 1);
        tk_buf_addc(&b, '}');
    }
    tk_buf_addc(&b, ']');
    tk_resp_json(resp, TK_API_OK, "ok", tk_buf_str(&b));
    rc = 0;
out:
    tk_buf_release(&b);
    return rc;
}

static int
menu_post(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    int64_t ids[TK_MENU_MAX];
    struct tk_activity *a = tk_arena_alloc(ctx->arena, sizeof(*a));
    int n, rc;

    if (!req->body_is_json_array) {
        tk_resp_json(resp, TK_API_INPUT,
                     "the body must be a JSON array of activity ids", NULL);
        return 0;
    }
    n = tk_json_parse_i64_array(ctx->arena, req->body, req->body_len, ids,
                                TK_MENU_MAX);
    if (n == -E2BIG) {
        tk_resp_json(resp, TK_API_INPUT, "at most 5 activities", NULL);
        return 0;
    }
    if (n < 0) {
        tk_resp_json(resp, TK_API_INPUT,
                     "the body must be a JSON array of activity ids", NULL);
        return 0;
    }
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < i; j++) {
            if (ids[j] == ids[i]) {
                tk_resp_json(resp, TK_API_INPUT, "an activity is listed twice",
                             NULL);
                return 0;
            }
        }
        rc = ids[i] > 0 ? tk_store_activity_get(tk_ctx_store(ctx), ids[i], a)
                        : 0;
        if (rc < 0) {
            return rc;
        }
        if (rc == 0 || a->status != TK_ACT_PUBLISHED) {
            tk_resp_json(resp, TK_API_LOGIC,
                         tk_arena_printf(ctx->arena, "activity %lld is not a "
                                         "published activity",
                                         (long long)ids[i]),
                         NULL);
            return 0;
        }
    }
    rc = tk_store_menu_set(tk_ctx_store(ctx), ids, (size_t)n);
    if (rc < 0) {
        return rc;
    }
    tk_resp_json(resp, TK_API_OK, "ok", NULL);
    return 0;
}

int
tk_api_a_menu(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    int rc = require_admin(ctx, req, resp);

    if (rc <= 0) {
        return rc;
    }
    if (req->method == TK_M_POST) {
        return menu_post(ctx, req, resp);
    }
    return menu_get(ctx, resp);
}

/* --- check-in ----------------------------------------------------------- */

int
tk_api_a_checkin(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    struct tk_activity *a = tk_arena_calloc(ctx->arena, sizeof(*a));
    struct tk_redis_result res;
    struct tk_buf b = TK_BUF_INIT;
    const char *tid = NULL, *sid = NULL;
    int rt, rs, rc = require_admin(ctx, req, resp);

    if (rc <= 0) {
        return rc;
    }
    rt = tk_api_text(req, "ticket", TK_TICKET_ID_MAX, false, &tid);
    rs = tk_api_text(req, "studentId", TK_SID_MAX, false, &sid);
    /* Ticket ids are 16 lowercase hex characters; tk_checkin refuses any
     * other string as a bad argument, which is not an internal error. */
    if (rt > 0 && (strlen(tid) != 16 ||
                   strspn(tid, "0123456789abcdef") != 16)) {
        rt = -EINVAL;
    }
    if (rt < 0 || rs < 0 || (rt == 0 && rs == 0)) {
        tk_resp_json(resp, TK_API_INPUT,
                     "give a well-formed ticket or studentId", NULL);
        return 0;
    }
    rc = target(ctx, req, resp, "actId", a);
    if (rc <= 0) {
        return rc;
    }
    rc = tk_redis_checkin(tk_ctx_redis(ctx), a->id, tid, sid, &res);
    if (rc < 0) {
        return rc;
    }
    switch (res.outcome) {
    case TK_CHECKIN_OK:
        (void)tk_cache_invalidate_my_tickets(tk_ctx_redis(ctx),
                                             res.student_id);
        tk_buf_addc(&b, '{');
        tk_api_json_str(&b, "ticket", res.ticket_id);
        tk_api_json_str(&b, "studentId", res.student_id);
        tk_buf_addc(&b, '}');
        tk_resp_json(resp, TK_API_OK, "ok", tk_buf_str(&b));
        tk_buf_release(&b);
        break;
    case TK_CHECKIN_USED:
        tk_resp_json(resp, TK_API_LOGIC, "ticket already used", NULL);
        break;
    case TK_CHECKIN_NO_ACTIVITY:
        tk_err("cannot check in at activity %lld: not loaded into redis; "
               "run 'ticketctl preheat %lld'", (long long)a->id,
               (long long)a->id);
        tk_resp_json(resp, TK_API_LOGIC,
                     "activity not loaded: run ticketctl preheat", NULL);
        break;
    default:
        tk_resp_json(resp, TK_API_LOGIC,
                     "no valid ticket for this activity", NULL);
        break;
    }
    return 0;
}
