#include "daemon.h"

#include <getopt.h>
#include <stdio.h>

#include "log.h"

static void
usage(FILE *out, const char *name)
{
    fprintf(out,
            "usage: %s [-t] [-c CONFIG]\n"
            "  -c CONFIG  configuration file "
            "(default /etc/ticketd/ticketd.conf)\n"
            "  -t         check the configuration and exit\n",
            name);
}

int
tk_daemon_start(int argc, char **argv, const char *name,
                struct tk_conf *conf,
                bool (*usable)(const struct tk_conf *conf, const char *path))
{
    const char *path = "/etc/ticketd/ticketd.conf";
    bool test = false;
    int c;

    tk_log_set_ident(name);
    while ((c = getopt(argc, argv, "c:th")) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 't':
            test = true;
            break;
        case 'h':
            usage(stdout, name);
            return 0;
        default:
            usage(stderr, name);
            return 2;
        }
    }
    if (optind != argc) {
        usage(stderr, name);
        return 2;
    }
    if (tk_conf_load(conf, path, stderr) < 0) {
        fprintf(stderr, "%s: configuration %s has errors\n", name, path);
        return 1;
    }
    if (usable != NULL && !usable(conf, path)) {
        tk_conf_release(conf);
        return 1;
    }
    if (test) {
        printf("%s: configuration %s is ok\n", name, path);
        tk_conf_release(conf);
        return 0;
    }
    return -1;
}
