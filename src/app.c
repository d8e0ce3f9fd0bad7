/*
 * The data layer's side of the per-thread context. Handles are created on
 * first use rather than when the thread starts, so a worker comes up (and
 * /healthz answers) while Redis or MariaDB is still starting; both handles
 * reconnect by themselves after errors, so they are never replaced here.
 *
 * The process-wide caches are made by the first request that needs them,
 * after the fork: each worker process gets its own. So is the Redis
 * connection its threads share when redis.pipeline is on (each thread
 * still has a handle of its own on it; see tk_redis_mux in redis.h).
 */
#include "app.h"

#include <pthread.h>
#include <stdbool.h>

#include "cache.h"
#include "metrics.h"
#include "redis.h"
#include "store.h"
#include "util.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool functions_ready;   /* under lock */
static struct tk_cache *cache; /* under lock, then read-only */
static struct tk_cache_local *local;
static struct tk_redis_mux *mux; /* under lock; redis.pipeline */
static struct {
    struct tk_metrics *metrics;
    int slot;
} mux_metrics; /* set with mux */

/* Loads the functions library once per process. Holding the lock while
 * talking to Redis makes the other threads of a starting worker wait for
 * the one that loads, instead of all racing to FUNCTION LOAD. */
static void
functions_ensure(struct tk_redis *r)
{
    if (__atomic_load_n(&functions_ready, __ATOMIC_ACQUIRE)) {
        return;
    }
    pthread_mutex_lock(&lock);
    if (!functions_ready && tk_redis_functions_ensure(r, NULL) == 0) {
        __atomic_store_n(&functions_ready, true, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&lock);
}

/* Each round trip of the shared connection, counted in /metrics. */
static void
count_batch(void *arg, size_t calls)
{
    (void)arg;
    if (mux_metrics.metrics != NULL) {
        tk_metrics_redis_batch(mux_metrics.metrics, mux_metrics.slot, calls);
    }
}

/* The process's shared connection, made after the fork by the first
 * thread that needs it; kept until the process exits. */
static struct tk_redis *
redis_new(const struct tk_ctx *ctx)
{
    struct tk_redis *r;

    if (!ctx->conf->redis.pipeline) {
        return tk_redis_new(ctx->conf);
    }
    pthread_mutex_lock(&lock);
    if (mux == NULL) {
        mux_metrics.metrics = ctx->metrics;
        mux_metrics.slot = ctx->worker;
        mux = tk_redis_mux_new(ctx->conf, count_batch, NULL);
    }
    r = tk_redis_new_shared(mux);
    pthread_mutex_unlock(&lock);
    return r;
}

struct tk_redis *
tk_ctx_redis(struct tk_ctx *ctx)
{
    if (ctx->redis == NULL) {
        ctx->redis = redis_new(ctx);
    }
    functions_ensure(ctx->redis);
    return ctx->redis;
}

struct tk_store *
tk_ctx_store(struct tk_ctx *ctx)
{
    if (ctx->store == NULL) {
        ctx->store = tk_store_new(ctx->conf);
    }
    return ctx->store;
}

static void
caches_init(const struct tk_conf *conf)
{
    pthread_mutex_lock(&lock);
    if (cache == NULL) {
        struct tk_cache *c = tk_xcalloc(1, sizeof(*c));

        tk_cache_init(c, conf);
        local = tk_cache_local_new(conf);
        __atomic_store_n(&cache, c, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&lock);
}

struct tk_cache *
tk_ctx_cache(struct tk_ctx *ctx)
{
    if (__atomic_load_n(&cache, __ATOMIC_ACQUIRE) == NULL) {
        caches_init(ctx->conf);
    }
    return cache;
}

struct tk_cache_local *
tk_ctx_local(struct tk_ctx *ctx)
{
    (void)tk_ctx_cache(ctx);
    return local;
}

static int
ready_redis(struct tk_ctx *ctx)
{
    return tk_redis_ping(tk_ctx_redis(ctx));
}

static int
ready_store(struct tk_ctx *ctx)
{
    return tk_store_ping(tk_ctx_store(ctx));
}

static void
thread_release(struct tk_ctx *ctx)
{
    tk_redis_free(ctx->redis);
    ctx->redis = NULL;
    tk_store_free(ctx->store);
    ctx->store = NULL;
}

const struct tk_hooks tk_app_hooks = {
    .ready_redis = ready_redis,
    .ready_store = ready_store,
    .thread_release = thread_release,
};
