/*
 * The store's C API against the stack's real mariadbd ($TK_DIR): every
 * typed function, bind outcomes, check-in outcomes, admin passwords, and
 * the reconnect rules (a killed connection is replaced and an idempotent
 * read retried, but a transaction in flight is reported lost).
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
#include "crypto.h"
#include "it.h"
#include "store.h"
#include "util.h"

static struct tk_conf conf;

/* Runs SQL through the mariadb client, as root over the stack's socket
 * (root may kill the ticketd user's connections). */
static void
sql(const char *fmt, ...)
{
    char q[2048], cmd[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(q, sizeof(q), fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof(cmd), "mariadb --socket='%s' ticketd -N -B -e \"%s\"",
             conf.mysql.socket, q);
    assert_int_equal(system(cmd), 0);
}

static void
kill_connections(void)
{
    char cmd[1024];

    snprintf(cmd, sizeof(cmd),
             "mariadb --socket='%s' -N -B -e \"SELECT CONCAT('KILL ', id, "
             "';') FROM information_schema.processlist WHERE "
             "user='ticketd'\" | mariadb --socket='%s'",
             conf.mysql.socket, conf.mysql.socket);
    assert_int_equal(system(cmd), 0);
}

static int
setup(void **state)
{
    struct tk_store *s;

    it_conf(&conf);
    if (tk_store_open(&s, &conf) < 0) {
        return -1;
    }
    *state = s;
    return 0;
}

static int
teardown(void **state)
{
    tk_store_free(*state);
    tk_conf_release(&conf);
    return 0;
}

/* Fresh tables before each test. */
static int
reset(void **state)
{
    (void)state;
    sql("DELETE FROM tickets; DELETE FROM users; DELETE FROM students; "
        "DELETE FROM activities; DELETE FROM admins; DELETE FROM images; "
        "DELETE FROM menu");
    return 0;
}

static void
make_activity(struct tk_activity *a, const char *key, int status,
              int64_t book_start, int64_t book_end)
{
    memset(a, 0, sizeof(*a));
    tk_strlcpy(a->key, key, sizeof(a->key));
    tk_strlcpy(a->name, "音乐会", sizeof(a->name));
    tk_strlcpy(a->place, "礼堂", sizeof(a->place));
    tk_strlcpy(a->description, "desc", sizeof(a->description));
    a->book_start = book_start;
    a->book_end = book_end;
    a->start_time = book_end + 3600;
    a->end_time = book_end + 7200;
    a->total_tickets = 100;
    a->status = status;
}

static void
test_activities(void **state)
{
    struct tk_store *s = *state;
    struct tk_activity a, b, open[8];
    int64_t now = tk_now(), id1, id2, id3, booked, used;

    make_activity(&a, "a1", TK_ACT_PUBLISHED, now - 10, now + 1000);
    assert_int_equal(tk_store_activity_create(s, &a, &id1), 0);
    make_activity(&a, "a2", TK_ACT_PUBLISHED, now + 10, now + 2000);
    assert_int_equal(tk_store_activity_create(s, &a, &id2), 0);
    make_activity(&a, "a3", TK_ACT_SAVED, now - 20, now + 2000);
    assert_int_equal(tk_store_activity_create(s, &a, &id3), 0);
    assert_int_equal(tk_store_activity_create(s, &a, &id3), -EEXIST);

    assert_int_equal(tk_store_activity_get(s, id1, &b), 1);
    assert_string_equal(b.key, "a1");
    assert_string_equal(b.name, "音乐会");
    assert_int_equal(b.book_end, now + 1000);
    assert_int_equal(tk_store_activity_get(s, id3 + 100, &b), 0);
    assert_int_equal(tk_store_activity_get_by_key(s, "a2", &b), 1);
    assert_int_equal(b.id, id2);
    assert_int_equal(tk_store_activity_get_by_key(s, "nope", &b), 0);

    /* published and booking not ended, soonest book_start first */
    assert_int_equal(tk_store_activity_list_open(s, now, open, 8), 2);
    assert_int_equal(open[0].id, id1);
    assert_int_equal(open[1].id, id2);
    assert_int_equal(tk_store_activity_list_open(s, now + 1500, open, 8), 1);
    assert_int_equal(tk_store_activity_list_open(s, now, open, 1), 1);

    assert_int_equal(tk_store_activity_get(s, id2, &b), 1);
    b.total_tickets = 5;
    tk_strlcpy(b.key, "a1", sizeof(b.key));
    assert_int_equal(tk_store_activity_update(s, &b), -EEXIST);
    tk_strlcpy(b.key, "a2b", sizeof(b.key));
    assert_int_equal(tk_store_activity_update(s, &b), 1);
    b.id = id3 + 100;
    assert_int_equal(tk_store_activity_update(s, &b), 0);

    assert_int_equal(tk_store_activity_set_status(s, id2, TK_ACT_DELETED), 1);
    assert_int_equal(tk_store_activity_set_status(s, id2, TK_ACT_PUBLISHED),
                     0);
    assert_int_equal(tk_store_activity_list_open(s, now, open, 8), 1);

    sql("INSERT INTO tickets (unique_id, activity_id, student_id, status, "
        "created_at, updated_at) VALUES ('t1',%lld,'s1',1,1,1),"
        "('t2',%lld,'s2',2,1,1),('t3',%lld,'s3',0,1,1)",
        (long long)id1, (long long)id1, (long long)id1);
    assert_int_equal(tk_store_activity_counts(s, id1, &booked, &used), 0);
    assert_int_equal(booked, 2);
    assert_int_equal(used, 1);
}

static int
count_rows(const struct tk_activity *a, void *arg)
{
    (void)a;
    return ++*(int *)arg == 2; /* stop after two */
}

static void
test_activity_list(void **state)
{
    struct tk_store *s = *state;
    struct tk_activity a;
    int64_t id, now = tk_now();
    int seen = 0;
    char key[16];

    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof(key), "l%d", i);
        make_activity(&a, key, i == 3 ? TK_ACT_DELETED : TK_ACT_SAVED, now,
                      now + 10);
        assert_int_equal(tk_store_activity_create(s, &a, &id), 0);
    }
    assert_int_equal(tk_store_activity_list(s, count_rows, &seen), 2);
    seen = -100;
    assert_int_equal(tk_store_activity_list(s, count_rows, &seen), 3);
}

static void
test_roster_and_bind(void **state)
{
    struct tk_store *s = *state;
    char h1[TK_PW_HASH_MAX], h2[TK_PW_HASH_MAX], sid[TK_SID_MAX + 1];
    struct tk_store_student_row rows[2] = {
        {"s1", "张三", h1, NULL},
        {"s2", "李四", h2, "o_pre"},
    };
    struct tk_student st;

    tk_password_hash("pw-one", TK_PW_ITER_ROSTER, h1);
    tk_password_hash("pw-two", TK_PW_ITER_ROSTER, h2);
    assert_int_equal(tk_store_begin(s), 0);
    assert_int_equal(tk_store_student_insert_batch(s, rows, 2), 0);
    assert_int_equal(tk_store_commit(s), 0);
    assert_int_equal(tk_store_student_get(s, "s1", &st), 1);
    assert_string_equal(st.name, "张三");
    assert_int_equal(tk_store_student_get(s, "s9", &st), 0);
    assert_int_equal(tk_store_student_verify(s, "s1", "pw-one"), 1);
    assert_int_equal(tk_store_student_verify(s, "s1", "pw-two"), 0);
    assert_int_equal(tk_store_student_verify(s, "s9", "pw-one"), 0);
    assert_int_equal(tk_store_user_get(s, "o_pre", sid), 1);
    assert_string_equal(sid, "s2");

    assert_int_equal(tk_store_user_bind(s, "o1", "s1", "wrong"),
                     TK_BIND_BAD_CREDENTIALS);
    assert_int_equal(tk_store_user_bind(s, "o1", "s9", "pw-one"),
                     TK_BIND_BAD_CREDENTIALS);
    assert_int_equal(tk_store_user_get(s, "o1", sid), 0);
    assert_int_equal(tk_store_user_bind(s, "o1", "s1", "pw-one"), TK_BIND_OK);
    assert_int_equal(tk_store_user_bind(s, "o1", "s1", "pw-one"), TK_BIND_OK);
    assert_int_equal(tk_store_user_bind(s, "o2", "s1", "pw-one"),
                     TK_BIND_STUDENT_TAKEN);
    assert_int_equal(tk_store_user_bind(s, "o1", "s2", "pw-two"),
                     TK_BIND_OPENID_BOUND);
    assert_int_equal(tk_store_user_get(s, "o1", sid), 1);
    assert_string_equal(sid, "s1");
    assert_int_equal(tk_store_user_get(s, "o2", sid), 0);

    assert_int_equal(tk_store_user_unbind(s, "o1"), 1);
    assert_int_equal(tk_store_user_unbind(s, "o1"), 0);
    assert_int_equal(tk_store_user_get(s, "o1", sid), 0);
    /* the row of an unbound openid is reused by a later bind */
    assert_int_equal(tk_store_user_bind(s, "o1", "s1", NULL), TK_BIND_OK);
    assert_int_equal(tk_store_user_get(s, "o1", sid), 1);

    /* a batch that would bind an already bound student fails as a whole
     * inside the caller's transaction */
    rows[0].student_id = "s3";
    rows[0].openid = "o_new";
    rows[1].openid = "o_other";
    assert_int_equal(tk_store_begin(s), 0);
    assert_int_equal(tk_store_student_insert_batch(s, rows, 2), -EEXIST);
    tk_store_rollback(s);
    assert_int_equal(tk_store_student_get(s, "s3", &st), 0);
}

static void
test_tickets(void **state)
{
    struct tk_store *s = *state;
    struct tk_ticket t, list[4];

    sql("INSERT INTO tickets (unique_id, activity_id, student_id, status, "
        "created_at, updated_at) VALUES ('u1',1,'s1',1,10,10),"
        "('u2',2,'s1',1,20,20),('u3',3,'s1',0,30,30),('u4',1,'s2',1,5,5)");
    assert_int_equal(tk_store_ticket_get(s, "u1", &t), 1);
    assert_int_equal(t.activity_id, 1);
    assert_string_equal(t.student_id, "s1");
    assert_int_equal(t.status, TK_TICKET_VALID);
    assert_int_equal(tk_store_ticket_get(s, "nope", &t), 0);
    assert_int_equal(tk_store_ticket_get_by_student(s, 2, "s1", &t), 1);
    assert_string_equal(t.unique_id, "u2");
    assert_int_equal(tk_store_ticket_get_by_student(s, 2, "s2", &t), 0);
    assert_int_equal(tk_store_ticket_list_valid(s, "s1", list, 4), 2);
    assert_string_equal(list[0].unique_id, "u2");
    assert_string_equal(list[1].unique_id, "u1");

    assert_int_equal(tk_store_ticket_set_used(s, 2, "u1"),
                     TK_CHECKIN_NO_TICKET);
    assert_int_equal(tk_store_ticket_set_used(s, 1, "u1"), TK_CHECKIN_OK);
    assert_int_equal(tk_store_ticket_set_used(s, 1, "u1"), TK_CHECKIN_USED);
    assert_int_equal(tk_store_ticket_set_used(s, 3, "u3"),
                     TK_CHECKIN_NO_TICKET);
    assert_int_equal(tk_store_ticket_set_used(s, 1, "zz"),
                     TK_CHECKIN_NO_TICKET);
    assert_int_equal(tk_store_ticket_list_valid(s, "s1", list, 4), 1);
}

static void
test_admins(void **state)
{
    struct tk_store *s = *state;

    assert_int_equal(tk_store_admin_add(s, "root", "correct horse"), 0);
    assert_int_equal(tk_store_admin_add(s, "root", "other"), -EEXIST);
    assert_int_equal(tk_store_admin_verify(s, "root", "correct horse"), 1);
    assert_int_equal(tk_store_admin_verify(s, "root", "wrong horse"), 0);
    assert_int_equal(tk_store_admin_verify(s, "nobody", "correct horse"), 0);
}

static void
test_images_and_menu(void **state)
{
    struct tk_store *s = *state;
    int64_t id1, id2, ids[TK_MENU_MAX], six[6] = {1, 2, 3, 4, 5, 6};
    int64_t set[3] = {9, 7, 8};

    assert_int_equal(tk_store_image_insert(s, "a/b.png", "image/png", 10,
                                           &id1),
                     0);
    assert_int_equal(tk_store_image_insert(s, "a/c.png", "image/png", 10,
                                           &id2),
                     0);
    assert_true(id2 > id1);
    assert_int_equal(tk_store_image_insert(s, "a/b.png", "image/png", 10,
                                           &id2),
                     -EEXIST);
    assert_int_equal(tk_store_menu_get(s, ids), 0);
    assert_int_equal(tk_store_menu_set(s, set, 3), 0);
    assert_int_equal(tk_store_menu_get(s, ids), 3);
    assert_int_equal(ids[0], 9);
    assert_int_equal(ids[2], 8);
    assert_int_equal(tk_store_menu_set(s, six, 6), -EINVAL);
    assert_int_equal(tk_store_menu_get(s, ids), 3);
    assert_int_equal(tk_store_menu_set(s, set, 1), 0);
    assert_int_equal(tk_store_menu_get(s, ids), 1);
}

static void
test_reconnect(void **state)
{
    struct tk_store *s = *state;
    struct tk_activity a;
    int64_t id, now = tk_now();

    make_activity(&a, "r1", TK_ACT_SAVED, now, now + 10);
    assert_int_equal(tk_store_activity_create(s, &a, &id), 0);

    /* an idempotent read outside a transaction survives a lost link */
    kill_connections();
    assert_int_equal(tk_store_activity_get(s, id, &a), 1);
    assert_string_equal(a.key, "r1");

    /* inside a transaction the loss is reported, never papered over */
    assert_int_equal(tk_store_begin(s), 0);
    assert_int_equal(tk_store_activity_set_status(s, id, TK_ACT_PUBLISHED),
                     1);
    kill_connections();
    assert_int_equal(tk_store_activity_get(s, id, &a), -ECONNABORTED);
    assert_int_equal(tk_store_commit(s), -ECONNABORTED);
    /* the lost transaction's write did not happen */
    assert_int_equal(tk_store_activity_get(s, id, &a), 1);
    assert_int_equal(a.status, TK_ACT_SAVED);

    /* a write that is not idempotent is not retried once it may have
     * reached the server (its statement was prepared), but the next one
     * works on a new connection */
    make_activity(&a, "r2", TK_ACT_SAVED, now, now + 10);
    assert_int_equal(tk_store_activity_create(s, &a, &id), 0);
    kill_connections();
    make_activity(&a, "r3", TK_ACT_SAVED, now, now + 10);
    assert_int_equal(tk_store_activity_create(s, &a, &id), -ENOTCONN);
    assert_int_equal(tk_store_activity_get_by_key(s, "r3", &a), 0);
    make_activity(&a, "r3", TK_ACT_SAVED, now, now + 10);
    assert_int_equal(tk_store_activity_create(s, &a, &id), 0);
    assert_int_equal(tk_store_ping(s), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_activities, reset),
        cmocka_unit_test_setup(test_activity_list, reset),
        cmocka_unit_test_setup(test_roster_and_bind, reset),
        cmocka_unit_test_setup(test_tickets, reset),
        cmocka_unit_test_setup(test_admins, reset),
        cmocka_unit_test_setup(test_images_and_menu, reset),
        cmocka_unit_test_setup(test_reconnect, reset),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
