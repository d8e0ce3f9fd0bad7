/* ticketctl verify: the invariants of one activity, with the figures.
 * bench/run reads the last line: "verify ID: OK" or
 * "verify ID: FAILED: ...". */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "recover.h"
#include "redis.h"
#include "store.h"
#include "ticketctl.h"

#define WAIT_MAX_S 3600

static void
pause_100ms(void)
{
    struct timespec ts = {0, 100 * 1000000L};

    nanosleep(&ts, NULL);
}

static void
print_figures(const struct tk_recover_report *rep)
{
    const struct tk_stream_figures *f = &rep->stream;

    printf("activity %" PRId64 " (%s)\n", rep->act, rep->key);
    if (rep->in_redis) {
        printf("  redis     total %" PRId64 "  sold %" PRId64
               "  remain %" PRId64 "  holders %" PRId64 "\n",
               rep->stock.total, rep->stock.sold, rep->stock.remain,
               rep->holders);
    } else {
        printf("  redis     not loaded\n");
    }
    printf("  mariadb   total %" PRId64 "  valid %" PRId64 "  used %" PRId64
           "  cancelled %" PRId64 "\n",
           rep->db_total, rep->db_valid, rep->db_used, rep->db_cancelled);
    printf("  stream    length %" PRId64 "  lag %" PRId64
           "  pending %" PRId64 "  unapplied %" PRId64 "\n",
           f->length, f->lag, f->pending, tk_stream_unapplied(f));
}

int
tk_cmd_verify(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd self = {
        "verify", tk_cmd_verify, "verify [--wait SECONDS] ID", ""};
    static const struct option longopts[] = {
        {"wait", required_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    struct tk_recover_report rep;
    struct tk_activity a;
    struct tk_redis *r;
    struct tk_store *s;
    int64_t wait_s = 0, deadline;
    const char *p;
    int c, rc;

    while ((c = tk_ctl_getopt_long(ctl, argc, argv, "w:", longopts)) != -1) {
        if (c != 'w' || tk_parse_i64(optarg, &wait_s) < 0 || wait_s < 0 ||
            wait_s > WAIT_MAX_S) {
            if (c == 'w') {
                fprintf(stderr, "ticketctl: --wait: '%s' is not a number of "
                                "seconds (0 to %d)\n",
                        optarg, WAIT_MAX_S);
            }
            return tk_ctl_usage(&self);
        }
    }
    if (optind + 1 != argc) {
        return tk_ctl_usage(&self);
    }
    rc = tk_ctl_activity(ctl, argv[optind], &a);
    if (rc == 0) {
        rc = tk_ctl_store(ctl, &s);
    }
    if (rc == 0) {
        rc = tk_ctl_redis(ctl, &r);
    }
    if (rc != 0) {
        return rc;
    }
    /* The cross checks need a drained stream: wait for the persister. */
    deadline = tk_mono_ms() + wait_s * 1000;
    for (;;) {
        if (tk_recover_compare(r, s, a.id, &rep) < 0) {
            return EX_UNAVAILABLE;
        }
        if (rep.drained || tk_mono_ms() >= deadline) {
            break;
        }
        tk_recover_report_release(&rep);
        pause_100ms();
    }
    print_figures(&rep);
    for (p = tk_buf_str(&rep.lines); *p != '\0';) {
        const char *nl = strchr(p, '\n');

        printf("  %.*s\n", (int)(nl - p), p);
        p = nl + 1;
    }
    if (!rep.in_redis) {
        printf("verify %" PRId64 ": FAILED: not loaded in redis "
               "(ticketctl preheat %" PRId64 ")\n", a.id, a.id);
        rc = TK_EXIT_PROBLEM;
    } else if (rep.nproblems == 0 && rep.drained) {
        printf("verify %" PRId64 ": OK\n", a.id);
    } else {
        const char *sep = "";

        printf("verify %" PRId64 ": FAILED:", a.id);
        for (int i = 0; i < TK_CHECK_COUNT; i++) {
            if (rep.problems[i] > 0) {
                printf("%s %s (%zu)", sep, tk_check_name((enum tk_check)i),
                       rep.problems[i]);
                sep = ",";
            }
        }
        if (!rep.drained) {
            printf("%s not drained (%" PRId64 " unapplied events; I3/I5 "
                   "not checked)", sep, tk_stream_unapplied(&rep.stream));
        }
        printf("\n");
        rc = TK_EXIT_PROBLEM;
    }
    tk_recover_report_release(&rep);
    return rc;
}
