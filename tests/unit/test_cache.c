/* Unit tests for the cache encodings, the worker-local cache and the
 * embedded functions library's version. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "conf.h"
#include "redis.h"

static void
sample(struct tk_activity *a)
{
    memset(a, 0, sizeof(*a));
    a->id = 42;
    a->status = TK_ACT_PUBLISHED;
    strcpy(a->key, "concert2026");
    strcpy(a->name, "新年音乐会, with: commas and 12:colons");
    strcpy(a->place, "新清华学堂");
    strcpy(a->pic_url, "https://example.edu/p.png");
    memset(a->description, 'd', TK_DESC_MAX);
    a->start_time = 1798714800;
    a->end_time = 1798723800;
    a->book_start = 1797739200;
    a->book_end = 1798603200;
    a->total_tickets = 1000;
}

static void
test_activity_round_trip(void **state)
{
    struct tk_activity a, b;
    struct tk_buf buf = TK_BUF_INIT;

    (void)state;
    sample(&a);
    tk_cache_encode_activity(&buf, &a);
    assert_int_equal(tk_cache_decode_activity(buf.data, buf.len, &b), 0);
    assert_memory_equal(&a, &b, sizeof(a));
    tk_buf_release(&buf);
}

/* Every strict prefix, and anything appended, is refused. */
static void
test_activity_truncated_or_extended(void **state)
{
    struct tk_activity a, b;
    struct tk_buf buf = TK_BUF_INIT;

    (void)state;
    sample(&a);
    tk_cache_encode_activity(&buf, &a);
    for (size_t n = 0; n < buf.len; n++) {
        assert_int_equal(tk_cache_decode_activity(buf.data, n, &b), -EINVAL);
    }
    tk_buf_addc(&buf, 'x');
    assert_int_equal(tk_cache_decode_activity(buf.data, buf.len, &b),
                     -EINVAL);
    tk_buf_release(&buf);
}

/* Flipping any byte never crashes; what decodes is within bounds. */
static void
test_activity_garbage(void **state)
{
    struct tk_activity a, b;
    struct tk_buf buf = TK_BUF_INIT;
    static const char *const bad[] = {
        "", "A", "A2", "A0", "B1", "A1x", "A1:", "A1-1:x,", "A199999999:",
        "A102:42,", "A12:42;", "A12:42,1:9,",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(tk_cache_decode_activity(bad[i], strlen(bad[i]), &b),
                         -EINVAL);
    }
    sample(&a);
    a.description[0] = '\0';
    tk_cache_encode_activity(&buf, &a);
    for (size_t i = 0; i < buf.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            buf.data[i] ^= (char)(1 << bit);
            if (tk_cache_decode_activity(buf.data, buf.len, &b) == 0) {
                assert_true(strlen(b.name) <= TK_NAME_MAX);
                assert_true(b.id > 0);
            }
            buf.data[i] ^= (char)(1 << bit);
        }
    }
    /* Over-long fields and invalid UTF-8 are refused. */
    tk_buf_reset(&buf);
    tk_buf_adds(&buf, "A12:42,1:1,65:");
    for (int i = 0; i < 65; i++) {
        tk_buf_addc(&buf, 'k');
    }
    tk_buf_adds(&buf, ",0:,0:,0:,0:,1:0,1:0,1:0,1:0,1:0,");
    assert_int_equal(tk_cache_decode_activity(buf.data, buf.len, &b),
                     -EINVAL);
    {
        static const char bad_utf8[] =
            "A12:42,1:1,1:\xff,0:,0:,0:,0:,1:0,1:0,1:0,1:0,1:0,";
        static const char good[] =
            "A12:42,1:1,1:k,0:,0:,0:,0:,1:0,1:0,1:0,1:0,1:0,";

        assert_int_equal(tk_cache_decode_activity(bad_utf8,
                                                  sizeof(bad_utf8) - 1, &b),
                         -EINVAL);
        assert_int_equal(tk_cache_decode_activity(good, sizeof(good) - 1,
                                                  &b),
                         0);
    }
    assert_string_equal(b.key, "k");
    tk_buf_release(&buf);
}

static void
test_small_encodings(void **state)
{
    struct tk_buf buf = TK_BUF_INIT;
    char sid[TK_SID_MAX + 1];
    int64_t id;

    (void)state;
    tk_cache_encode_activity_id(&buf, 9007199254740993LL);
    assert_int_equal(tk_cache_decode_activity_id(buf.data, buf.len, &id), 0);
    assert_true(id == 9007199254740993LL);
    assert_int_equal(tk_cache_decode_activity_id("K11:0,", 6, &id), -EINVAL);
    assert_int_equal(tk_cache_decode_activity_id("K12:-5,", 7, &id), -EINVAL);
    assert_int_equal(tk_cache_decode_activity_id("K12:1x,", 7, &id), -EINVAL);
    tk_buf_reset(&buf);
    tk_cache_encode_binding(&buf, "2021012345");
    assert_int_equal(tk_cache_decode_binding(buf.data, buf.len, sid), 0);
    assert_string_equal(sid, "2021012345");
    assert_int_equal(tk_cache_decode_binding("B10:,", 5, sid), -EINVAL);
    assert_int_equal(tk_cache_decode_binding("B13:a\nb,", 8, sid), -EINVAL);
    assert_int_equal(
        tk_cache_decode_binding("B133:123456789012345678901234567890123,",
                                39, sid),
        -EINVAL);
    tk_buf_release(&buf);
}

static void
test_ticket_lists(void **state)
{
    struct tk_ticket_list in = { NULL, 0 }, out = { NULL, 0 };
    struct tk_buf buf = TK_BUF_INIT;
    struct tk_ticket t;

    (void)state;
    tk_cache_encode_tickets(&buf, &in);
    assert_int_equal(tk_cache_decode_tickets(buf.data, buf.len, &out), 0);
    assert_int_equal(out.n, 0);
    for (int i = 0; i < 3; i++) {
        memset(&t, 0, sizeof(t));
        snprintf(t.unique_id, sizeof(t.unique_id), "%016x", i);
        strcpy(t.student_id, "2021012345");
        t.activity_id = 100 + i;
        t.status = i;
        t.created_at = 1700000000 + i;
        t.updated_at = 1700000100 + i;
        tk_ticket_list_add(&in, &t);
    }
    tk_buf_reset(&buf);
    tk_cache_encode_tickets(&buf, &in);
    assert_int_equal(tk_cache_decode_tickets(buf.data, buf.len, &out), 0);
    assert_int_equal(out.n, 3);
    assert_memory_equal(out.items, in.items, 3 * sizeof(t));
    for (size_t n = 0; n < buf.len; n++) {
        assert_int_equal(tk_cache_decode_tickets(buf.data, n, &out), -EINVAL);
        assert_int_equal(out.n, 0);
    }
    /* Counts larger than the data or the limit. */
    assert_int_equal(tk_cache_decode_tickets("T15:99999,", 10, &out),
                     -EINVAL);
    assert_int_equal(tk_cache_decode_tickets("T12:-1,", 7, &out), -EINVAL);
    /* A bad status. */
    tk_buf_reset(&buf);
    tk_buf_adds(&buf, "T11:1,16:0000000000000000,1:1,1:s,1:7,1:0,1:0,");
    assert_int_equal(tk_cache_decode_tickets(buf.data, buf.len, &out),
                     -EINVAL);
    tk_ticket_list_release(&in);
    tk_ticket_list_release(&out);
    tk_buf_release(&buf);
}

static void
test_unwrap(void **state)
{
    const char *p;
    size_t n;

    (void)state;
    assert_int_equal(tk_cache_unwrap("n", 1, &p, &n), 0);
    assert_int_equal(tk_cache_unwrap("vabc", 4, &p, &n), 1);
    assert_int_equal(n, 3);
    assert_memory_equal(p, "abc", 3);
    assert_int_equal(tk_cache_unwrap("v", 1, &p, &n), 1);
    assert_int_equal(n, 0);
    assert_int_equal(tk_cache_unwrap("", 0, &p, &n), -EINVAL);
    assert_int_equal(tk_cache_unwrap("nx", 2, &p, &n), -EINVAL);
    assert_int_equal(tk_cache_unwrap("x", 1, &p, &n), -EINVAL);
}

static void
pause_ms(int ms)
{
    struct timespec ts = { 0, ms * 1000000L };

    nanosleep(&ts, NULL);
}

static void
test_local_cache(void **state)
{
    struct tk_conf conf;
    struct tk_cache_local *l;
    struct tk_activity a, b;
    int64_t id;

    (void)state;
    tk_conf_defaults(&conf);
    conf.cache.local_ttl_ms = 60;
    conf.cache.soldout_ms = 60;
    l = tk_cache_local_new(&conf);
    sample(&a);
    assert_int_equal(tk_cache_local_activity(l, 42, &b), 0);
    tk_cache_local_put_activity(l, &a);
    assert_int_equal(tk_cache_local_activity(l, 42, &b), 1);
    assert_memory_equal(&a, &b, sizeof(a));
    assert_int_equal(tk_cache_local_activity(l, 42 + 64, &b), 0);
    assert_int_equal(tk_cache_local_activity_id(l, "concert2026", &id), 1);
    assert_int_equal(id, 42);
    assert_int_equal(tk_cache_local_activity_id(l, "other", &id), 0);
    tk_cache_local_drop(l, 42);
    assert_int_equal(tk_cache_local_activity(l, 42, &b), 0);
    assert_int_equal(tk_cache_local_activity_id(l, "concert2026", &id), 0);
    tk_cache_local_put_activity(l, &a);
    pause_ms(100);
    assert_int_equal(tk_cache_local_activity(l, 42, &b), 0);

    assert_false(tk_cache_local_answer_sold_out(l, 42));
    tk_cache_local_set_sold_out(l, 42);
    assert_true(tk_cache_local_answer_sold_out(l, 42));
    assert_false(tk_cache_local_answer_sold_out(l, 43));
    tk_cache_local_clear_sold_out(l, 42);
    assert_false(tk_cache_local_answer_sold_out(l, 42));
    tk_cache_local_set_sold_out(l, 42);
    pause_ms(100);
    /* Expired: the first to look asks Redis, the others still see the
     * flag until that answer comes (or soldout_ms passes without one). */
    assert_false(tk_cache_local_answer_sold_out(l, 42));
    assert_true(tk_cache_local_answer_sold_out(l, 42));
    assert_true(tk_cache_local_answer_sold_out(l, 42));
    pause_ms(100);
    assert_false(tk_cache_local_answer_sold_out(l, 42));
    assert_true(tk_cache_local_answer_sold_out(l, 42));
    tk_cache_local_set_sold_out(l, 42); /* the answer: still sold out */
    assert_true(tk_cache_local_answer_sold_out(l, 42));
    pause_ms(100);
    assert_false(tk_cache_local_answer_sold_out(l, 42));
    tk_cache_local_clear_sold_out(l, 42); /* the answer: stock left */
    assert_false(tk_cache_local_answer_sold_out(l, 42));
    assert_false(tk_cache_local_answer_sold_out(l, 42));
    tk_cache_local_free(l);

    /* TTL 0 disables. */
    conf.cache.local_ttl_ms = 0;
    conf.cache.soldout_ms = 0;
    l = tk_cache_local_new(&conf);
    tk_cache_local_put_activity(l, &a);
    tk_cache_local_set_sold_out(l, 42);
    assert_int_equal(tk_cache_local_activity(l, 42, &b), 0);
    assert_false(tk_cache_local_answer_sold_out(l, 42));
    tk_cache_local_free(l);
    tk_cache_local_free(NULL);
    tk_conf_release(&conf);
}

/* Threads writing and reading colliding slots never see a torn copy. */
struct hammer {
    struct tk_cache_local *l;
    int base;
    int torn;
};

static void *
hammer(void *p)
{
    struct hammer *h = p;
    struct tk_activity a, b;

    memset(&a, 0, sizeof(a));
    for (int i = 0; i < 20000; i++) {
        int64_t id = 1 + (h->base + i) % 256;

        a.id = id;
        snprintf(a.key, sizeof(a.key), "k%lld", (long long)id);
        snprintf(a.name, sizeof(a.name), "name-%lld", (long long)id);
        a.total_tickets = id * 3;
        tk_cache_local_put_activity(h->l, &a);
        if (tk_cache_local_activity(h->l, 1 + i % 256, &b) == 1) {
            char want[64];

            snprintf(want, sizeof(want), "name-%lld", (long long)b.id);
            if (strcmp(b.name, want) != 0 || b.total_tickets != b.id * 3 ||
                b.id != 1 + i % 256) {
                h->torn++;
            }
        }
    }
    return NULL;
}

static void
test_local_cache_threads(void **state)
{
    struct tk_conf conf;
    pthread_t t[4];
    struct hammer h[4];

    (void)state;
    tk_conf_defaults(&conf);
    conf.cache.local_ttl_ms = 60000;
    for (int i = 0; i < 4; i++) {
        h[i].base = i * 7;
        h[i].torn = 0;
    }
    h[0].l = tk_cache_local_new(&conf);
    for (int i = 0; i < 4; i++) {
        h[i].l = h[0].l;
        pthread_create(&t[i], NULL, hammer, &h[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(h[i].torn, 0);
    }
    tk_cache_local_free(h[0].l);
    tk_conf_release(&conf);
}

static void
test_functions_source(void **state)
{
    const char *src = tk_redis_functions_source();

    (void)state;
    assert_true(tk_redis_functions_version() >= 1);
    assert_int_equal(strncmp(src, "#!lua name=ticketd\n", 19), 0);
    assert_non_null(strstr(src, "redis.register_function('tk_grab'"));
    assert_null(strstr(src, "allow-oom"));
    assert_null(strstr(src, "MAXLEN"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_activity_round_trip),
        cmocka_unit_test(test_activity_truncated_or_extended),
        cmocka_unit_test(test_activity_garbage),
        cmocka_unit_test(test_small_encodings),
        cmocka_unit_test(test_ticket_lists),
        cmocka_unit_test(test_unwrap),
        cmocka_unit_test(test_local_cache),
        cmocka_unit_test(test_local_cache_threads),
        cmocka_unit_test(test_functions_source),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
