/*
 * The process model. A master opens the listen socket (the configured unix
 * path or host:port, or fd 3 under systemd socket activation, or fd 0 under
 * spawn-fcgi), maps the shared metrics and forks fcgi.workers workers of
 * fcgi.threads threads each. It respawns a worker that dies (backoff up to
 * 10 s when workers die young), and handles every signal itself:
 *   SIGTERM, SIGINT  stop: no new connections, finish what was accepted,
 *                    exit within fcgi.stop_timeout_ms
 *   SIGHUP           reload: check the file again; if it is valid, start a
 *                    new generation of workers with it and retire the old
 *                    ones gracefully; if not, keep everything as it is
 * Workers block every signal in every thread; their main thread waits for
 * the master's SIGTERM (drain the queue, then stop) or SIGQUIT (stop
 * accepting now: the new generation takes the queue).
 */
#ifndef TK_SERVER_H
#define TK_SERVER_H

#include "conf.h"
#include "ctx.h"
#include "metrics.h"

/*
 * Runs until stopped; returns the process exit status. conf (loaded from
 * path) is taken over and released; path is read again on SIGHUP. hooks
 * may be NULL (no data layer: /readyz reports "not configured").
 */
int tk_server_run(const char *path, struct tk_conf *conf,
                  const struct tk_hooks *hooks);

/* What a worker process needs from its master (server.c -> worker.c). */
struct tk_worker_args {
    const struct tk_conf *conf;
    const struct tk_hooks *hooks;
    struct tk_metrics *metrics;
    int listen_fd;
    int slot;
    int master_pid;
};

/* The body of a worker process; never returns. */
void tk_worker_main(const struct tk_worker_args *args)
    __attribute__((noreturn));

#endif
