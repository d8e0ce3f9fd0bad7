/*
 * Counters shared by all worker processes: the master maps one anonymous
 * shared region before forking, so respawned and reloaded workers add to
 * the same totals and /metrics in any worker shows the sum over all.
 * Each worker slot has its own cache-line-aligned block (fewer cross-core
 * bounces); updates are relaxed atomic adds, rendering sums the slots.
 *
 * Route indexes are those of the route table (routes.h); index 0 counts
 * requests that matched no route.
 */
#ifndef TK_METRICS_H
#define TK_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define TK_METRICS_ROUTES 32
#define TK_METRICS_SLOTS 256 /* >= the largest fcgi.workers */

struct tk_metrics;

/* Maps the shared region (zeroed). Aborts if the kernel refuses. */
struct tk_metrics *tk_metrics_create(void);
/* Unmaps it; NULL is fine. */
void tk_metrics_destroy(struct tk_metrics *m);

/* One answered request: its route, HTTP status and time in microseconds
 * from the start of its handling to the end of writing. Out-of-range slots
 * and routes are clamped to the last one. */
void tk_metrics_request(struct tk_metrics *m, int slot, int route, int status,
                        int64_t usec);
/* A request answered "busy" by load shedding (counted in requests too). */
void tk_metrics_shed(struct tk_metrics *m, int slot, int route);
/* One round trip on a worker's shared Redis connection (redis.pipeline),
 * carrying calls request threads' exchanges. */
void tk_metrics_redis_batch(struct tk_metrics *m, int slot, uint64_t calls);
/* Master-side events. */
void tk_metrics_worker_restart(struct tk_metrics *m);
void tk_metrics_reload(struct tk_metrics *m);
void tk_metrics_set_workers(struct tk_metrics *m, int n);

/*
 * Appends the Prometheus text exposition of the totals to out. names[i] is
 * the label of route i (names[0] for unmatched requests); n <=
 * TK_METRICS_ROUTES.
 */
void tk_metrics_render(const struct tk_metrics *m, const char *const *names,
                       size_t n, struct tk_buf *out);

#endif
