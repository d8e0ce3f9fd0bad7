/* ticketctl checkin: marks a ticket used. Redis is authoritative; the
 * check-in event it appends reaches MariaDB through ticket-persistd. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "redis.h"
#include "store.h"
#include "ticketctl.h"

#define TID_LEN 16

static bool
tid_is_valid(const char *s)
{
    return strlen(s) == TID_LEN && strspn(s, "0123456789abcdef") == TID_LEN;
}

/* A ticket MariaDB does not have yet (its grab is still in a stream):
 * looks for it in the tickets hash of every activity Redis knows. 1 found
 * (*act set), 0 not found, or an exit code < 0. */
static int
find_in_redis(struct tk_ctl *ctl, struct tk_redis *r, const char *tid,
              int64_t *act)
{
    struct tk_redis_reply *reply;
    char key[TK_KEY_BUF];
    int64_t *ids;
    size_t n;
    int found = 0;

    if (tk_ctl_activity_ids(ctl, &ids, &n) != 0) {
        return -1;
    }
    for (size_t i = 0; found == 0 && i < n; i++) {
        tk_key_tickets(key, ids[i]);
        if (tk_redis_cmd(r, &reply, "HEXISTS", key, tid, NULL) < 0) {
            found = -1;
            break;
        }
        if (reply->type == TK_REDIS_INTEGER && reply->integer == 1) {
            *act = ids[i];
            found = 1;
        }
        tk_redis_reply_free(reply);
    }
    free(ids);
    return found;
}

int
tk_cmd_checkin(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd self = {"checkin", tk_cmd_checkin,
                                           "checkin TICKET_ID", ""};
    struct tk_redis_result res;
    struct tk_ticket t;
    struct tk_redis *r;
    struct tk_store *s;
    const char *tid;
    int64_t act = 0;
    int rc;

    if (tk_ctl_getopt(ctl, argc, argv, "") != -1 || optind + 1 != argc) {
        return tk_ctl_usage(&self);
    }
    tid = argv[optind];
    if (!tid_is_valid(tid)) {
        fprintf(stderr, "ticketctl: bad ticket id '%.40s' (16 lowercase "
                        "hex characters)\n", tid);
        return EX_DATAERR;
    }
    rc = tk_ctl_store(ctl, &s);
    if (rc == 0) {
        rc = tk_ctl_redis(ctl, &r);
    }
    if (rc != 0) {
        return rc;
    }
    rc = tk_store_ticket_get(s, tid, &t);
    if (rc == 1) {
        act = t.activity_id;
    } else if (rc == 0) {
        rc = find_in_redis(ctl, r, tid, &act);
    }
    if (rc < 0) {
        return EX_UNAVAILABLE;
    }
    if (rc == 0) {
        fprintf(stderr, "ticketctl: no ticket '%s'\n", tid);
        return EX_DATAERR;
    }
    if (tk_redis_checkin(r, act, tid, NULL, &res) < 0) {
        return EX_UNAVAILABLE;
    }
    switch (res.outcome) {
    case TK_CHECKIN_OK:
        printf("ticket %s of student %s (activity %" PRId64
               "): checked in\n", tid, res.student_id, act);
        return 0;
    case TK_CHECKIN_USED:
        printf("ticket %s of student %s (activity %" PRId64
               "): already used\n", tid, res.student_id, act);
        return TK_EXIT_PROBLEM;
    case TK_CHECKIN_NO_TICKET:
        printf("ticket %s (activity %" PRId64 "): cancelled, not checked "
               "in\n", tid, act);
        return TK_EXIT_PROBLEM;
    default:
        fprintf(stderr, "ticketctl: activity %" PRId64 " is not loaded in "
                        "redis (ticketctl preheat %" PRId64 ")\n", act, act);
        return EX_UNAVAILABLE;
    }
}
