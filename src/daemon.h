/*
 * The command line both daemons share: NAME [-t] [-c CONFIG] [-h].
 */
#ifndef TK_DAEMON_H
#define TK_DAEMON_H

#include <stdbool.h>

#include "conf.h"

/*
 * Parses the options, loads the configuration into conf and runs usable()
 * on it when given (it reports its own errors). Returns -1 when the daemon
 * should run (conf is loaded; the caller releases it), otherwise the exit
 * code: 0 for -h and for a good -t, 1 for a bad configuration, 2 for a
 * usage error.
 */
int tk_daemon_start(int argc, char **argv, const char *name,
                    struct tk_conf *conf,
                    bool (*usable)(const struct tk_conf *conf,
                                   const char *path));

#endif
