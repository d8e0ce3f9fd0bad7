/*
 * One request through the route table. The order matters: everything that
 * can be refused without reading the body is refused first (unknown path,
 * missing or excessive length, wrong method; the length first so that a
 * client sending too much learns that whatever the route), and the
 * shedding decision is taken before any parsing or I/O a handler would do.
 */
#include "routes.h"

#include <string.h>

#include "log.h"

static const struct tk_route *
find(const struct tk_route *table, size_t n, const char *path, int *index)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(table[i].path, path) == 0) {
            *index = (int)i + 1;
            return &table[i];
        }
    }
    *index = 0;
    return NULL;
}

static void
allow_header(const struct tk_route *r, struct tk_resp *resp)
{
    char allow[32] = "";

    if (r->methods & TK_M_GET) {
        strcat(allow, "GET, HEAD");
    }
    if (r->methods & TK_M_POST) {
        strcat(allow, allow[0] != '\0' ? ", POST" : "POST");
    }
    (void)tk_resp_header(resp, "Allow", allow);
}

/* A refusal of the frame's own: JSON routes keep their envelope for input
 * errors (code 1, HTTP 200) as API.md requires; protocol-level refusals
 * (405, 411, 413) are HTTP statuses on every kind. */
static void
bad_input(const struct tk_route *r, struct tk_resp *resp, const char *msg)
{
    if (r->kind == TK_ROUTE_JSON) {
        tk_resp_json(resp, 1, msg, NULL);
    } else {
        tk_resp_error(resp, 400);
    }
}

static void
busy(const struct tk_route *r, struct tk_ctx *ctx, struct tk_req *req,
     struct tk_resp *resp)
{
    if (r->busy != NULL) {
        r->busy(ctx, req, resp);
        return;
    }
    switch (r->kind) {
    case TK_ROUTE_JSON:
        tk_resp_json(resp, -1, "busy", NULL);
        break;
    case TK_ROUTE_WECHAT:
        /* WeChat reads "success" as "no reply" and does not retry. */
        tk_resp_text(resp, 200, "text/plain; charset=utf-8", "success");
        break;
    case TK_ROUTE_PLAIN:
    case TK_ROUTE_PAGE:
        tk_resp_error(resp, 503);
        (void)tk_resp_header(resp, "Retry-After", "1");
        break;
    }
}

static size_t
body_cap(const struct tk_route *r, const struct tk_conf *conf)
{
    if (r->flags & TK_ROUTE_UPLOAD) {
        return ((size_t)conf->site.upload_max_kb + 64) * 1024;
    }
    return (size_t)conf->fcgi.max_body_kb * 1024;
}

void
tk_dispatch(const struct tk_route *table, size_t n, struct tk_ctx *ctx,
            struct tk_req *req, struct tk_resp *resp, struct tk_dispatch *out)
{
    const struct tk_route *r = find(table, n, req->path, &out->route);
    unsigned allowed;

    out->shed = false;
    if (r == NULL) {
        tk_resp_error(resp, 404);
        return;
    }
    if (req->content_length == -2) {
        tk_resp_error(resp, 400);
        return;
    }
    if (req->method == TK_M_POST && req->content_length == -1) {
        tk_resp_error(resp, 411);
        return;
    }
    if (req->content_length > (int64_t)body_cap(r, ctx->conf)) {
        tk_resp_error(resp, 413);
        return;
    }
    allowed = r->methods | ((r->methods & TK_M_GET) ? TK_M_HEAD : 0);
    if (!(allowed & req->method)) {
        tk_resp_error(resp, 405);
        allow_header(r, resp);
        return;
    }
    if (req->content_length > 0 && tk_req_read_body(req) < 0) {
        /* The web server hung up; nobody reads this answer. */
        tk_resp_error(resp, 400);
        return;
    }
    if (!(r->flags & TK_ROUTE_NO_SHED) &&
        tk_http_is_stale(req->start_ms, ctx->now_ms,
                         ctx->conf->fcgi.shed_after_ms)) {
        out->shed = true;
        busy(r, ctx, req, resp);
        return;
    }
    if (tk_req_parse_query(req) < 0) {
        bad_input(r, resp, "malformed query string");
        return;
    }
    if (r->kind != TK_ROUTE_WECHAT && req->method == TK_M_POST &&
        tk_req_parse_body(req) < 0) {
        bad_input(r, resp, "malformed body");
        return;
    }
    if (r->handler(ctx, req, resp) < 0) {
        tk_resp_reset(resp);
        if (r->kind == TK_ROUTE_JSON) {
            tk_resp_json(resp, -1, "internal error", NULL);
        } else {
            tk_resp_error(resp, 500);
        }
    }
}
