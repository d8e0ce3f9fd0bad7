#include "ticketctl.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "redis.h"
#include "store.h"
#include "util.h"

static int cmd_help(struct tk_ctl *ctl, int argc, char **argv);

static const struct tk_ctl_cmd commands[] = {
    {"activity", tk_cmd_activity,
     "activity create -f FILE.yaml\nactivity update ID -f FILE.yaml\n"
     "activity publish ID\nactivity delete ID\nactivity list\n"
     "activity show ID",
     "activities from YAML files"},
    {"admin", tk_cmd_admin, "admin add USERNAME  (password on stdin)",
     "web admin accounts"},
    {"checkin", tk_cmd_checkin, "checkin TICKET_ID",
     "mark a ticket used (in redis; the persister records it)"},
    {"conf", tk_cmd_conf, "conf check [-v]",
     "check the configuration file and report every error"},
    {"db", tk_cmd_db, "db migrate [--sql-dir DIR]\ndb status [--sql-dir DIR]",
     "apply or list the schema migrations"},
    {"deadletter", tk_cmd_deadletter,
     "deadletter list\ndeadletter retry ID...|--all",
     "events ticket-persistd gave up on: show them, put them back"},
    {"help", cmd_help, "help [COMMAND]", "show the usage of a command"},
    {"menu", tk_cmd_menu, "menu show", "the WeChat menu JSON"},
    {"preheat", tk_cmd_preheat, "preheat ID...\npreheat --upcoming HOURS",
     "load activities, stock, holders and bindings into redis"},
    {"rebuild", tk_cmd_rebuild,
     "rebuild [--force] ID...\nrebuild --all [--force]",
     "restore redis from mariadb after redis lost its data"},
    {"reconcile", tk_cmd_reconcile, "reconcile [--repair]",
     "compare redis and mariadb after drain; exit 1 on drift"},
    {"stats", tk_cmd_stats, "stats [ID]",
     "sold, remaining, stream lag, pending, dead letters, cache hits"},
    {"user", tk_cmd_user,
     "user import FILE.csv\nuser bind OPENID STUDENT_ID\n"
     "user unbind OPENID\nuser show OPENID",
     "the roster and WeChat bindings"},
    {"verify", tk_cmd_verify, "verify [--wait SECONDS] ID",
     "check the invariants I1-I5 of an activity; exit 1 when broken"},
};

int
tk_ctl_conf(struct tk_ctl *ctl)
{
    if (ctl->conf_loaded) {
        return 0;
    }
    if (tk_conf_load(&ctl->conf, ctl->conf_path, stderr) < 0) {
        return EX_CONFIG;
    }
    ctl->conf_loaded = true;
    int level = tk_log_level_from_name(ctl->conf.log.level);

    if (level >= 0 && !ctl->quiet) {
        tk_log_set_level((enum tk_log_level)level);
    }
    return 0;
}

struct tk_ctl_cleanup {
    struct tk_ctl_cleanup *next;
    void (*fn)(void *);
    void *arg;
};

void
tk_ctl_on_close(struct tk_ctl *ctl, void (*fn)(void *), void *arg)
{
    struct tk_ctl_cleanup *c = tk_xmalloc(sizeof(*c));

    c->fn = fn;
    c->arg = arg;
    c->next = ctl->cleanups;
    ctl->cleanups = c;
}

void
tk_ctl_close(struct tk_ctl *ctl)
{
    while (ctl->cleanups != NULL) {
        struct tk_ctl_cleanup *c = ctl->cleanups;

        ctl->cleanups = c->next;
        c->fn(c->arg);
        free(c);
    }
}

static void
ctl_store_free(void *arg)
{
    struct tk_ctl *ctl = arg;

    tk_store_free(ctl->store);
    ctl->store = NULL;
}

int
tk_ctl_store(struct tk_ctl *ctl, struct tk_store **out)
{
    int rc;

    if (ctl->store == NULL) {
        rc = tk_ctl_conf(ctl);
        if (rc != 0) {
            return rc;
        }
        ctl->store = tk_store_new(&ctl->conf);
        /* Admin work (imports, migrations) runs longer than requests. */
        tk_store_set_timeout_ms(ctl->store, 600000);
        if (tk_store_ping(ctl->store) < 0) {
            tk_store_free(ctl->store);
            ctl->store = NULL;
            return EX_UNAVAILABLE;
        }
        tk_ctl_on_close(ctl, ctl_store_free, ctl);
    }
    *out = ctl->store;
    return 0;
}

#define TK_CTL_REDIS_TIMEOUT_MS 600000

static void
ctl_redis_free(void *arg)
{
    struct tk_ctl *ctl = arg;

    tk_redis_free(ctl->redis);
    ctl->redis = NULL;
}

int
tk_ctl_redis(struct tk_ctl *ctl, struct tk_redis **out)
{
    int rc;

    if (ctl->redis == NULL) {
        rc = tk_ctl_conf(ctl);
        if (rc != 0) {
            return rc;
        }
        struct tk_conf c = ctl->conf;

        /* Loading an activity of 100k tickets is one function call that
         * runs for seconds: a request-sized timeout would cut it off, and
         * the retry on a new connection would find it "already loaded". */
        c.redis.timeout_ms = TK_CTL_REDIS_TIMEOUT_MS;
        ctl->redis = tk_redis_new(&c);
        if (tk_redis_open(ctl->redis) < 0 ||
            tk_redis_functions_ensure(ctl->redis, NULL) < 0) {
            tk_redis_free(ctl->redis);
            ctl->redis = NULL;
            return EX_UNAVAILABLE;
        }
        tk_ctl_on_close(ctl, ctl_redis_free, ctl);
    }
    *out = ctl->redis;
    return 0;
}

int
tk_ctl_activity(struct tk_ctl *ctl, const char *arg, struct tk_activity *a)
{
    struct tk_store *s;
    int64_t id;
    int rc;

    if (tk_parse_i64(arg, &id) < 0 || id <= 0) {
        fprintf(stderr, "ticketctl: bad activity id '%s'\n", arg);
        return TK_EXIT_USAGE;
    }
    rc = tk_ctl_store(ctl, &s);
    if (rc != 0) {
        return rc;
    }
    rc = tk_store_activity_get(s, id, a);
    if (rc < 0) {
        return EX_UNAVAILABLE;
    }
    if (rc == 0 || a->status == TK_ACT_DELETED) {
        fprintf(stderr, "ticketctl: no activity %lld\n", (long long)id);
        return EX_DATAERR;
    }
    return 0;
}

int
tk_ctl_getopt_long(struct tk_ctl *ctl, int argc, char **argv,
                   const char *optstring, const struct option *longopts)
{
    char opts[64];
    int c;

    snprintf(opts, sizeof(opts), ":c:%s", optstring);
    for (;;) {
        c = longopts != NULL ? getopt_long(argc, argv, opts, longopts, NULL)
                             : getopt(argc, argv, opts);
        if (c == 'c') {
            if (!ctl->conf_loaded) {
                ctl->conf_path = optarg;
            }
            continue;
        }
        if (c == ':') {
            if (optopt != 0) {
                fprintf(stderr, "ticketctl: option -%c needs a value\n",
                        optopt);
            } else {
                fprintf(stderr, "ticketctl: option '%s' needs a value\n",
                        argv[optind - 1]);
            }
            return '?';
        }
        if (c == '?') {
            if (optopt != 0) {
                fprintf(stderr, "ticketctl: unknown option -%c\n", optopt);
            } else {
                fprintf(stderr, "ticketctl: unknown option '%s'\n",
                        argv[optind - 1]);
            }
        }
        return c;
    }
}

int
tk_ctl_getopt(struct tk_ctl *ctl, int argc, char **argv, const char *optstring)
{
    return tk_ctl_getopt_long(ctl, argc, argv, optstring, NULL);
}

int
tk_ctl_usage(const struct tk_ctl_cmd *cmd)
{
    const char *u = cmd->usage;

    fprintf(stderr, "usage: ");
    while (*u != '\0') {
        const char *nl = strchr(u, '\n');
        size_t n = nl ? (size_t)(nl - u) : strlen(u);

        fprintf(stderr, "%sticketctl [-c CONFIG] %.*s\n",
                u == cmd->usage ? "" : "       ", (int)n, u);
        u += n + (nl ? 1 : 0);
    }
    return TK_EXIT_USAGE;
}

int
tk_ctl_dispatch(struct tk_ctl *ctl, const struct tk_ctl_cmd *table, size_t n,
                const char *prefix, int argc, char **argv)
{
    if (argc < 1) {
        fprintf(stderr, "usage: ticketctl %s COMMAND; commands:\n", prefix);
        for (size_t i = 0; i < n; i++) {
            fprintf(stderr, "  %-12s %s\n", table[i].name, table[i].summary);
        }
        return TK_EXIT_USAGE;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(table[i].name, argv[0]) == 0) {
            optind = 0; /* each command parses its own options */
            return table[i].run(ctl, argc, argv);
        }
    }
    fprintf(stderr, "ticketctl: unknown command '%s%s%s'\n", prefix,
            *prefix ? " " : "", argv[0]);
    return TK_EXIT_USAGE;
}

static void
usage_all(FILE *out)
{
    fprintf(out, "usage: ticketctl [-c CONFIG] [-q] COMMAND [ARGS]\n\n"
                 "commands:\n");
    for (size_t i = 0; i < TK_ARRAY_SIZE(commands); i++) {
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(out, "\nCONFIG defaults to $TICKETD_CONF or "
                 "/etc/ticketd/ticketd.conf.\n"
                 "'ticketctl help COMMAND' shows a command's usage.\n");
}

static int
cmd_help(struct tk_ctl *ctl, int argc, char **argv)
{
    (void)ctl;
    if (argc < 2) {
        usage_all(stdout);
        return 0;
    }
    for (size_t i = 0; i < TK_ARRAY_SIZE(commands); i++) {
        if (strcmp(commands[i].name, argv[1]) == 0) {
            const char *u = commands[i].usage;

            printf("%s\n\n", commands[i].summary);
            while (*u != '\0') {
                const char *nl = strchr(u, '\n');
                size_t n = nl ? (size_t)(nl - u) : strlen(u);

                printf("  ticketctl [-c CONFIG] %.*s\n", (int)n, u);
                u += n + (nl ? 1 : 0);
            }
            return 0;
        }
    }
    fprintf(stderr, "ticketctl: unknown command '%s'\n", argv[1]);
    return TK_EXIT_USAGE;
}

int
main(int argc, char **argv)
{
    struct tk_ctl ctl = {0};
    const char *env = getenv("TICKETD_CONF");
    int c, rc;

    tk_log_set_ident("ticketctl");
    tk_log_set_plain(true);
    tk_log_set_level(TK_LOG_NOTICE);
    ctl.conf_path = env != NULL && *env != '\0' ? env
                                                : "/etc/ticketd/ticketd.conf";
    /* '+' stops at the command name; its own options follow it. */
    while ((c = getopt(argc, argv, "+c:qh")) != -1) {
        switch (c) {
        case 'c':
            ctl.conf_path = optarg;
            break;
        case 'q':
            ctl.quiet = true;
            tk_log_set_level(TK_LOG_WARNING);
            break;
        case 'h':
            usage_all(stdout);
            return 0;
        default:
            usage_all(stderr);
            return TK_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage_all(stderr);
        return TK_EXIT_USAGE;
    }
    rc = tk_ctl_dispatch(&ctl, commands, TK_ARRAY_SIZE(commands), "",
                         argc - optind, argv + optind);
    tk_ctl_close(&ctl);
    if (ctl.conf_loaded) {
        tk_conf_release(&ctl.conf);
    }
    return rc;
}
