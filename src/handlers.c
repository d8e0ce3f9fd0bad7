/*
 * The frame's own routes: liveness, readiness and metrics.
 */
#include "routes.h"

#include "metrics.h"

int
tk_h_healthz(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    (void)ctx;
    (void)req;
    /* No I/O, no formatting: the ceiling of what the frame can serve. */
    tk_resp_text(resp, 200, "text/plain", "ok\n");
    return 0;
}

/* One readiness line; returns whether the dependency is ready. */
static bool
probe(struct tk_ctx *ctx, struct tk_resp *resp, const char *name,
      int (*hook)(struct tk_ctx *))
{
    if (hook == NULL) {
        tk_buf_printf(&resp->body, "%s: not configured\n", name);
        return false;
    }
    if (hook(ctx) < 0) {
        tk_buf_printf(&resp->body, "%s: unreachable\n", name);
        return false;
    }
    tk_buf_printf(&resp->body, "%s: ok\n", name);
    return true;
}

int
tk_h_readyz(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    bool redis_ok, store_ok;

    (void)req;
    tk_resp_text(resp, 200, "text/plain", "");
    redis_ok = probe(ctx, resp, "redis", ctx->hooks->ready_redis);
    store_ok = probe(ctx, resp, "mariadb", ctx->hooks->ready_store);
    resp->status = redis_ok && store_ok ? 200 : 503;
    return 0;
}

int
tk_h_metrics(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    size_t n;
    const char *const *names = tk_route_names(&n);

    (void)req;
    tk_resp_text(resp, 200, "text/plain; version=0.0.4", "");
    tk_metrics_render(ctx->metrics, names, n, &resp->body);
    return 0;
}
