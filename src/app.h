/*
 * The data layer as handlers see it: the per-thread Redis and MariaDB
 * handles of a struct tk_ctx (opened lazily, see ctx.h), the per-process
 * caches, and the hooks main() gives to tk_server_run().
 *
 * Ownership: every pointer returned here belongs to the data layer. The
 * thread's handles live until the thread stops (tk_app_hooks's
 * thread_release frees them); the process-wide caches live until the
 * process exits. None of the accessors does I/O except where noted, and
 * none returns NULL.
 */
#ifndef TK_APP_H
#define TK_APP_H

#include "ctx.h"

struct tk_cache;
struct tk_cache_local;

/*
 * The thread's Redis connection (created on first use; it connects and
 * heals itself, redis.h). The first call in each process also makes sure
 * the server holds our functions library (tk_redis_functions_ensure);
 * a failure there is logged and tried again by the next first call, so a
 * Redis that was down at start-up is picked up when it comes back.
 */
struct tk_redis *tk_ctx_redis(struct tk_ctx *ctx);

/* The thread's MariaDB connection (created on first use; store.h). */
struct tk_store *tk_ctx_store(struct tk_ctx *ctx);

/* The process's cache-aside settings and counters (cache.h), taken from
 * the conf of the first caller. */
struct tk_cache *tk_ctx_cache(struct tk_ctx *ctx);

/* The process's worker-local activity cache and sold-out flags. */
struct tk_cache_local *tk_ctx_local(struct tk_ctx *ctx);

/*
 * ready_redis (PING), ready_store (a server round trip) for /readyz, and
 * thread_release (frees the thread's handles). For tk_server_run().
 */
extern const struct tk_hooks tk_app_hooks;

#endif
