/*
 * A worker process: T threads, each with its own FastCGI slot, arena and
 * response buffers, accepting on the shared listen socket. The main thread
 * only waits for signals.
 *
 * Stopping without signals in the threads: the listen socket carries a
 * receive timeout (server.c), so an idle thread comes back from accept()
 * every LISTEN_TIMEOUT_MS and looks at stop_mode. No signal is ever sent
 * to a thread, so no read or write of a request in flight can be
 * interrupted (libfcgi does not retry EINTR).
 */
#include "server.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "buf.h"
#include "fcgi.h"
#include "http.h"
#include "log.h"
#include "routes.h"
#include "util.h"

enum stop_mode {
    RUN = 0,
    DRAIN = 1,  /* accept until the queue is empty, then stop */
    RETIRE = 2, /* stop accepting at once */
};

/* How long libfcgi lingers after a response for the web server's close.
 * nginx closes right after the end record (keep_conn off), so this is a
 * bound on a misbehaving peer, not a cost per request. */
#define CLOSE_POLL_MS 100

static int stop_mode;

struct thread {
    pthread_t tid;
    bool started;
    const struct tk_worker_args *args;
    struct tk_ctx ctx;
    struct tk_arena arena;
    struct tk_resp resp;
    struct tk_buf head;
    struct tk_fcgi *fcgi;
};

static int64_t
mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
serve(struct thread *t, const struct tk_route *routes, size_t n_routes)
{
    struct tk_req req;
    struct tk_dispatch d;
    int64_t t0 = mono_us();

    t->ctx.now_ms = tk_now_ms();
    tk_req_init(&req, &t->arena, tk_fcgi_params(t->fcgi));
    req.reader.read = tk_fcgi_read;
    req.reader.io = t->fcgi;
    tk_resp_reset(&t->resp);
    tk_dispatch(routes, n_routes, &t->ctx, &req, &t->resp, &d);
    tk_buf_reset(&t->head);
    tk_resp_head(&t->resp, &t->head);
    /* A failed write means nginx went away; nothing to tell anyone. */
    if (tk_fcgi_write(t->fcgi, t->head.data, t->head.len) == 0 &&
        req.method != TK_M_HEAD && t->resp.body.len > 0) {
        (void)tk_fcgi_write(t->fcgi, t->resp.body.data, t->resp.body.len);
    }
    tk_metrics_request(t->ctx.metrics, t->ctx.worker, d.route,
                       t->resp.status, mono_us() - t0);
    if (d.shed) {
        tk_metrics_shed(t->ctx.metrics, t->ctx.worker, d.route);
    }
    tk_fcgi_finish(t->fcgi);
    tk_arena_reset(&t->arena);
}

static void *
thread_main(void *arg)
{
    struct thread *t = arg;
    size_t n_routes;
    const struct tk_route *routes = tk_routes(&n_routes);
    bool complained = false;

    for (;;) {
        int mode = __atomic_load_n(&stop_mode, __ATOMIC_ACQUIRE);
        int rc;

        if (mode == RETIRE) {
            break;
        }
        rc = tk_fcgi_accept(t->fcgi);
        if (rc == 0) {
            serve(t, routes, n_routes);
            continue;
        }
        if (rc == -EAGAIN || rc == -EWOULDBLOCK || rc == -EINTR) {
            if (mode == DRAIN) {
                break; /* idle for a whole timeout: the queue is empty */
            }
            continue;
        }
        if (mode != RUN) {
            break;
        }
        if (!complained) {
            tk_err("accept failed: %s (worker %d thread %d)", strerror(-rc),
                   t->ctx.worker, t->ctx.thread);
            complained = true;
        }
        usleep(100 * 1000);
    }
    if (t->ctx.hooks->thread_release != NULL) {
        t->ctx.hooks->thread_release(&t->ctx);
    }
    return NULL;
}

static void
thread_init(struct thread *t, const struct tk_worker_args *a, int index)
{
    static const struct tk_hooks no_hooks;

    memset(t, 0, sizeof(*t));
    t->args = a;
    /* Room for a whole capped body plus the parsing that follows it, so a
     * request never needs a second chunk. */
    tk_arena_init(&t->arena, (size_t)a->conf->fcgi.max_body_kb * 1024 * 2 +
                                 16384);
    tk_resp_init(&t->resp);
    tk_buf_init(&t->head);
    t->fcgi = tk_fcgi_new(a->listen_fd);
    t->ctx.conf = a->conf;
    t->ctx.hooks = a->hooks != NULL ? a->hooks : &no_hooks;
    t->ctx.arena = &t->arena;
    t->ctx.metrics = a->metrics;
    t->ctx.worker = a->slot;
    t->ctx.thread = index;
}

static void
thread_release(struct thread *t)
{
    tk_fcgi_free(t->fcgi);
    tk_arena_release(&t->arena);
    tk_resp_release(&t->resp);
    tk_buf_release(&t->head);
}

/* Waits for a stop signal; returns the mode it asks for. */
static int
wait_for_stop(int master_pid)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGQUIT);
    for (;;) {
        struct timespec ts = {1, 0};
        int sig = sigtimedwait(&set, NULL, &ts);

        if (sig == SIGTERM || sig == SIGINT) {
            return DRAIN;
        }
        if (sig == SIGQUIT) {
            return RETIRE;
        }
        /* The master is gone (and PR_SET_PDEATHSIG raced us): stop. */
        if (getppid() != master_pid) {
            return RETIRE;
        }
    }
}

void
tk_worker_main(const struct tk_worker_args *a)
{
    int nthreads = a->conf->fcgi.threads;
    struct thread *threads = tk_xcalloc((size_t)nthreads, sizeof(*threads));
    sigset_t all;
    struct timespec deadline;
    int mode, stuck = 0;

    /* Every signal is blocked in every thread (they inherit this mask);
     * this thread takes the ones that matter with sigtimedwait. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* A worker whose master died must not go on alone. */
    prctl(PR_SET_PDEATHSIG, SIGQUIT);
    if (getppid() != a->master_pid) {
        _exit(0);
    }
    if (tk_fcgi_init(CLOSE_POLL_MS) < 0) {
        _exit(1);
    }
    for (int i = 0; i < nthreads; i++) {
        thread_init(&threads[i], a, i);
        if (pthread_create(&threads[i].tid, NULL, thread_main, &threads[i]) !=
            0) {
            tk_err("pthread_create failed: worker %d started %d of %d "
                   "threads",
                   a->slot, i, nthreads);
            break;
        }
        threads[i].started = true;
    }
    mode = wait_for_stop(a->master_pid);
    __atomic_store_n(&stop_mode, mode, __ATOMIC_RELEASE);
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += a->conf->fcgi.stop_timeout_ms / 1000;
    deadline.tv_nsec += (long)(a->conf->fcgi.stop_timeout_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    for (int i = 0; i < nthreads; i++) {
        if (threads[i].started &&
            pthread_timedjoin_np(threads[i].tid, NULL, &deadline) != 0) {
            stuck++;
        }
    }
    if (stuck > 0) {
        tk_warn("stop timed out: worker %d leaves %d requests unfinished",
                a->slot, stuck);
        _exit(1);
    }
    for (int i = 0; i < nthreads; i++) {
        thread_release(&threads[i]);
    }
    free(threads);
    /* _exit: the master's atexit handlers and stdio are not ours. */
    _exit(0);
}
