/* ticketctl db migrate|status: the forward-only migrations in sql/. */
#include <getopt.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "ticketctl.h"

#ifndef TK_SQL_DIR
#define TK_SQL_DIR "/usr/local/share/ticketd/sql"
#endif

static bool
is_dir(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* --sql-dir, else the installed directory, else ./sql. */
static const char *
sql_dir(const char *opt)
{
    if (opt != NULL) {
        return opt;
    }
    if (is_dir(TK_SQL_DIR)) {
        return TK_SQL_DIR;
    }
    return "sql";
}

/*
 * Parses "[-d|--sql-dir DIR]" and opens the store: 0 with *dir and *s set,
 * or the exit code (usage, missing directory, no database).
 */
static int
prepare(struct tk_ctl *ctl, const struct tk_ctl_cmd *self, int argc,
        char **argv, const char **dir, struct tk_store **s)
{
    static const struct option longopts[] = {
        {"sql-dir", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    int c;

    *dir = NULL;
    while ((c = tk_ctl_getopt_long(ctl, argc, argv, "d:", longopts)) != -1) {
        if (c != 'd') {
            return tk_ctl_usage(self);
        }
        *dir = optarg;
    }
    if (optind != argc) {
        return tk_ctl_usage(self);
    }
    *dir = sql_dir(*dir);
    if (!is_dir(*dir)) {
        fprintf(stderr, "ticketctl: no migrations directory '%s'\n", *dir);
        return EX_NOINPUT;
    }
    return tk_ctl_store(ctl, s);
}

static int
db_migrate(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd self = {
        "migrate", db_migrate, "db migrate [--sql-dir DIR]", ""};
    struct tk_store *s;
    const char *dir;
    int rc, n;

    rc = prepare(ctl, &self, argc, argv, &dir, &s);
    if (rc != 0) {
        return rc;
    }
    n = tk_store_migrate(s, dir, ctl->quiet ? NULL : stdout);
    if (n < 0) {
        fprintf(stderr, "ticketctl: migrations in '%s' failed\n", dir);
        return EX_SOFTWARE;
    }
    if (!ctl->quiet) {
        printf("%d migration%s applied\n", n, n == 1 ? "" : "s");
    }
    return 0;
}

static int
db_status(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd self = {
        "status", db_status, "db status [--sql-dir DIR]", ""};
    struct tk_store *s;
    const char *dir;
    int rc, n;

    rc = prepare(ctl, &self, argc, argv, &dir, &s);
    if (rc != 0) {
        return rc;
    }
    n = tk_store_migrate_status(s, dir, stdout);
    if (n < 0) {
        return EX_SOFTWARE;
    }
    return n > 0 ? TK_EXIT_PROBLEM : 0;
}

int
tk_cmd_db(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd sub[] = {
        {"migrate", db_migrate, "db migrate [--sql-dir DIR]",
         "apply the pending migrations"},
        {"status", db_status, "db status [--sql-dir DIR]",
         "list the migrations; exit 1 if some are pending"},
    };

    return tk_ctl_dispatch(ctl, sub, TK_ARRAY_SIZE(sub), "db", argc - 1,
                           argv + 1);
}
