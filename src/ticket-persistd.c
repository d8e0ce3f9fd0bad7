/*
 * ticket-persistd: writes the activities' order streams to MariaDB. This
 * file holds main() only: options, the configuration check (-t), signals
 * and the hand-over to the loop in persist.c.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
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

static void
usage(FILE *out)
{
    fprintf(out, "usage: ticket-persistd [-t] [-c CONFIG]\n"
                 "  -c CONFIG  configuration file "
                 "(default /etc/ticketd/ticketd.conf)\n"
                 "  -t         check the configuration and exit\n");
}

/* What the persister needs beyond the option table's own checks. */
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
    const char *path = "/etc/ticketd/ticketd.conf";
    struct sigaction sa;
    struct tk_persist *p;
    struct tk_conf conf;
    bool test = false;
    int c, level;

    tk_log_set_ident("ticket-persistd");
    while ((c = getopt(argc, argv, "c:th")) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 't':
            test = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    if (tk_conf_load(&conf, path, stderr) < 0) {
        fprintf(stderr, "ticket-persistd: configuration %s has errors\n",
                path);
        return 1;
    }
    if (!conf_is_usable(&conf, path)) {
        tk_conf_release(&conf);
        return 1;
    }
    if (test) {
        printf("ticket-persistd: configuration %s is ok\n", path);
        tk_conf_release(&conf);
        return 0;
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
