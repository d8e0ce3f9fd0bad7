/*
 * ticket-persistd: writes the activities' order streams to MariaDB. This
 * file holds main() only: options, the configuration check (-t), signals
 * and the hand-over to the loop in persist.c.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "daemon.h"
#include "log.h"
#include "notify.h"
#include "persist.h"

static volatile sig_atomic_t stop_requested;

static void
on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static bool
conf_is_usable(const struct tk_conf *conf, const char *path)
{
    if (conf->redis.timeout_ms <= conf->persist.block_ms) {
        fprintf(stderr,
                "ticket-persistd: %s: redis.timeout_ms (%d) must exceed "
                "persist.block_ms (%d), or every blocking read times out\n",
                path, conf->redis.timeout_ms, conf->persist.block_ms);
        return false;
    }
    return true;
}

int
main(int argc, char **argv)
{
    struct sigaction sa;
    struct tk_persist *p;
    struct tk_conf conf;
    int rc, level;

    rc = tk_daemon_start(argc, argv, "ticket-persistd", &conf,
                         conf_is_usable);
    if (rc >= 0) {
        return rc;
    }
    level = tk_log_level_from_name(conf.log.level);
    if (level >= 0) {
        tk_log_set_level((enum tk_log_level)level);
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGHUP, SIG_IGN);

    p = tk_persist_new(&conf, &stop_requested);
    tk_notify_ready();
    tk_persist_run(p);
    tk_notify_stopping();
    tk_info("persist: stopped");
    tk_persist_free(p);
    tk_conf_release(&conf);
    return 0;
}
