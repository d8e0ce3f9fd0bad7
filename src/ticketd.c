/*
 * ticketd: the FastCGI application. This file holds main() only: options,
 * configuration check (-t) and the hand-over to the server.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "app.h"
#include "conf.h"
#include "log.h"
#include "server.h"

static void
usage(FILE *out)
{
    fprintf(out, "usage: ticketd [-t] [-c CONFIG]\n"
                 "  -c CONFIG  configuration file "
                 "(default /etc/ticketd/ticketd.conf)\n"
                 "  -t         check the configuration and exit\n");
}

int
main(int argc, char **argv)
{
    const char *path = "/etc/ticketd/ticketd.conf";
    struct tk_conf conf;
    bool test = false;
    int c;

    tk_log_set_ident("ticketd");
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
        fprintf(stderr, "ticketd: configuration %s has errors\n", path);
        return 1;
    }
    if (test) {
        printf("ticketd: configuration %s is ok\n", path);
        tk_conf_release(&conf);
        return 0;
    }
    return tk_server_run(path, &conf, &tk_app_hooks);
}
