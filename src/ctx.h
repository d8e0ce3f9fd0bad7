/*
 * The per-thread context every handler receives. Each worker thread owns
 * exactly one tk_ctx for its whole life; nothing in it is shared with other
 * threads except the read-only configuration and the shared metrics.
 *
 * Contract for the data layer (redis.c, store.c and the code that wires
 * them in):
 *   - ctx->redis and ctx->store start NULL. They are opened lazily, on the
 *     first request that needs them, by accessor functions the data layer
 *     defines in its own file (e.g. tk_ctx_redis(ctx)), which store the
 *     handle here and replace it after an error. The frame never touches
 *     them.
 *   - hooks->thread_release(ctx), if set, is called once when the thread
 *     stops, to close them. A handler must not keep pointers into the
 *     arena across requests.
 *   - hooks->ready_redis / ready_store back /readyz: return 0 when the
 *     server answered a ping through this thread's connection, <0 when
 *     not. A NULL hook is reported as "not configured" (and /readyz is then
 *     503).
 * The hooks are given to tk_server_run() by main() and never change.
 */
#ifndef TK_CTX_H
#define TK_CTX_H

#include <stdint.h>

#include "arena.h"
#include "conf.h"

struct tk_redis;
struct tk_store;
struct tk_metrics;
struct tk_ctx;

struct tk_hooks {
    int (*ready_redis)(struct tk_ctx *ctx);
    int (*ready_store)(struct tk_ctx *ctx);
    void (*thread_release)(struct tk_ctx *ctx);
};

struct tk_ctx {
    const struct tk_conf *conf;   /* the worker's generation; read-only */
    const struct tk_hooks *hooks; /* never NULL; members may be */
    struct tk_arena *arena;       /* reset after every request */
    struct tk_redis *redis;       /* lazily opened by the data layer */
    struct tk_store *store;       /* lazily opened by the data layer */
    struct tk_metrics *metrics;   /* shared across the worker processes */
    int worker;                   /* the worker's slot, 0..workers-1 */
    int thread;                   /* the thread's index in its worker */
    int64_t now_ms;               /* wall clock when the request started */
};

#endif
