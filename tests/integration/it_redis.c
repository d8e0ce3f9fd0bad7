/*
 * The Redis layer against the stack's real redis-server: the functions
 * library (grab, refund, check-in, load, unlock), dedupe of retried
 * messages, concurrency (I1, I2), connection handling and timeouts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cache.h"
#include "it.h"
#include "keys.h"
#include "model.h"
#include "redis.h"

static struct tk_conf conf;

static long long
xlen(struct tk_redis *r, int64_t act)
{
    char k[TK_KEY_BUF];

    tk_key_events(k, act);
    return it_int(r, "XLEN", k, NULL);
}

static void
load(struct tk_redis *r, int64_t act, int64_t total)
{
    bool loaded;

    assert_int_equal(tk_redis_load(r, act, false, total, NULL, 0, &loaded,
                                   NULL), 0);
    assert_true(loaded);
}

/*
 * I1 (sold + remain == total, remain >= 0) and I2 (one ticket per
 * student; every holder's ticket is valid or used and names the holder;
 * as many held tickets as sold). Returns sold.
 */
static int64_t
check_invariants(struct tk_redis *r, int64_t act)
{
    char k[TK_KEY_BUF];
    struct tk_redis_stock st;
    struct tk_redis_pairs holders = { NULL, 0 }, tickets = { NULL, 0 };
    int64_t held = 0;

    assert_int_equal(tk_redis_stock(r, act, &st), 1);
    assert_int_equal(st.sold + st.remain, st.total);
    assert_true(st.remain >= 0);
    tk_key_holders(k, act);
    assert_true(tk_redis_hgetall(r, k, &holders) >= 0);
    tk_key_tickets(k, act);
    assert_true(tk_redis_hgetall(r, k, &tickets) >= 0);
    for (size_t i = 0; i < tickets.n; i++) {
        const char *v = tickets.items[i].value;

        assert_true(v[0] >= '0' && v[0] <= '2' && v[1] == ':');
        if (v[0] != '0') {
            held++;
        }
    }
    assert_int_equal(held, st.sold);
    assert_int_equal((int64_t)holders.n, st.sold);
    for (size_t i = 0; i < holders.n; i++) {
        const char *sid = holders.items[i].field;
        const char *tid = holders.items[i].value;
        bool found = false;

        for (size_t j = 0; j < tickets.n && !found; j++) {
            if (strcmp(tickets.items[j].field, tid) == 0) {
                found = true;
                assert_true(tickets.items[j].value[0] != '0');
                assert_string_equal(tickets.items[j].value + 2, sid);
            }
        }
        assert_true(found);
    }
    tk_redis_pairs_release(&holders);
    tk_redis_pairs_release(&tickets);
    return st.sold;
}

static bool
is_ticket_id(const char *s)
{
    if (strlen(s) != 16) {
        return false;
    }
    for (int i = 0; i < 16; i++) {
        if (!strchr("0123456789abcdef", s[i])) {
            return false;
        }
    }
    return true;
}

static void
test_functions_loaded_and_versioned(void **state)
{
    struct tk_redis *r = *state;
    struct tk_redis_reply *reply;
    struct tk_buf old = TK_BUF_INIT;
    const char *src = tk_redis_functions_source();
    const char *v = strstr(src, "\nlocal VERSION = ");
    struct tk_redis_result res;
    bool loaded;

    assert_true(tk_redis_functions_version() >= 1);
    assert_int_equal(strncmp(src, "#!lua name=ticketd\n", 19), 0);
    /* Absent: loaded. */
    assert_int_equal(tk_redis_cmd(r, &reply, "FUNCTION", "DELETE", "ticketd",
                                  NULL), 0);
    tk_redis_reply_free(reply);
    assert_int_equal(tk_redis_functions_ensure(r, &loaded), 0);
    assert_true(loaded);
    assert_int_equal(it_int(r, "FCALL", "tk_version", "0", NULL),
                     tk_redis_functions_version());
    /* Current: left alone. */
    assert_int_equal(tk_redis_functions_ensure(r, &loaded), 0);
    assert_false(loaded);
    /* Older: replaced. */
    assert_non_null(v);
    tk_buf_add(&old, src, (size_t)(v - src));
    tk_buf_adds(&old, "\nlocal VERSION = 0");
    tk_buf_adds(&old, strchr(v + 1, '\n'));
    assert_int_equal(tk_redis_cmd(r, &reply, "FUNCTION", "LOAD", "REPLACE",
                                  tk_buf_str(&old), NULL), 0);
    assert_int_equal(reply->type, TK_REDIS_STRING);
    tk_redis_reply_free(reply);
    assert_int_equal(it_int(r, "FCALL", "tk_version", "0", NULL), 0);
    assert_int_equal(tk_redis_functions_ensure(r, &loaded), 0);
    assert_true(loaded);
    assert_int_equal(it_int(r, "FCALL", "tk_version", "0", NULL),
                     tk_redis_functions_version());
    /* Lost behind our back (FUNCTION FLUSH): a grab loads it again. */
    assert_int_equal(tk_redis_cmd(r, &reply, "FUNCTION", "FLUSH", NULL), 0);
    tk_redis_reply_free(reply);
    assert_int_equal(tk_redis_grab(r, 1, "s1", NULL, 0, &res), 0);
    assert_int_equal(res.outcome, TK_GRAB_NO_ACTIVITY);
    /* No function may run under OOM: none declares allow-oom. */
    assert_null(strstr(src, "allow-oom"));
    tk_buf_release(&old);
}

static void
test_grab_basics(void **state)
{
    struct tk_redis *r = *state;
    struct tk_redis_result res, again;
    struct tk_redis_stock st;
    struct tk_redis_pairs ev = { NULL, 0 };
    struct tk_redis_reply *reply;
    char k[TK_KEY_BUF];

    it_flush(r);
    assert_int_equal(tk_redis_grab(r, 7, "2020011001", NULL, 0, &res), 0);
    assert_int_equal(res.outcome, TK_GRAB_NO_ACTIVITY);
    assert_int_equal(tk_redis_stock(r, 7, &st), 0);
    load(r, 7, 2);
    assert_int_equal(it_int(r, "SISMEMBER", TK_KEYS_STREAMS, "7", NULL), 1);

    assert_int_equal(tk_redis_grab(r, 7, "2020011001", NULL, 0, &res), 0);
    assert_int_equal(res.outcome, TK_GRAB_OK);
    assert_true(is_ticket_id(res.ticket_id));
    assert_int_equal(res.remain, 1);
    assert_int_equal(tk_redis_grab(r, 7, "2020011001", NULL, 0, &again), 0);
    assert_int_equal(again.outcome, TK_GRAB_DUPLICATE);
    assert_string_equal(again.ticket_id, res.ticket_id);
    assert_int_equal(tk_redis_grab(r, 7, "2020011002", NULL, 0, &again), 0);
    assert_int_equal(again.outcome, TK_GRAB_OK);
    assert_string_not_equal(again.ticket_id, res.ticket_id);
    assert_int_equal(again.remain, 0);
    assert_int_equal(tk_redis_grab(r, 7, "2020011003", NULL, 0, &again), 0);
    assert_int_equal(again.outcome, TK_GRAB_SOLD_OUT);
    assert_string_equal(again.ticket_id, "");
    assert_int_equal(tk_redis_stock(r, 7, &st), 1);
    assert_int_equal(st.total, 2);
    assert_int_equal(st.remain, 0);
    assert_int_equal(st.sold, 2);
    assert_int_equal(check_invariants(r, 7), 2);

    /* The event of the first grab, as model.h describes it. */
    assert_int_equal(xlen(r, 7), 2);
    tk_key_events(k, 7);
    assert_int_equal(tk_redis_cmd(r, &reply, "XRANGE", k, "-", "+", "COUNT",
                                  "1", NULL), 0);
    assert_int_equal(reply->type, TK_REDIS_ARRAY);
    assert_int_equal(reply->elements, 1);
    {
        const struct tk_redis_reply *f = reply->element[0]->element[1];

        /* t, sid and tid only: the entry id's milliseconds are the
         * event's time (functions version 6). */
        assert_int_equal(f->elements, 6);
        assert_string_equal(f->element[0]->str, "t");
        assert_string_equal(f->element[1]->str, TK_EVENT_GRAB);
        assert_string_equal(f->element[2]->str, "sid");
        assert_string_equal(f->element[3]->str, "2020011001");
        assert_string_equal(f->element[4]->str, "tid");
        assert_string_equal(f->element[5]->str, res.ticket_id);
        {
            long long ms = strtoll(reply->element[0]->element[0]->str, NULL,
                                   10);

            assert_true(llabs(ms - tk_now_ms()) <= 60000);
        }
    }
    tk_redis_reply_free(reply);
    tk_redis_pairs_release(&ev);

    /* Bad input changes nothing. */
    assert_int_equal(tk_redis_grab(r, 7, "", NULL, 0, &again), -EINVAL);
    assert_int_equal(tk_redis_grab(r, 7, "123456789012345678901234567890123",
                                   NULL, 0, &again), -EINVAL);
    assert_int_equal(tk_redis_grab(r, 7, "a\nb", NULL, 0, &again), -EINVAL);
    assert_int_equal(tk_redis_grab(r, 7, "s", "m", 0, &again), -EINVAL);
    assert_int_equal(xlen(r, 7), 2);

    /* The retry record's TTL is whole seconds in digits, 1 s to 30 days,
     * passed on to SET as given: anything else is refused. */
    {
        static const char *const bad[] = { "0", "1.5", "6e2", "+60", "",
                                           " 60", "2592001" };
        char keys[5][TK_KEY_BUF];

        tk_key_stock(keys[0], 70);
        tk_key_holders(keys[1], 70);
        tk_key_tickets(keys[2], 70);
        tk_key_events(keys[3], 70);
        tk_key_dedupe(keys[4], 70, "m-ttl");
        load(r, 70, 3);
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            assert_int_equal(
                tk_redis_cmd(r, &reply, "FCALL", "tk_grab", "5", keys[0],
                             keys[1], keys[2], keys[3], keys[4], "s9",
                             "00000000000000a9", bad[i], NULL),
                0);
            assert_int_equal(reply->type, TK_REDIS_ERROR);
            assert_non_null(strstr(reply->str, "bad dedupe ttl"));
            tk_redis_reply_free(reply);
        }
        assert_int_equal(xlen(r, 70), 0);
        assert_int_equal(it_int(r, "EXISTS", keys[4], NULL), 0);
        assert_int_equal(tk_redis_cmd(r, &reply, "FCALL", "tk_grab", "5",
                                      keys[0], keys[1], keys[2], keys[3],
                                      keys[4], "s9", "00000000000000a9",
                                      "2592000", NULL),
                         0);
        assert_int_equal(reply->type, TK_REDIS_ARRAY);
        tk_redis_reply_free(reply);
        assert_int_equal(xlen(r, 70), 1);
        assert_true(it_int(r, "TTL", keys[4], NULL) > 2591990);
    }
}

static void
test_dedupe_replays_the_outcome(void **state)
{
    struct tk_redis *r = *state;
    struct tk_redis_result first, retry, other;
    char k[TK_KEY_BUF];

    it_flush(r);
    load(r, 8, 5);
    assert_int_equal(tk_redis_grab(r, 8, "s1", "msg-1", 60, &first), 0);
    assert_int_equal(first.outcome, TK_GRAB_OK);
    assert_int_equal(tk_redis_grab(r, 8, "s1", "msg-1", 60, &retry), 0);
    assert_int_equal(retry.outcome, TK_GRAB_OK); /* not DUPLICATE */
    assert_string_equal(retry.ticket_id, first.ticket_id);
    assert_int_equal(retry.remain, first.remain);
    assert_int_equal(xlen(r, 8), 1);
    tk_key_dedupe(k, 8, "msg-1");
    assert_true(it_int(r, "TTL", k, NULL) > 0);

    /* Refund by message 2; its retry does not refund twice... */
    assert_int_equal(tk_redis_refund(r, 8, "s1", "msg-2", 60, &other), 0);
    assert_int_equal(other.outcome, TK_REFUND_OK);
    assert_string_equal(other.ticket_id, first.ticket_id);
    assert_int_equal(tk_redis_refund(r, 8, "s1", "msg-2", 60, &retry), 0);
    assert_int_equal(retry.outcome, TK_REFUND_OK);
    assert_int_equal(xlen(r, 8), 2);
    /* ...and a late retry of message 1 does not grab again. */
    assert_int_equal(tk_redis_grab(r, 8, "s1", "msg-1", 60, &retry), 0);
    assert_int_equal(retry.outcome, TK_GRAB_OK);
    assert_string_equal(retry.ticket_id, first.ticket_id);
    assert_int_equal(xlen(r, 8), 2);
    assert_int_equal(check_invariants(r, 8), 0);
    /* A new message does. */
    assert_int_equal(tk_redis_grab(r, 8, "s1", "msg-3", 60, &other), 0);
    assert_int_equal(other.outcome, TK_GRAB_OK);
    assert_string_not_equal(other.ticket_id, first.ticket_id);
    assert_int_equal(check_invariants(r, 8), 1);

    /* Sold-out and no-activity outcomes are replayed too. */
    assert_int_equal(tk_redis_grab(r, 9, "s1", "msg-4", 60, &other), 0);
    assert_int_equal(other.outcome, TK_GRAB_NO_ACTIVITY);
    load(r, 9, 1);
    assert_int_equal(tk_redis_grab(r, 9, "s1", "msg-4", 60, &other), 0);
    assert_int_equal(other.outcome, TK_GRAB_NO_ACTIVITY);
}

/* Caches openid's binding as ticketd's cache-aside layer does: "v" and
 * the encoded student id, or "n" (not bound) when sid is NULL. */
static void
cache_binding(struct tk_redis *r, const char *openid, const char *sid)
{
    struct tk_buf v = TK_BUF_INIT;
    char k[TK_KEY_BUF];

    tk_buf_addc(&v, sid != NULL ? 'v' : 'n');
    if (sid != NULL) {
        tk_cache_encode_binding(&v, sid);
    }
    tk_key_binding(k, openid);
    assert_int_equal(tk_redis_set(r, k, v.data, v.len, 60000), 0);
    tk_buf_release(&v);
}

/*
 * tk_grab_bound (one round trip): grabs for the student the cached
 * binding names, replays a stored outcome like tk_grab, and does, stores
 * and replays nothing when the binding is missing, unreadable or "not
 * bound", as the two-trip path (binding first) does.
 */
static void
test_grab_bound(void **state)
{
    struct tk_redis *r = *state;
    struct tk_redis_result res, again;
    char k[TK_KEY_BUF], bind[TK_KEY_BUF];

    it_flush(r);
    load(r, 40, 1);
    tk_key_binding(bind, "oA");

    /* Not cached: nothing done, nothing stored for the message. */
    assert_int_equal(tk_redis_grab_bound(r, 40, "oA", "m1", 60, &res), 0);
    assert_int_equal(res.outcome, TK_GRAB_NOT_CACHED);
    assert_string_equal(res.student_id, "");
    tk_key_dedupe(k, 40, "m1");
    assert_int_equal(it_int(r, "EXISTS", k, NULL), 0);
    /* Unreadable values are "not cached" too (the caller reloads). */
    assert_int_equal(tk_redis_set(r, bind, "vB1x", 4, 60000), 0);
    assert_int_equal(tk_redis_grab_bound(r, 40, "oA", "m1", 60, &res), 0);
    assert_int_equal(res.outcome, TK_GRAB_NOT_CACHED);
    assert_int_equal(tk_redis_set(r, bind, "vB13:s1,", 8, 60000), 0);
    assert_int_equal(tk_redis_grab_bound(r, 40, "oA", "m1", 60, &res), 0);
    assert_int_equal(res.outcome, TK_GRAB_NOT_CACHED);
    assert_int_equal(tk_redis_set(r, bind, "vB13:s\n1,", 9, 60000), 0);
    assert_int_equal(tk_redis_grab_bound(r, 40, "oA", "m1", 60, &res), 0);
    assert_int_equal(res.outcome, TK_GRAB_NOT_CACHED);
    /* Cached as not bound. */
    cache_binding(r, "oA", NULL);
    assert_int_equal(tk_redis_grab_bound(r, 40, "oA", "m1", 60, &res), 0);
    assert_int_equal(res.outcome, TK_GRAB_UNBOUND);
    assert_int_equal(it_int(r, "EXISTS", k, NULL), 0);
    assert_int_equal(xlen(r, 40), 0);

    /* Bound: the grab, for that student, with its retry record. */
    cache_binding(r, "oA", "2020011001");
    assert_int_equal(tk_redis_grab_bound(r, 40, "oA", "m1", 60, &res), 0);
    assert_int_equal(res.outcome, TK_GRAB_OK);
    assert_string_equal(res.student_id, "2020011001");
    assert_true(is_ticket_id(res.ticket_id));
    assert_int_equal(res.remain, 0);
    tk_key_holders(k, 40);
    assert_int_equal(it_int(r, "HEXISTS", k, "2020011001", NULL), 1);
    assert_int_equal(xlen(r, 40), 1);
    /* A retry gets the stored outcome... */
    assert_int_equal(tk_redis_grab_bound(r, 40, "oA", "m1", 60, &again), 0);
    assert_int_equal(again.outcome, TK_GRAB_OK);
    assert_string_equal(again.ticket_id, res.ticket_id);
    assert_string_equal(again.student_id, "2020011001");
    assert_int_equal(xlen(r, 40), 1);
    /* ...but not another sender whose message has the same key, nor the
     * sender once unbound: the binding comes first. */
    cache_binding(r, "oC", NULL);
    assert_int_equal(tk_redis_grab_bound(r, 40, "oC", "m1", 60, &again), 0);
    assert_int_equal(again.outcome, TK_GRAB_UNBOUND);
    assert_string_equal(again.ticket_id, "");
    cache_binding(r, "oA", NULL);
    assert_int_equal(tk_redis_grab_bound(r, 40, "oA", "m1", 60, &again), 0);
    assert_int_equal(again.outcome, TK_GRAB_UNBOUND);
    assert_int_equal(xlen(r, 40), 1);
    /* tk_grab sees the same ticket; another student finds none left. */
    assert_int_equal(tk_redis_grab(r, 40, "2020011001", "m2", 60, &again),
                     0);
    assert_int_equal(again.outcome, TK_GRAB_DUPLICATE);
    assert_string_equal(again.ticket_id, res.ticket_id);
    cache_binding(r, "oB", "2020011002");
    assert_int_equal(tk_redis_grab_bound(r, 40, "oB", "m3", 60, &again), 0);
    assert_int_equal(again.outcome, TK_GRAB_SOLD_OUT);
    assert_string_equal(again.student_id, "2020011002");
    assert_int_equal(check_invariants(r, 40), 1);
    assert_int_equal(tk_redis_grab_bound(r, 41, "oB", "m4", 60, &again), 0);
    assert_int_equal(again.outcome, TK_GRAB_NO_ACTIVITY);

    /* It needs a message key and an openid; bad input changes nothing. */
    assert_int_equal(tk_redis_grab_bound(r, 40, "oB", NULL, 60, &again),
                     -EINVAL);
    assert_int_equal(tk_redis_grab_bound(r, 40, "oB", "", 60, &again),
                     -EINVAL);
    assert_int_equal(tk_redis_grab_bound(r, 40, "", "m5", 60, &again),
                     -EINVAL);
    assert_int_equal(tk_redis_grab_bound(r, 40, "oB", "m5", 0, &again),
                     -EINVAL);
    assert_int_equal(xlen(r, 40), 1);
}

static void
test_refund_then_regrab(void **state)
{
    struct tk_redis *r = *state;
    struct tk_redis_result g, f, g2;
    struct tk_redis_stock st;
    char k[TK_KEY_BUF];
    struct tk_buf v = TK_BUF_INIT;
    struct tk_redis_reply *reply;

    it_flush(r);
    load(r, 10, 1);
    assert_int_equal(tk_redis_refund(r, 10, "s1", NULL, 0, &f), 0);
    assert_int_equal(f.outcome, TK_REFUND_NO_TICKET);
    assert_int_equal(tk_redis_grab(r, 10, "s1", NULL, 0, &g), 0);
    assert_int_equal(g.outcome, TK_GRAB_OK);
    assert_int_equal(tk_redis_grab(r, 10, "s2", NULL, 0, &g2), 0);
    assert_int_equal(g2.outcome, TK_GRAB_SOLD_OUT);

    assert_int_equal(tk_redis_refund(r, 10, "s1", NULL, 0, &f), 0);
    assert_int_equal(f.outcome, TK_REFUND_OK);
    assert_string_equal(f.ticket_id, g.ticket_id);
    assert_int_equal(f.remain, 1);
    assert_int_equal(tk_redis_stock(r, 10, &st), 1);
    assert_int_equal(st.remain, 1); /* I4: exactly one unit back */
    assert_int_equal(st.sold, 0);
    tk_key_tickets(k, 10);
    assert_int_equal(tk_redis_cmd(r, &reply, "HGET", k, g.ticket_id, NULL),
                     0);
    assert_string_equal(reply->str, "0:s1");
    tk_redis_reply_free(reply);
    assert_int_equal(tk_redis_refund(r, 10, "s1", NULL, 0, &f), 0);
    assert_int_equal(f.outcome, TK_REFUND_NO_TICKET);

    /* Re-grab by the same student: a new ticket. */
    assert_int_equal(tk_redis_grab(r, 10, "s1", NULL, 0, &g2), 0);
    assert_int_equal(g2.outcome, TK_GRAB_OK);
    assert_string_not_equal(g2.ticket_id, g.ticket_id);
    assert_int_equal(check_invariants(r, 10), 1);
    assert_int_equal(xlen(r, 10), 3); /* g, r, g */
    tk_key_events(k, 10);
    assert_int_equal(tk_redis_cmd(r, &reply, "XREVRANGE", k, "+", "-",
                                  "COUNT", "2", NULL), 0);
    assert_string_equal(reply->element[1]->element[1]->element[1]->str,
                        TK_EVENT_REFUND);
    tk_redis_reply_free(reply);
    assert_int_equal(tk_redis_refund(r, 11, "s1", NULL, 0, &f), 0);
    assert_int_equal(f.outcome, TK_REFUND_NO_ACTIVITY);
    tk_buf_release(&v);
}

static void
test_checkin_and_used_refund(void **state)
{
    struct tk_redis *r = *state;
    struct tk_redis_result g1, g2, c, f;
    struct tk_redis_stock st;

    it_flush(r);
    load(r, 12, 10);
    assert_int_equal(tk_redis_grab(r, 12, "s1", NULL, 0, &g1), 0);
    assert_int_equal(tk_redis_grab(r, 12, "s2", NULL, 0, &g2), 0);

    /* By ticket id. */
    assert_int_equal(tk_redis_checkin(r, 12, g1.ticket_id, NULL, &c), 0);
    assert_int_equal(c.outcome, TK_CHECKIN_OK);
    assert_string_equal(c.student_id, "s1");
    assert_int_equal(tk_redis_checkin(r, 12, g1.ticket_id, NULL, &c), 0);
    assert_int_equal(c.outcome, TK_CHECKIN_USED);
    assert_int_equal(xlen(r, 12), 3);
    /* A used ticket is never refunded (I4) and still counts as held. */
    assert_int_equal(tk_redis_refund(r, 12, "s1", NULL, 0, &f), 0);
    assert_int_equal(f.outcome, TK_REFUND_USED);
    assert_string_equal(f.ticket_id, g1.ticket_id);
    assert_int_equal(tk_redis_stock(r, 12, &st), 1);
    assert_int_equal(st.sold, 2);
    assert_int_equal(tk_redis_grab(r, 12, "s1", NULL, 0, &c), 0);
    assert_int_equal(c.outcome, TK_GRAB_DUPLICATE);
    assert_string_equal(c.ticket_id, g1.ticket_id);

    /* By student id; ticket and student must match. */
    assert_int_equal(tk_redis_checkin(r, 12, g2.ticket_id, "s1", &c), 0);
    assert_int_equal(c.outcome, TK_CHECKIN_NO_TICKET);
    assert_int_equal(tk_redis_checkin(r, 12, NULL, "s2", &c), 0);
    assert_int_equal(c.outcome, TK_CHECKIN_OK);
    assert_string_equal(c.ticket_id, g2.ticket_id);
    assert_int_equal(tk_redis_checkin(r, 12, NULL, "s3", &c), 0);
    assert_int_equal(c.outcome, TK_CHECKIN_NO_TICKET);
    assert_int_equal(tk_redis_checkin(r, 12, "0123456789abcdef", NULL, &c),
                     0);
    assert_int_equal(c.outcome, TK_CHECKIN_NO_TICKET);
    /* Other activity, cancelled ticket. */
    assert_int_equal(tk_redis_checkin(r, 13, g2.ticket_id, NULL, &c), 0);
    assert_int_equal(c.outcome, TK_CHECKIN_NO_ACTIVITY);
    assert_int_equal(tk_redis_grab(r, 12, "s4", NULL, 0, &g1), 0);
    assert_int_equal(tk_redis_refund(r, 12, "s4", NULL, 0, &f), 0);
    assert_int_equal(tk_redis_checkin(r, 12, g1.ticket_id, NULL, &c), 0);
    assert_int_equal(c.outcome, TK_CHECKIN_NO_TICKET);
    /* Bad input. */
    assert_int_equal(tk_redis_checkin(r, 12, NULL, NULL, &c), -EINVAL);
    assert_int_equal(tk_redis_checkin(r, 12, "XYZ", NULL, &c), -EINVAL);
    assert_int_equal(check_invariants(r, 12), 2);
}

static void
ticket(struct tk_ticket *t, const char *sid, const char *tid, int status)
{
    memset(t, 0, sizeof(*t));
    strcpy(t->student_id, sid);
    strcpy(t->unique_id, tid);
    t->status = status;
}

static void
test_load_init_and_reset(void **state)
{
    struct tk_redis *r = *state;
    struct tk_ticket t[4];
    struct tk_redis_stock st;
    struct tk_redis_result res;
    bool loaded;

    it_flush(r);
    ticket(&t[0], "s1", "00000000000000a1", TK_TICKET_VALID);
    ticket(&t[1], "s2", "00000000000000a2", TK_TICKET_USED);
    ticket(&t[2], "s3", "00000000000000a3", TK_TICKET_CANCELLED);
    ticket(&t[3], "s3", "00000000000000a4", TK_TICKET_VALID);
    assert_int_equal(tk_redis_load(r, 20, false, 5, t, 4, &loaded, &st), 0);
    assert_true(loaded);
    assert_int_equal(st.remain, 2);
    assert_int_equal(st.sold, 3);
    assert_int_equal(check_invariants(r, 20), 3);
    assert_int_equal(tk_redis_grab(r, 20, "s3", NULL, 0, &res), 0);
    assert_int_equal(res.outcome, TK_GRAB_DUPLICATE);
    assert_string_equal(res.ticket_id, "00000000000000a4");
    assert_int_equal(tk_redis_refund(r, 20, "s2", NULL, 0, &res), 0);
    assert_int_equal(res.outcome, TK_REFUND_USED);
    assert_int_equal(tk_redis_grab(r, 20, "s9", NULL, 0, &res), 0);
    assert_int_equal(res.outcome, TK_GRAB_OK);

    /* init leaves a loaded activity alone. */
    assert_int_equal(tk_redis_load(r, 20, false, 100, NULL, 0, &loaded, &st),
                     0);
    assert_false(loaded);
    assert_int_equal(st.total, 5);
    assert_int_equal(st.sold, 4);
    /* reset replaces stock, holders and tickets, never the stream. */
    assert_int_equal(tk_redis_load(r, 20, true, 3, t, 2, &loaded, &st), 0);
    assert_true(loaded);
    assert_int_equal(st.remain, 1);
    assert_int_equal(check_invariants(r, 20), 2);
    assert_int_equal(xlen(r, 20), 1);
    assert_int_equal(tk_redis_refund(r, 20, "s3", NULL, 0, &res), 0);
    assert_int_equal(res.outcome, TK_REFUND_NO_TICKET);

    /* Refused data changes nothing: two tickets for one student, more
     * tickets than total, a bad ticket. */
    ticket(&t[2], "s1", "00000000000000a3", TK_TICKET_VALID);
    assert_int_equal(tk_redis_load(r, 20, true, 9, t, 3, &loaded, &st),
                     -EPROTO);
    assert_int_equal(tk_redis_load(r, 20, true, 1, t, 2, &loaded, &st),
                     -EPROTO);
    ticket(&t[2], "s5", "NOT-HEX-AT-ALL!!", TK_TICKET_VALID);
    assert_int_equal(tk_redis_load(r, 20, true, 9, t, 3, &loaded, &st),
                     -EINVAL);
    assert_int_equal(tk_redis_stock(r, 20, &st), 1);
    assert_int_equal(st.total, 3);
    assert_int_equal(check_invariants(r, 20), 2);
}

/* --- concurrency ------------------------------------------------------- */

#define STUDENTS 2000
#define STOCK 100
#define THREADS 64

struct race {
    pthread_barrier_t start;
    atomic_int next;    /* next student index */
    atomic_int ok;
    atomic_int sold_out;
    atomic_int dup;
    atomic_int errors;
    int64_t act;
    const char *one_sid; /* all threads grab for this student when set */
    struct tk_redis_mux *mux; /* when set, every racer shares it */
    int per_thread;
    char tids[STUDENTS][TK_TICKET_ID_MAX + 1];
};

static void *
racer(void *p)
{
    struct race *race = p;
    struct tk_redis *r = race->mux != NULL ? tk_redis_new_shared(race->mux)
                                           : tk_redis_new(&conf);
    struct tk_redis_result res;
    char sid[TK_SID_MAX + 1];
    int i;

    if (tk_redis_open(r) < 0) {
        atomic_fetch_add(&race->errors, 1);
    }
    pthread_barrier_wait(&race->start);
    for (int n = 0; n < race->per_thread; n++) {
        i = atomic_fetch_add(&race->next, 1);
        if (race->one_sid != NULL) {
            snprintf(sid, sizeof(sid), "%s", race->one_sid);
        } else if (i < STUDENTS) {
            snprintf(sid, sizeof(sid), "2024%06d", i);
        } else {
            break;
        }
        if (tk_redis_grab(r, race->act, sid, NULL, 0, &res) < 0) {
            atomic_fetch_add(&race->errors, 1);
            continue;
        }
        if (res.outcome == TK_GRAB_OK) {
            atomic_fetch_add(&race->ok, 1);
        } else if (res.outcome == TK_GRAB_SOLD_OUT) {
            atomic_fetch_add(&race->sold_out, 1);
        } else if (res.outcome == TK_GRAB_DUPLICATE) {
            atomic_fetch_add(&race->dup, 1);
        }
        memcpy(race->tids[i], res.ticket_id, sizeof(res.ticket_id));
    }
    tk_redis_free(r);
    return NULL;
}

static void
run_race(struct race *race, int threads)
{
    pthread_t tid[THREADS];

    pthread_barrier_init(&race->start, NULL, (unsigned)threads);
    for (int i = 0; i < threads; i++) {
        assert_int_equal(pthread_create(&tid[i], NULL, racer, race), 0);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
    }
    pthread_barrier_destroy(&race->start);
}

static void
race_2000_students(struct tk_redis *r, struct tk_redis_mux *mux)
{
    struct race *race = calloc(1, sizeof(*race));
    struct tk_redis_stock st;
    char k[TK_KEY_BUF];

    it_flush(r);
    load(r, 30, STOCK);
    race->act = 30;
    race->mux = mux;
    race->per_thread = STUDENTS / THREADS + 1;
    run_race(race, THREADS);
    assert_int_equal(race->errors, 0);
    assert_int_equal(race->ok, STOCK);
    assert_int_equal(race->sold_out, STUDENTS - STOCK);
    assert_int_equal(race->dup, 0);
    assert_int_equal(xlen(r, 30), STOCK);
    assert_int_equal(tk_redis_stock(r, 30, &st), 1);
    assert_int_equal(st.remain, 0);
    assert_int_equal(check_invariants(r, 30), STOCK);
    tk_key_holders(k, 30);
    assert_int_equal(it_int(r, "HLEN", k, NULL), STOCK);
    /* Every OK reply names the ticket Redis holds for that student. */
    for (int i = 0; i < STUDENTS; i++) {
        if (race->tids[i][0] != '\0') {
            struct tk_redis_result c;
            char sid[TK_SID_MAX + 1];

            snprintf(sid, sizeof(sid), "2024%06d", i);
            assert_int_equal(tk_redis_grab(r, 30, sid, NULL, 0, &c), 0);
            assert_int_equal(c.outcome, TK_GRAB_DUPLICATE);
            assert_string_equal(c.ticket_id, race->tids[i]);
        }
    }
    free(race);
}

static void
test_2000_students_stock_100(void **state)
{
    race_2000_students(*state, NULL);
}

/*
 * The same race with all 64 threads on one shared connection: the same
 * invariants, every reply reaches the thread that asked (each OK names
 * the ticket Redis holds for that very student), and the threads' grabs
 * really travelled together.
 */
static void
test_2000_students_one_shared_connection(void **state)
{
    struct tk_redis_mux *mux = tk_redis_mux_new(&conf, NULL, NULL);
    uint64_t batches, jobs;

    race_2000_students(*state, mux);
    tk_redis_mux_stats(mux, &batches, &jobs);
    assert_int_equal(jobs, STUDENTS + THREADS); /* + each racer's open */
    assert_true(batches < jobs);
    tk_redis_mux_free(mux);
}

static void
test_one_student_50_parallel_grabs(void **state)
{
    struct tk_redis *r = *state;
    struct race *race = calloc(1, sizeof(*race));

    it_flush(r);
    load(r, 31, STOCK);
    race->act = 31;
    race->one_sid = "2024999999";
    race->per_thread = 1;
    run_race(race, 50);
    assert_int_equal(race->errors, 0);
    assert_int_equal(race->ok, 1);
    assert_int_equal(race->dup, 49);
    for (int i = 1; i < 50; i++) {
        assert_string_equal(race->tids[i], race->tids[0]);
    }
    assert_int_equal(xlen(r, 31), 1);
    assert_int_equal(check_invariants(r, 31), 1);
    free(race);
}

/* --- plain keys, lock, pipelining, connections -------------------------- */

static void
test_keys_lock_and_pipeline(void **state)
{
    struct tk_redis *r = *state;
    struct tk_buf v[3] = { TK_BUF_INIT, TK_BUF_INIT, TK_BUF_INIT };
    const char *keys[] = { "tk:t:a", "tk:t:missing", "tk:t:b" };
    int found[3];
    char tok[TK_REDIS_TOKEN_LEN + 1], tok2[TK_REDIS_TOKEN_LEN + 1];
    struct tk_redis_pairs pairs = { NULL, 0 };
    struct tk_redis_reply *reply;
    uint64_t rt;

    it_flush(r);
    assert_int_equal(tk_redis_set(r, "tk:t:a", "x\0y", 3, 0), 0);
    assert_int_equal(tk_redis_set(r, "tk:t:b", "B", 1, 60000), 0);
    assert_int_equal(it_int(r, "TTL", "tk:t:a", NULL), -1);
    assert_true(it_int(r, "PTTL", "tk:t:b", NULL) > 0);
    assert_int_equal(tk_redis_get(r, "tk:t:a", &v[0]), 1);
    assert_int_equal(v[0].len, 3);
    assert_memory_equal(v[0].data, "x\0y", 3);
    assert_int_equal(tk_redis_get(r, "tk:t:missing", &v[0]), 0);
    assert_int_equal(tk_redis_exists(r, "tk:t:b"), 1);

    rt = tk_redis_round_trips(r);
    assert_int_equal(tk_redis_mget(r, keys, 3, v, found), 0);
    assert_int_equal(tk_redis_round_trips(r) - rt, 1);
    assert_int_equal(found[0], 1);
    assert_int_equal(found[1], 0);
    assert_int_equal(found[2], 1);
    assert_string_equal(tk_buf_str(&v[2]), "B");

    assert_int_equal(tk_redis_del(r, "tk:t:b"), 1);
    assert_int_equal(tk_redis_del(r, "tk:t:b"), 0);
    assert_int_equal(tk_redis_exists(r, "tk:t:b"), 0);

    assert_int_equal(tk_redis_lock(r, "tk:lock:t", 10000, tok), 1);
    assert_int_equal(strlen(tok), TK_REDIS_TOKEN_LEN);
    assert_int_equal(tk_redis_lock(r, "tk:lock:t", 10000, tok2), 0);
    assert_int_equal(tk_redis_unlock(r, "tk:lock:t", tok2), 0);
    assert_int_equal(tk_redis_exists(r, "tk:lock:t"), 1);
    assert_int_equal(tk_redis_unlock(r, "tk:lock:t", tok), 1);
    assert_int_equal(tk_redis_exists(r, "tk:lock:t"), 0);

    assert_int_equal(it_int(r, "HSET", "tk:t:h", "f1", "v1", "f2", "v2",
                            NULL), 2);
    assert_int_equal(tk_redis_hgetall(r, "tk:t:h", &pairs), 1);
    assert_int_equal(pairs.n, 2);
    assert_int_equal(tk_redis_hgetall(r, "tk:t:none", &pairs), 0);
    assert_int_equal(pairs.n, 0);
    /* A wrong type is an error, not a miss. */
    assert_int_equal(tk_redis_hgetall(r, "tk:t:a", &pairs), -EPROTO);

    /* Error replies are replies for the generic commands. */
    assert_int_equal(tk_redis_cmd(r, &reply, "NOSUCHCOMMAND", NULL), 0);
    assert_int_equal(reply->type, TK_REDIS_ERROR);
    tk_redis_reply_free(reply);
    for (int i = 0; i < 3; i++) {
        tk_buf_release(&v[i]);
    }
}

/* Split round trips: replies are taken in order, one each; nothing else
 * runs on the connection while some are awaited. */
static void
test_send_then_receive(void **state)
{
    struct tk_redis *r = *state;
    const char *set[] = { "SET", "tk:t:s", "1" };
    const char *incr[] = { "INCR", "tk:t:s" };
    const char *bad[] = { "NOSUCHCOMMAND" };
    const struct tk_redis_command cmds[] = { { 3, set, NULL },
                                             { 2, incr, NULL },
                                             { 1, bad, NULL } };
    struct tk_redis_reply *reply = NULL;
    struct tk_buf v = TK_BUF_INIT;
    uint64_t rt;

    it_flush(r);
    assert_int_equal(tk_redis_unread(r), 0);
    rt = tk_redis_round_trips(r);
    assert_int_equal(tk_redis_send_many(r, cmds, 3), 0);
    assert_int_equal(tk_redis_round_trips(r) - rt, 1);
    assert_int_equal(tk_redis_unread(r), 3);
    /* The server ran them already; this client cannot ask until the
     * replies are read. */
    assert_int_equal(tk_redis_get(r, "tk:t:s", &v), -EBUSY);

    assert_int_equal(tk_redis_receive(r, &reply), 0);
    assert_int_equal(reply->type, TK_REDIS_STATUS);
    tk_redis_reply_free(reply);
    assert_int_equal(tk_redis_receive(r, &reply), 0);
    assert_int_equal(reply->type, TK_REDIS_INTEGER);
    assert_int_equal(reply->integer, 2);
    tk_redis_reply_free(reply);
    assert_int_equal(tk_redis_receive(r, &reply), 0);
    assert_int_equal(reply->type, TK_REDIS_ERROR);
    tk_redis_reply_free(reply);
    assert_int_equal(tk_redis_unread(r), 0);
    /* No reply is awaited: nothing to read, and the link still works. */
    assert_int_equal(tk_redis_receive(r, &reply), -EINVAL);
    assert_null(reply);
    assert_int_equal(tk_redis_get(r, "tk:t:s", &v), 1);
    assert_string_equal(tk_buf_str(&v), "2");

    /* A closed connection drops the replies it owed. */
    assert_int_equal(tk_redis_send(r, 2, incr, NULL), 0);
    assert_int_equal(tk_redis_unread(r), 1);
    tk_redis_close(r);
    assert_int_equal(tk_redis_unread(r), 0);
    assert_int_equal(tk_redis_get(r, "tk:t:s", &v), 1);
    assert_string_equal(tk_buf_str(&v), "3");
    tk_buf_release(&v);
}

/* Our own connection id, from CLIENT ID. */
static long long
client_id(struct tk_redis *r)
{
    return it_int(r, "CLIENT", "ID", NULL);
}

static void
test_reconnect_keeps_timeouts(void **state)
{
    struct tk_redis *killer = *state;
    struct tk_conf c = conf;
    struct tk_redis *r;
    struct tk_redis_reply *reply;
    struct tk_buf v = TK_BUF_INIT;
    char id[32];
    long long before;

    c.redis.timeout_ms = 300;
    r = it_redis(&c);
    it_flush(r);
    /* The server drops us: the next read reconnects and succeeds. */
    before = client_id(r);
    snprintf(id, sizeof(id), "%lld", before);
    assert_int_equal(it_int(killer, "CLIENT", "KILL", "ID", id, NULL), 1);
    assert_int_equal(tk_redis_get(r, "tk:t:x", &v), 0);
    assert_true(client_id(r) != before);

    /* A command that outlives timeout_ms fails instead of blocking, on a
     * reconnected context too (hiredis 0.14 would drop the timeout). */
    assert_int_equal(tk_redis_reconnect(r), 0);
    assert_int_equal(tk_redis_cmd(r, &reply, "BLPOP", "tk:t:never", "0",
                                  NULL), -ETIMEDOUT);
    assert_null(reply);
    assert_false(tk_redis_is_connected(r));
    assert_int_equal(tk_redis_ping(r), 0); /* replaced, not reused */
    assert_true(tk_redis_is_connected(r));

    /* A dead server: a clean error, no hang. */
    c.redis.socket = (char *)"/nonexistent/redis.sock";
    {
        struct tk_redis *dead = tk_redis_new(&c);

        assert_true(tk_redis_ping(dead) < 0);
        assert_false(tk_redis_is_connected(dead));
        tk_redis_free(dead);
    }
    tk_redis_free(r);
    tk_buf_release(&v);
}

/* A shared connection's failures: each caller gets its error, and the
 * connection comes back for the next. */
struct blocker {
    struct tk_redis *r;
    int rc;
};

static void *
block_forever(void *p)
{
    struct blocker *b = p;
    struct tk_redis_reply *reply = NULL;

    b->rc = tk_redis_cmd(b->r, &reply, "BLPOP", "tk:t:never", "0", NULL);
    tk_redis_reply_free(reply);
    return NULL;
}

static void
test_shared_connection_failures(void **state)
{
    struct tk_redis *killer = *state;
    struct tk_conf c = conf;
    struct tk_redis_mux *mux;
    struct tk_redis *a, *b;
    struct tk_buf v = TK_BUF_INIT;
    struct blocker blk;
    pthread_t t;
    char id[32];
    long long before;

    c.redis.timeout_ms = 300;
    mux = tk_redis_mux_new(&c, NULL, NULL);
    a = tk_redis_new_shared(mux);
    b = tk_redis_new_shared(mux);
    it_flush(killer);
    assert_false(tk_redis_is_connected(a));
    assert_int_equal(tk_redis_open(a), 0);
    assert_true(tk_redis_is_connected(b)); /* one connection for both */
    before = it_int(a, "CLIENT", "ID", NULL);
    assert_int_equal(it_int(b, "CLIENT", "ID", NULL), before);

    /* Dropped by the server: a read is sent again on a new connection. */
    snprintf(id, sizeof(id), "%lld", before);
    assert_int_equal(it_int(killer, "CLIENT", "KILL", "ID", id, NULL), 1);
    assert_int_equal(tk_redis_set(b, "tk:t:s", "v", 1, 0), 0);
    assert_int_equal(tk_redis_get(a, "tk:t:s", &v), 1);
    assert_string_equal(tk_buf_str(&v), "v");
    assert_true(it_int(a, "CLIENT", "ID", NULL) != before);

    /* A command that hangs fails after timeout_ms; whatever was queued
     * behind it fails or succeeds, never hangs, and the connection is
     * replaced for the next caller. */
    blk.r = a;
    assert_int_equal(pthread_create(&t, NULL, block_forever, &blk), 0);
    usleep(50 * 1000);
    (void)tk_redis_get(b, "tk:t:s", &v);
    pthread_join(t, NULL);
    assert_int_equal(blk.rc, -ETIMEDOUT);
    assert_int_equal(tk_redis_get(b, "tk:t:s", &v), 1);
    assert_string_equal(tk_buf_str(&v), "v");

    /* Split round trips need a connection of their own. */
    {
        const char *argv[] = { "PING" };

        assert_int_equal(tk_redis_send(a, 1, argv, NULL), -ENOTSUP);
    }
    tk_redis_free(a);
    tk_redis_free(b);
    tk_redis_mux_free(mux);
    tk_buf_release(&v);
}

/* These tests read the streams the functions write: no consumer may apply
 * and trim them meanwhile. */
static pid_t persistd;

static int
setup(void **state)
{
    persistd = it_persistd_pause();
    *state = it_redis(&conf);
    return 0;
}

static int
teardown(void **state)
{
    tk_redis_free(*state);
    it_persistd_resume(persistd);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_functions_loaded_and_versioned),
        cmocka_unit_test(test_grab_basics),
        cmocka_unit_test(test_dedupe_replays_the_outcome),
        cmocka_unit_test(test_grab_bound),
        cmocka_unit_test(test_refund_then_regrab),
        cmocka_unit_test(test_checkin_and_used_refund),
        cmocka_unit_test(test_load_init_and_reset),
        cmocka_unit_test(test_2000_students_stock_100),
        cmocka_unit_test(test_2000_students_one_shared_connection),
        cmocka_unit_test(test_one_student_50_parallel_grabs),
        cmocka_unit_test(test_keys_lock_and_pipeline),
        cmocka_unit_test(test_send_then_receive),
        cmocka_unit_test(test_reconnect_keeps_timeouts),
        cmocka_unit_test(test_shared_connection_failures),
    };
    int rc;

    it_conf(&conf);
    rc = cmocka_run_group_tests(tests, setup, teardown);
    tk_conf_release(&conf);
    return rc;
}
