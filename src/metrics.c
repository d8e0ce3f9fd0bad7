/*
 * Shared-memory counters. The region is MAP_SHARED | MAP_ANONYMOUS, made by
 * the master before the first fork; pages of slots never used stay
 * untouched and cost nothing.
 */
#include "metrics.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "log.h"
#include "util.h"

/* Upper bounds of the latency buckets, in microseconds. */
static const int64_t bucket_us[] = {
    250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000,
    500000, 1000000, 2500000, 5000000,
};
#define N_BUCKETS TK_ARRAY_SIZE(bucket_us)

/* Status classes 1xx..5xx, and index 0 for anything else. */
#define N_CLASSES 6

struct slot {
    _Alignas(64) uint64_t requests[TK_METRICS_ROUTES][N_CLASSES];
    uint64_t shed[TK_METRICS_ROUTES];
    uint64_t latency[N_BUCKETS + 1]; /* last: above every bound */
    uint64_t latency_sum_us;
    uint64_t redis_batches;
    uint64_t redis_calls;
};

struct tk_metrics {
    _Alignas(64) uint64_t worker_restarts;
    uint64_t reloads;
    uint64_t workers;
    struct slot slots[TK_METRICS_SLOTS];
};

struct tk_metrics *
tk_metrics_create(void)
{
    void *p = mmap(NULL, sizeof(struct tk_metrics), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED) {
        tk_err("mmap failed: cannot map %zu bytes for metrics",
               sizeof(struct tk_metrics));
        abort();
    }
    return p;
}

void
tk_metrics_destroy(struct tk_metrics *m)
{
    if (m != NULL) {
        munmap(m, sizeof(*m));
    }
}

static void
add(uint64_t *p, uint64_t v)
{
    __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

static uint64_t
get(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static struct slot *
slot_of(struct tk_metrics *m, int slot)
{
    if (slot < 0 || slot >= TK_METRICS_SLOTS) {
        slot = TK_METRICS_SLOTS - 1;
    }
    return &m->slots[slot];
}

static int
route_of(int route)
{
    return route < 0 || route >= TK_METRICS_ROUTES ? TK_METRICS_ROUTES - 1
                                                   : route;
}

void
tk_metrics_request(struct tk_metrics *m, int slot, int route, int status,
                   int64_t usec)
{
    struct slot *s = slot_of(m, slot);
    int cls = status >= 100 && status < 600 ? status / 100 : 0;
    size_t b = 0;

    if (usec < 0) {
        usec = 0;
    }
    while (b < N_BUCKETS && usec > bucket_us[b]) {
        b++;
    }
    add(&s->requests[route_of(route)][cls], 1);
    add(&s->latency[b], 1);
    add(&s->latency_sum_us, (uint64_t)usec);
}

void
tk_metrics_shed(struct tk_metrics *m, int slot, int route)
{
    add(&slot_of(m, slot)->shed[route_of(route)], 1);
}

void
tk_metrics_redis_batch(struct tk_metrics *m, int slot, uint64_t calls)
{
    struct slot *s = slot_of(m, slot);

    add(&s->redis_batches, 1);
    add(&s->redis_calls, calls);
}

void
tk_metrics_worker_restart(struct tk_metrics *m)
{
    add(&m->worker_restarts, 1);
}

void
tk_metrics_reload(struct tk_metrics *m)
{
    add(&m->reloads, 1);
}

void
tk_metrics_set_workers(struct tk_metrics *m, int n)
{
    __atomic_store_n(&m->workers, (uint64_t)n, __ATOMIC_RELAXED);
}

void
tk_metrics_render(const struct tk_metrics *m, const char *const *names,
                  size_t n, struct tk_buf *out)
{
    static const char *const classes[N_CLASSES] = {"other", "1xx", "2xx",
                                                   "3xx", "4xx", "5xx"};
    uint64_t lat[N_BUCKETS + 1] = {0};
    uint64_t sum = 0, total = 0, cum = 0;

    n = TK_MIN(n, (size_t)TK_METRICS_ROUTES);
    tk_buf_adds(out, "# HELP ticketd_requests_total Requests answered, by "
                     "route and status class.\n"
                     "# TYPE ticketd_requests_total counter\n");
    for (size_t r = 0; r < n; r++) {
        for (int c = 0; c < N_CLASSES; c++) {
            uint64_t v = 0;

            for (int s = 0; s < TK_METRICS_SLOTS; s++) {
                v += get(&m->slots[s].requests[r][c]);
            }
            if (v > 0) {
                tk_buf_printf(out,
                              "ticketd_requests_total{route=\"%s\","
                              "status=\"%s\"} %llu\n",
                              names[r], classes[c], (unsigned long long)v);
            }
        }
    }
    tk_buf_adds(out, "# HELP ticketd_shed_total Requests answered busy "
                     "because they waited too long.\n"
                     "# TYPE ticketd_shed_total counter\n");
    for (size_t r = 0; r < n; r++) {
        uint64_t v = 0;

        for (int s = 0; s < TK_METRICS_SLOTS; s++) {
            v += get(&m->slots[s].shed[r]);
        }
        if (v > 0) {
            tk_buf_printf(out, "ticketd_shed_total{route=\"%s\"} %llu\n",
                          names[r], (unsigned long long)v);
        }
    }
    for (int s = 0; s < TK_METRICS_SLOTS; s++) {
        for (size_t b = 0; b <= N_BUCKETS; b++) {
            lat[b] += get(&m->slots[s].latency[b]);
        }
        sum += get(&m->slots[s].latency_sum_us);
    }
    tk_buf_adds(out, "# HELP ticketd_request_duration_seconds Time from "
                     "accepting a request to writing its answer.\n"
                     "# TYPE ticketd_request_duration_seconds histogram\n");
    for (size_t b = 0; b <= N_BUCKETS; b++) {
        cum += lat[b];
        if (b < N_BUCKETS) {
            tk_buf_printf(out,
                          "ticketd_request_duration_seconds_bucket{le=\"%g\"}"
                          " %llu\n",
                          (double)bucket_us[b] / 1e6,
                          (unsigned long long)cum);
        } else {
            tk_buf_printf(out,
                          "ticketd_request_duration_seconds_bucket{le=\"+Inf\"}"
                          " %llu\n",
                          (unsigned long long)cum);
        }
    }
    total = cum;
    tk_buf_printf(out,
                  "ticketd_request_duration_seconds_sum %.6f\n"
                  "ticketd_request_duration_seconds_count %llu\n",
                  (double)sum / 1e6, (unsigned long long)total);
    tk_buf_adds(out, "# HELP ticketd_worker_requests_total Requests answered "
                     "by each worker slot (all routes).\n"
                     "# TYPE ticketd_worker_requests_total counter\n");
    for (int s = 0; s < TK_METRICS_SLOTS; s++) {
        uint64_t v = 0;

        for (size_t b = 0; b <= N_BUCKETS; b++) {
            v += get(&m->slots[s].latency[b]);
        }
        if (v > 0) {
            tk_buf_printf(out, "ticketd_worker_requests_total{worker=\"%d\"} "
                               "%llu\n",
                          s, (unsigned long long)v);
        }
    }
    {
        uint64_t batches = 0, calls = 0;

        for (int s = 0; s < TK_METRICS_SLOTS; s++) {
            batches += get(&m->slots[s].redis_batches);
            calls += get(&m->slots[s].redis_calls);
        }
        tk_buf_printf(out,
                      "# HELP ticketd_redis_batches_total Round trips on the "
                      "workers' shared Redis connections.\n"
                      "# TYPE ticketd_redis_batches_total counter\n"
                      "ticketd_redis_batches_total %llu\n"
                      "# HELP ticketd_redis_calls_total Request threads' Redis "
                      "exchanges those round trips carried.\n"
                      "# TYPE ticketd_redis_calls_total counter\n"
                      "ticketd_redis_calls_total %llu\n",
                      (unsigned long long)batches, (unsigned long long)calls);
    }
    tk_buf_printf(out,
                  "# HELP ticketd_worker_restarts_total Workers respawned "
                  "after dying.\n"
                  "# TYPE ticketd_worker_restarts_total counter\n"
                  "ticketd_worker_restarts_total %llu\n"
                  "# HELP ticketd_reloads_total Configurations reloaded.\n"
                  "# TYPE ticketd_reloads_total counter\n"
                  "ticketd_reloads_total %llu\n"
                  "# HELP ticketd_workers Worker processes configured.\n"
                  "# TYPE ticketd_workers gauge\n"
                  "ticketd_workers %llu\n",
                  (unsigned long long)get(&m->worker_restarts),
                  (unsigned long long)get(&m->reloads),
                  (unsigned long long)get(&m->workers));
}
