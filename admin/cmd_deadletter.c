/* ticketctl deadletter: events ticket-persistd gave up on. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "persist.h"
#include "redis.h"
#include "ticketctl.h"

static void
redis_free(void *arg)
{
    tk_redis_free(arg);
}

/* A connected Redis handle, freed when the command ends. */
static int
ctl_redis(struct tk_ctl *ctl, struct tk_redis **out)
{
    struct tk_redis *r;
    int rc = tk_ctl_conf(ctl);

    if (rc != 0) {
        return rc;
    }
    r = tk_redis_new(&ctl->conf);
    tk_ctl_on_close(ctl, redis_free, r);
    if (tk_redis_open(r) < 0) {
        fprintf(stderr, "ticketctl: cannot reach redis\n");
        return EX_UNAVAILABLE;
    }
    *out = r;
    return 0;
}

static int
print_dead(const struct tk_persist_dead *d, void *arg)
{
    (void)arg;
    printf("%s stream=%s id=%s deliveries=%" PRId64
           " t=%s sid=%s tid=%s ts=%s error=\"%s\"\n",
           d->id, d->stream, d->event_id, d->deliveries, d->t, d->sid,
           d->tid, d->ts, d->error);
    return 0;
}

static int
dead_list(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd self = {"list", dead_list,
                                           "deadletter list", ""};
    struct tk_redis *r;
    int rc;

    if (tk_ctl_getopt(ctl, argc, argv, "") != -1 || optind != argc) {
        return tk_ctl_usage(&self);
    }
    rc = ctl_redis(ctl, &r);
    if (rc != 0) {
        return rc;
    }
    rc = tk_persist_dead_each(r, print_dead, NULL);
    if (rc < 0) {
        return EX_UNAVAILABLE;
    }
    if (!ctl->quiet) {
        fprintf(stderr, "%d dead letter%s\n", rc, rc == 1 ? "" : "s");
    }
    return 0;
}

/* Collects every dead letter id, for retry --all. */
struct ids {
    char (*id)[TK_STREAM_ID_MAX];
    size_t n, cap;
};

static int
collect(const struct tk_persist_dead *d, void *arg)
{
    struct ids *ids = arg;

    if (ids->n == ids->cap) {
        ids->cap = ids->cap == 0 ? 64 : 2 * ids->cap;
        ids->id = tk_xrealloc(ids->id, ids->cap * sizeof(*ids->id));
    }
    tk_strlcpy(ids->id[ids->n++], d->id, TK_STREAM_ID_MAX);
    return 0;
}

static int
retry_one(struct tk_redis *r, const char *id, bool quiet)
{
    int rc = tk_persist_dead_retry(r, id);

    if (rc == 0) {
        fprintf(stderr, "ticketctl: no dead letter '%s'\n", id);
        return EX_DATAERR;
    }
    if (rc == -EINVAL) {
        return EX_DATAERR;
    }
    if (rc < 0) {
        return EX_UNAVAILABLE;
    }
    if (!quiet) {
        printf("%s retried\n", id);
    }
    return 0;
}

static int
dead_retry(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd self = {
        "retry", dead_retry, "deadletter retry ID...\ndeadletter retry --all",
        ""};
    struct ids ids = { 0 };
    struct tk_redis *r;
    bool all = false;
    int rc, worst = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--all") == 0) {
            all = true;
            argv[i] = (char *)"-a";
        }
    }
    while ((rc = tk_ctl_getopt(ctl, argc, argv, "a")) != -1) {
        if (rc != 'a') {
            return tk_ctl_usage(&self);
        }
    }
    if (all == (optind != argc)) {
        return tk_ctl_usage(&self);
    }
    rc = ctl_redis(ctl, &r);
    if (rc != 0) {
        return rc;
    }
    if (all) {
        if (tk_persist_dead_each(r, collect, &ids) < 0) {
            free(ids.id);
            return EX_UNAVAILABLE;
        }
        for (size_t i = 0; i < ids.n; i++) {
            rc = retry_one(r, ids.id[i], ctl->quiet);
            worst = rc > worst ? rc : worst;
        }
        free(ids.id);
        return worst;
    }
    for (int i = optind; i < argc; i++) {
        rc = retry_one(r, argv[i], ctl->quiet);
        worst = rc > worst ? rc : worst;
    }
    return worst;
}

int
tk_cmd_deadletter(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd sub[] = {
        {"list", dead_list, "deadletter list",
         "show the events ticket-persistd gave up on, with their errors"},
        {"retry", dead_retry, "deadletter retry ID...|--all",
         "put dead letters back into their streams (in their old order)"},
    };

    return tk_ctl_dispatch(ctl, sub, TK_ARRAY_SIZE(sub), "deadletter",
                           argc - 1, argv + 1);
}
