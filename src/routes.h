/*
 * The static route table and the dispatcher that runs one request through
 * it: route lookup (404), body length (411, 400, 413), method (405), body
 * read, load shedding (the route's busy answer), query and body parsing
 * (400 or JSON code 1), then the handler.
 *
 * Route kinds decide how the frame itself answers on a route's behalf:
 *   TK_ROUTE_PLAIN   text/plain errors, 503 when busy (/healthz, /metrics)
 *   TK_ROUTE_PAGE    text/plain errors, 503 when busy (/u/... pages)
 *   TK_ROUTE_JSON    API.md envelope: HTTP 200 with code 1 for bad input,
 *                    -1 for internal errors, {"code":-1,"msg":"busy"}
 *   TK_ROUTE_WECHAT  body left raw (XML); busy answer is the route's
 *                    busy function (a "系统繁忙" reply), "success" if none
 */
#ifndef TK_ROUTES_H
#define TK_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include "ctx.h"
#include "http.h"

enum tk_route_kind {
    TK_ROUTE_PLAIN,
    TK_ROUTE_PAGE,
    TK_ROUTE_JSON,
    TK_ROUTE_WECHAT,
};

#define TK_ROUTE_NO_SHED 0x1u /* always run (health and metrics) */
#define TK_ROUTE_UPLOAD 0x2u  /* body cap is site.upload_max_kb + 64 KiB */

/*
 * A handler fills resp (status, type, body, headers) from req. Memory for
 * the answer comes from ctx->arena or resp's buffers. Returns 0, or a
 * negative errno for an internal failure it has logged; the frame then
 * answers 500 (JSON: code -1) instead of whatever resp holds.
 * A busy function answers from the raw request (the query and body are not
 * parsed yet; req->body is read) and must not do I/O.
 */
struct tk_route {
    const char *path; /* exact match on DOCUMENT_URI */
    unsigned methods; /* TK_M_* mask; GET implies HEAD */
    enum tk_route_kind kind;
    unsigned flags;   /* TK_ROUTE_* */
    int (*handler)(struct tk_ctx *ctx, struct tk_req *req,
                   struct tk_resp *resp);
    void (*busy)(struct tk_ctx *ctx, struct tk_req *req,
                 struct tk_resp *resp); /* NULL: the kind's default */
};

/* The table ticketd serves; *n gets its length. */
const struct tk_route *tk_routes(size_t *n);

/* Metrics labels: [0] "unmatched", [i + 1] the path of route i. *n gets the
 * count (routes + 1). */
const char *const *tk_route_names(size_t *n);

struct tk_dispatch {
    int route; /* metrics index: 0 unmatched, i + 1 for route i */
    bool shed; /* answered busy */
};

/*
 * Runs req through table[0..n) into resp. ctx->conf and ctx->now_ms must be
 * set. Never fails: every outcome is an answer in resp.
 */
void tk_dispatch(const struct tk_route *table, size_t n, struct tk_ctx *ctx,
                 struct tk_req *req, struct tk_resp *resp,
                 struct tk_dispatch *out);

/* The handlers of the frame (handlers.c, page_help.c). */
int tk_h_healthz(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp);
int tk_h_readyz(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp);
int tk_h_metrics(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp);
int tk_page_help(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp);

#endif
