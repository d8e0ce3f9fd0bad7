/*
 * The user side of the JSON API (/api/u/...). Everything that names a user
 * takes the sig its link carried (code 3 when wrong or missing), so an
 * openid cannot be swapped for another one.
 */
#include "api.h"

#include <errno.h>
#include <string.h>

#include "app.h"
#include "cache.h"
#include "data.h"
#include "log.h"
#include "store.h"

static const char *const openid_only[] = {"openid"};
static const char *const openid_ticket[] = {"openid", "ticket"};

/* The openid field: 1 valid, else the answer has been written. */
static int
openid_param(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp,
             const char **openid)
{
    int rc = tk_api_text(req, "openid", TK_OPENID_MAX, false, openid);

    if (rc <= 0) {
        tk_resp_json(resp, TK_API_INPUT, "missing or malformed openid", NULL);
        return 0;
    }
    if (!tk_api_sig_ok(ctx, req, openid_only, 1)) {
        tk_resp_json(resp, TK_API_AUTH, "invalid signature", NULL);
        return 0;
    }
    return 1;
}

static int
bind_get(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    char sid[TK_SID_MAX + 1];
    struct tk_buf b = TK_BUF_INIT;
    const char *openid;
    int rc;

    if (openid_param(ctx, req, resp, &openid) == 0) {
        return 0;
    }
    rc = tk_data_binding(ctx, openid, sid);
    if (rc < 0) {
        return rc;
    }
    tk_buf_add_json_str(&b, sid);
    tk_resp_json(resp, TK_API_OK, "ok", tk_buf_str(&b));
    tk_buf_release(&b);
    return 0;
}

static int
bind_post(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    const char *openid, *sid = NULL, *password = NULL;
    int rc;

    if (openid_param(ctx, req, resp, &openid) == 0) {
        return 0;
    }
    if (tk_api_text(req, "student_id", TK_SID_MAX, false, &sid) <= 0 ||
        tk_api_text(req, "password", 256, false, &password) <= 0) {
        tk_resp_json(resp, TK_API_INPUT,
                     "missing or malformed student_id or password", NULL);
        return 0;
    }
    rc = tk_store_user_bind(tk_ctx_store(ctx), openid, sid, password);
    if (rc < 0) {
        return rc;
    }
    switch (rc) {
    case TK_BIND_OK:
        (void)tk_cache_invalidate_binding(tk_ctx_redis(ctx), openid);
        tk_resp_json(resp, TK_API_OK, "ok", NULL);
        break;
    case TK_BIND_BAD_CREDENTIALS:
        tk_resp_json(resp, TK_API_AUTH, "wrong student id or password",
                     NULL);
        break;
    case TK_BIND_STUDENT_TAKEN:
        tk_resp_json(resp, TK_API_LOGIC,
                     "this student id is bound to another wechat user",
                     NULL);
        break;
    default:
        tk_resp_json(resp, TK_API_LOGIC,
                     "this wechat user is bound to another student id",
                     NULL);
        break;
    }
    return 0;
}

int
tk_api_user_bind(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    if (req->method == TK_M_POST) {
        return bind_post(ctx, req, resp);
    }
    return bind_get(ctx, req, resp);
}

int
tk_api_activity_detail(struct tk_ctx *ctx, struct tk_req *req,
                       struct tk_resp *resp)
{
    struct tk_activity a;
    struct tk_buf b = TK_BUF_INIT;
    int64_t id, remain;
    int rc = tk_req_param_i64(req, "id", 1, INT64_MAX, &id);

    if (rc <= 0) {
        tk_resp_json(resp, TK_API_INPUT, "missing or malformed id", NULL);
        return 0;
    }
    rc = tk_data_activity_remain(ctx, id, &a, &remain);
    if (rc < 0) {
        return rc;
    }
    if (rc == 0 || a.status != TK_ACT_PUBLISHED) {
        tk_resp_json(resp, TK_API_LOGIC, "activity not found", NULL);
        return 0;
    }
    tk_buf_addc(&b, '{');
    tk_api_json_str(&b, "name", a.name);
    tk_api_json_str(&b, "key", a.key);
    tk_api_json_str(&b, "description", a.description);
    tk_api_json_int(&b, "startTime", a.start_time);
    tk_api_json_int(&b, "endTime", a.end_time);
    tk_api_json_str(&b, "place", a.place);
    tk_api_json_int(&b, "bookStart", a.book_start);
    tk_api_json_int(&b, "bookEnd", a.book_end);
    tk_api_json_int(&b, "totalTickets", a.total_tickets);
    tk_api_json_str(&b, "picUrl", a.pic_url);
    tk_api_json_int(&b, "remainTickets", remain);
    tk_api_json_int(&b, "currentTime", ctx->now_ms / 1000);
    tk_buf_addc(&b, '}');
    tk_resp_json(resp, TK_API_OK, "ok", tk_buf_str(&b));
    tk_buf_release(&b);
    return 0;
}

int
tk_api_ticket_detail(struct tk_ctx *ctx, struct tk_req *req,
                     struct tk_resp *resp)
{
    struct tk_activity a;
    struct tk_ticket t;
    struct tk_buf b = TK_BUF_INIT;
    const char *openid, *tid;
    int rc;

    if (tk_api_text(req, "openid", TK_OPENID_MAX, false, &openid) <= 0 ||
        tk_api_text(req, "ticket", TK_TICKET_ID_MAX, false, &tid) <= 0) {
        tk_resp_json(resp, TK_API_INPUT, "missing or malformed openid or "
                     "ticket", NULL);
        return 0;
    }
    if (!tk_api_sig_ok(ctx, req, openid_ticket, 2)) {
        tk_resp_json(resp, TK_API_AUTH, "invalid signature", NULL);
        return 0;
    }
    rc = tk_data_owned_ticket(ctx, openid, tid, &t, &a);
    if (rc < 0) {
        return rc;
    }
    if (rc == 0) {
        tk_resp_json(resp, TK_API_LOGIC, "ticket not found", NULL);
        return 0;
    }
    tk_buf_addc(&b, '{');
    tk_api_json_str(&b, "activityName", a.name);
    tk_api_json_str(&b, "place", a.place);
    tk_api_json_str(&b, "activityKey", a.key);
    tk_api_json_str(&b, "uniqueId", t.unique_id);
    tk_api_json_int(&b, "startTime", a.start_time);
    tk_api_json_int(&b, "endTime", a.end_time);
    tk_api_json_int(&b, "currentTime", ctx->now_ms / 1000);
    tk_api_json_int(&b, "status", t.status);
    tk_buf_addc(&b, '}');
    tk_resp_json(resp, TK_API_OK, "ok", tk_buf_str(&b));
    tk_buf_release(&b);
    return 0;
}
