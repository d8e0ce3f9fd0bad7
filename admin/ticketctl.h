/*
 * ticketctl: the admin CLI. One table of commands (ticketctl.c); each
 * top-level command lives in admin/cmd_<name>.c and may dispatch its own
 * subcommands with tk_ctl_dispatch().
 *
 * Exit codes: 0 success, 1 a check found a problem, 2 usage error, and the
 * sysexits codes (EX_DATAERR, EX_NOINPUT, EX_UNAVAILABLE, EX_SOFTWARE,
 * EX_CONFIG, ...) for the rest.
 */
#ifndef TK_TICKETCTL_H
#define TK_TICKETCTL_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sysexits.h>

#include "conf.h"
#include "model.h"
#include "util.h"

#define TK_EXIT_OK 0
#define TK_EXIT_PROBLEM 1
#define TK_EXIT_USAGE 2

struct tk_store;
struct tk_redis;
struct tk_ctl_cleanup;

struct tk_ctl {
    const char *conf_path;
    struct tk_conf conf;
    bool conf_loaded;
    bool quiet;
    /* Connections opened on demand by the commands that need them;
     * forward-declared to keep this header library-free. */
    struct tk_store *store;
    struct tk_redis *redis;
    /* Cleanups run by main() after the command, newest first. */
    struct tk_ctl_cleanup *cleanups;
};

struct tk_ctl_cmd {
    const char *name;
    int (*run)(struct tk_ctl *ctl, int argc, char **argv);
    const char *usage;   /* "activity create -f FILE.yaml" ... one per line */
    const char *summary; /* one line */
};

/* Loads the configuration once; returns 0 or EX_CONFIG after printing
 * every error. */
int tk_ctl_conf(struct tk_ctl *ctl);

/* Runs argv[0] from table (n entries), printing usage for unknown names.
 * prefix names the parent command in messages ("activity"). */
int tk_ctl_dispatch(struct tk_ctl *ctl, const struct tk_ctl_cmd *table,
                    size_t n, const char *prefix, int argc, char **argv);

/* Registers fn(arg) to run when the command has finished. */
void tk_ctl_on_close(struct tk_ctl *ctl, void (*fn)(void *), void *arg);

/* Runs and forgets the registered cleanups (main() calls it). */
void tk_ctl_close(struct tk_ctl *ctl);

/*
 * getopt() for a command's own options: optstring as for getopt() (without
 * a leading '+'); "-c CONFIG" is accepted everywhere and handled here.
 * Returns the option character, '?' for a bad option, -1 at the end.
 */
int tk_ctl_getopt(struct tk_ctl *ctl, int argc, char **argv,
                  const char *optstring);

/* tk_ctl_getopt() with long options as for getopt_long() (flag NULL, val
 * the character returned). */
int tk_ctl_getopt_long(struct tk_ctl *ctl, int argc, char **argv,
                       const char *optstring, const struct option *longopts);

/* Prints "usage: ticketctl <usage>" for cmd to stderr; returns 2. */
int tk_ctl_usage(const struct tk_ctl_cmd *cmd);

/* Connects ctl->store on first use (freed by tk_ctl_close()); returns 0
 * or EX_CONFIG / EX_UNAVAILABLE after saying why. */
int tk_ctl_store(struct tk_ctl *ctl, struct tk_store **out);

/* Connects ctl->redis on first use and makes sure the functions library
 * is loaded (freed by tk_ctl_close()); returns 0 or EX_CONFIG /
 * EX_UNAVAILABLE after saying why. */
int tk_ctl_redis(struct tk_ctl *ctl, struct tk_redis **out);

/* Parses arg as an activity id and reads it (not deleted) into a;
 * returns 0, or the exit code after saying why (2 for a malformed id,
 * EX_DATAERR unknown or deleted, EX_UNAVAILABLE). */
int tk_ctl_activity(struct tk_ctl *ctl, const char *arg,
                    struct tk_activity *a);

/* Loads a (not deleted) into Redis unless it is there, fills its
 * caches and prints "ID KEY total T remain R holders H loaded|already
 * loaded". Returns 0 or an exit code (cmd_preheat.c). */
int tk_ctl_preheat_one(struct tk_ctl *ctl, const struct tk_activity *a);

/* The ids of every activity in Redis (tk:streams) or in MariaDB (not
 * deleted), ascending; *out is freed by the caller. Returns 0 or an exit
 * code (cmd_reconcile.c). */
int tk_ctl_activity_ids(struct tk_ctl *ctl, int64_t **out, size_t *n);

/* The commands. */
int tk_cmd_activity(struct tk_ctl *ctl, int argc, char **argv);
int tk_cmd_admin(struct tk_ctl *ctl, int argc, char **argv);
int tk_cmd_checkin(struct tk_ctl *ctl, int argc, char **argv);
int tk_cmd_conf(struct tk_ctl *ctl, int argc, char **argv);
int tk_cmd_db(struct tk_ctl *ctl, int argc, char **argv);
int tk_cmd_deadletter(struct tk_ctl *ctl, int argc, char **argv);
int tk_cmd_menu(struct tk_ctl *ctl, int argc, char **argv);
int tk_cmd_preheat(struct tk_ctl *ctl, int argc, char **argv);
int tk_cmd_rebuild(struct tk_ctl *ctl, int argc, char **argv);
int tk_cmd_reconcile(struct tk_ctl *ctl, int argc, char **argv);
int tk_cmd_stats(struct tk_ctl *ctl, int argc, char **argv);
int tk_cmd_user(struct tk_ctl *ctl, int argc, char **argv);
int tk_cmd_verify(struct tk_ctl *ctl, int argc, char **argv);

#endif
