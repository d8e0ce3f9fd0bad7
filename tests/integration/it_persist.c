/*
 * tk_store_events_apply() against the stack's real mariadbd: the rules
 * that make ticket-persistd's at-least-once delivery exactly-once in
 * effect. Events apply in stream-id order per (activity, student);
 * replays, out-of-order deliveries (claims from a dead consumer) and
 * refunds of an older ticket never resurrect or double a ticket; a
 * unique_id clash is refused without breaking the transaction.
 * The daemon itself is tested by tests/integration/persist.sh.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "it.h"
#include "store.h"
#include "util.h"

#define ACT 900001 /* rows of this activity only; no stream uses it */

static struct tk_conf conf;
static struct tk_store *store;

static struct tk_store_event
ev(const char *sid, const char *tid, int status, int64_t ms)
{
    return (struct tk_store_event){ ACT, sid, tid, status, ms, 0, 1700000000 };
}

static int
apply(const struct tk_store_event *e, size_t n)
{
    int rc = tk_store_begin(store), rc2;

    assert_int_equal(rc, 0);
    rc = tk_store_events_apply(store, e, n);
    rc2 = tk_store_commit(store);
    assert_int_equal(rc2, 0);
    return rc;
}

/* The row of sid: its unique_id and status; 0 when absent. */
static int
row(const char *sid, char *tid, int *status)
{
    struct tk_ticket t;
    int rc = tk_store_ticket_get_by_student(store, ACT, sid, &t);

    assert_true(rc >= 0);
    if (rc == 1) {
        strcpy(tid, t.unique_id);
        *status = t.status;
    }
    return rc;
}

static void
assert_row(const char *sid, const char *tid, int status)
{
    char got[TK_TICKET_ID_MAX + 1];
    int st = -1;

    assert_int_equal(row(sid, got, &st), 1);
    assert_string_equal(got, tid);
    assert_int_equal(st, status);
}

static int
setup(void **state)
{
    (void)state;
    it_conf(&conf);
    return tk_store_open(&store, &conf) < 0 ? -1 : 0;
}

static int
teardown(void **state)
{
    (void)state;
    tk_store_exec(store, "DELETE FROM tickets WHERE activity_id=900001");
    tk_store_free(store);
    tk_conf_release(&conf);
    return 0;
}

static int
reset(void **state)
{
    (void)state;
    return tk_store_exec(store,
                         "DELETE FROM tickets WHERE activity_id=900001");
}

/* Grab, refund, grab again in one batch, then every replay a crash can
 * cause: the whole batch, each event alone, the last one first. */
static void
test_grab_refund_grab_replayed(void **state)
{
    struct tk_store_event b[] = {
        ev("s1", "aaaaaaaaaaaaaaa1", 1, 10),
        ev("s1", "aaaaaaaaaaaaaaa1", 0, 11),
        ev("s1", "aaaaaaaaaaaaaaa2", 1, 12),
    };

    (void)state;
    assert_int_equal(apply(b, 3), 0);
    assert_row("s1", "aaaaaaaaaaaaaaa2", 1);
    assert_int_equal(apply(b, 3), 0);
    assert_row("s1", "aaaaaaaaaaaaaaa2", 1);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(apply(&b[i], 1), 0);
        assert_row("s1", "aaaaaaaaaaaaaaa2", 1);
    }
    /* The same events delivered out of order to a fresh student: the
     * newest lands first, the older ones are ignored. */
    for (size_t i = 0; i < 3; i++) {
        b[i].student_id = "s2";
        b[i].unique_id = i < 2 ? "bbbbbbbbbbbbbbb1" : "bbbbbbbbbbbbbbb2";
    }
    assert_int_equal(apply(&b[2], 1), 0);
    assert_int_equal(apply(b, 2), 0);
    assert_row("s2", "bbbbbbbbbbbbbbb2", 1);
    /* In between: after the refund only, the row is cancelled. */
    for (size_t i = 0; i < 2; i++) {
        b[i].student_id = "s3";
        b[i].unique_id = "ccccccccccccccc1";
    }
    assert_int_equal(apply(b, 2), 0);
    assert_row("s3", "ccccccccccccccc1", 0);
}

/* A refund that arrives before its grab (claimed out of order) leaves a
 * cancelled row the late grab cannot revive; a check-in is final; a
 * refund naming an older ticket changes nothing. */
static void
test_late_and_stale_events(void **state)
{
    struct tk_store_event r = ev("s4", "ddddddddddddddd1", 0, 21);
    struct tk_store_event g = ev("s4", "ddddddddddddddd1", 1, 20);
    struct tk_store_event c[] = {
        ev("s5", "eeeeeeeeeeeeeee1", 1, 30),
        ev("s5", "eeeeeeeeeeeeeee1", 2, 31),
        ev("s5", "eeeeeeeeeeeeeee0", 0, 32), /* another ticket's refund */
    };

    (void)state;
    assert_int_equal(apply(&r, 1), 0);
    assert_int_equal(apply(&g, 1), 0);
    assert_row("s4", "ddddddddddddddd1", 0);
    assert_int_equal(apply(c, 3), 0);
    assert_row("s5", "eeeeeeeeeeeeeee1", 2);
    assert_int_equal(apply(c, 1), 0); /* the grab replayed */
    assert_row("s5", "eeeeeeeeeeeeeee1", 2);
}

/* A unique_id that belongs to another student's row is refused (it must
 * not update that row); the statement changes nothing and the
 * transaction goes on. */
static void
test_unique_id_clash(void **state)
{
    struct tk_store_event first = ev("s6", "fffffffffffffff1", 1, 40);
    struct tk_store_event batch[] = {
        ev("s7", "fffffffffffffff7", 1, 41),
        ev("s8", "fffffffffffffff1", 1, 42), /* s6's ticket id */
    };
    char tid[TK_TICKET_ID_MAX + 1];
    int st, rc;

    (void)state;
    assert_int_equal(apply(&first, 1), 0);
    assert_int_equal(tk_store_begin(store), 0);
    rc = tk_store_events_apply(store, batch, 2);
    assert_true(rc == -EINVAL || rc == -EEXIST);
    assert_int_equal(tk_store_events_apply(store, batch, 1), 0);
    assert_int_equal(tk_store_commit(store), 0);
    assert_row("s6", "fffffffffffffff1", 1);
    assert_row("s7", "fffffffffffffff7", 1);
    assert_int_equal(row("s8", tid, &st), 0);
    /* A regrab whose new id is another row's is refused too. */
    batch[0] = ev("s7", "fffffffffffffff1", 1, 50);
    rc = apply(batch, 1);
    assert_true(rc == -EINVAL || rc == -EEXIST);
    assert_row("s7", "fffffffffffffff7", 1);
}

/* More events than one statement holds, in one transaction. */
static void
test_many_chunks(void **state)
{
    size_t n = 2 * TK_STORE_EVENT_CHUNK + 123;
    struct tk_store_event *e = tk_xcalloc(n, sizeof(*e));
    char (*sid)[16] = tk_xcalloc(n, sizeof(*sid));
    char (*tid)[17] = tk_xcalloc(n, sizeof(*tid));
    int64_t booked = 0, used = 0;

    (void)state;
    for (size_t i = 0; i < n; i++) {
        snprintf(sid[i], sizeof(sid[i]), "m%06zu", i);
        snprintf(tid[i], sizeof(tid[i]), "%016zx", 0x9000000u + i);
        e[i] = ev(sid[i], tid[i], 1, 100 + (int64_t)i);
    }
    assert_int_equal(apply(e, n), 0);
    assert_int_equal(apply(e, n), 0);
    assert_int_equal(tk_store_activity_counts(store, ACT, &booked, &used), 0);
    assert_int_equal(booked, (int64_t)n);
    free(e);
    free(sid);
    free(tid);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_grab_refund_grab_replayed, reset),
        cmocka_unit_test_setup(test_late_and_stale_events, reset),
        cmocka_unit_test_setup(test_unique_id_clash, reset),
        cmocka_unit_test_setup(test_many_chunks, reset),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
