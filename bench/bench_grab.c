/*
 * Grabs per second of the tk_grab function from C clients, against the
 * stack in $TK_DIR: T threads, one connection each, no pipelining (one
 * request, one round trip, as a request thread does it).
 *   bench_grab [THREADS [SECONDS]]
 * Phase 1: every grab succeeds (distinct students, large stock: writes,
 * an event, AOF fsync). Phase 2: the activity is sold out (reads only).
 * FLUSHALLs the stack's Redis: never point it at real data.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "redis.h"
#include "util.h"

static struct tk_conf conf;
static atomic_bool stop;

struct worker {
    pthread_t thread;
    int index;
    int64_t act;
    uint64_t grabs;
    uint64_t ok;
    uint64_t errors;
    uint64_t round_trips;
};

static void *
run(void *p)
{
    struct worker *w = p;
    struct tk_redis *r = tk_redis_new(&conf);
    struct tk_redis_result res;
    char sid[TK_SID_MAX + 1];
    uint64_t rt0;

    if (tk_redis_open(r) < 0) {
        w->errors++;
        tk_redis_free(r);
        return NULL;
    }
    rt0 = tk_redis_round_trips(r);
    while (!atomic_load(&stop)) {
        snprintf(sid, sizeof(sid), "b%d-%" PRIu64, w->index, w->grabs);
        if (tk_redis_grab(r, w->act, sid, NULL, 0, &res) < 0) {
            w->errors++;
        } else if (res.outcome == TK_GRAB_OK) {
            w->ok++;
        }
        w->grabs++;
    }
    w->round_trips = tk_redis_round_trips(r) - rt0;
    tk_redis_free(r);
    return NULL;
}

static int
phase(const char *name, int64_t act, int threads, int seconds)
{
    struct worker *w = calloc((size_t)threads, sizeof(*w));
    uint64_t grabs = 0, ok = 0, errors = 0, rt = 0;
    int64_t t0, t1;

    atomic_store(&stop, false);
    t0 = tk_mono_ms();
    for (int i = 0; i < threads; i++) {
        w[i].index = i;
        w[i].act = act;
        pthread_create(&w[i].thread, NULL, run, &w[i]);
    }
    for (int64_t end = t0 + seconds * 1000; tk_mono_ms() < end;) {
        struct timespec ts = { 0, 50 * 1000000L };

        nanosleep(&ts, NULL);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < threads; i++) {
        pthread_join(w[i].thread, NULL);
        grabs += w[i].grabs;
        ok += w[i].ok;
        errors += w[i].errors;
        rt += w[i].round_trips;
    }
    t1 = tk_mono_ms();
    printf("%-10s threads=%d grabs=%" PRIu64 " ok=%" PRIu64
           " errors=%" PRIu64 " grabs/s=%.0f round-trips/grab=%.3f\n",
           name, threads, grabs, ok, errors,
           (double)grabs * 1000.0 / (double)(t1 - t0),
           grabs > 0 ? (double)rt / (double)grabs : 0.0);
    free(w);
    return errors == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 4;
    int seconds = argc > 2 ? atoi(argv[2]) : 5;
    char path[4096];
    const char *dir = getenv("TK_DIR");
    struct tk_redis *r;
    struct tk_redis_reply *reply = NULL;
    int rc = 0;

    if (dir == NULL || threads < 1 || threads > 256 || seconds < 1) {
        fprintf(stderr, "usage: TK_DIR=STACK bench_grab [THREADS [SECONDS]]\n");
        return 2;
    }
    snprintf(path, sizeof(path), "%s/ticketd.conf", dir);
    if (tk_conf_load(&conf, path, stderr) != 0) {
        return 1;
    }
    r = tk_redis_new(&conf);
    if (tk_redis_cmd(r, &reply, "FLUSHALL", NULL) < 0 ||
        tk_redis_functions_ensure(r, NULL) < 0 ||
        tk_redis_load(r, 1, true, 100000000, NULL, 0, NULL, NULL) < 0 ||
        tk_redis_load(r, 2, true, 0, NULL, 0, NULL, NULL) < 0) {
        rc = 1;
        goto out;
    }
    rc |= phase("success", 1, threads, seconds);
    rc |= phase("sold-out", 2, threads, seconds);

out:
    tk_redis_reply_free(reply);
    tk_redis_free(r);
    tk_conf_release(&conf);
    return rc;
}
