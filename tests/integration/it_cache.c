/*
 * Cache-aside against the stack's real Redis: one loader for a stampede
 * of misses, null markers, TTLs with jitter, the bounded wait and its
 * fallback, loader errors, corrupt values, the typed caches and their
 * invalidation.
 *
 * Most loaders here count their calls instead of querying MariaDB; each
 * call stands for one query. One stampede test loads through the store
 * and counts the statements MariaDB itself executed.
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
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "it.h"
#include "keys.h"
#include "redis.h"
#include "store.h"

static struct tk_conf conf;

struct counter {
    atomic_int calls;
    int result;   /* what the loader returns */
    int delay_ms; /* how long one "query" takes */
    const char *payload;
};

static void
pause_ms(int ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

static int
count_load(void *ctx, struct tk_buf *value)
{
    struct counter *c = ctx;

    atomic_fetch_add(&c->calls, 1);
    if (c->delay_ms > 0) {
        pause_ms(c->delay_ms);
    }
    if (c->result > 0) {
        tk_buf_adds(value, c->payload);
    }
    return c->result;
}

static void
cache_with(struct tk_cache *c, int lock_wait_ms)
{
    tk_cache_init(c, &conf);
    c->lock_wait_ms = lock_wait_ms;
}

/* --- 1000 concurrent misses ------------------------------------------ */

#define STAMPEDE 1000

struct stampede {
    pthread_barrier_t start;
    struct tk_cache cache;
    struct counter load;
    atomic_int found;
    atomic_int errors;
    atomic_int wrong;
};

static void *
stampeder(void *p)
{
    struct stampede *s = p;
    struct tk_redis *r = tk_redis_new(&conf);
    struct tk_buf v = TK_BUF_INIT;
    int rc;

    if (tk_redis_open(r) < 0) {
        atomic_fetch_add(&s->errors, 1);
    }
    pthread_barrier_wait(&s->start);
    rc = tk_cache_get(&s->cache, r, "tk:act:id:4242", count_load, &s->load,
                      &v);
    if (rc < 0) {
        atomic_fetch_add(&s->errors, 1);
    } else if (rc == 1) {
        atomic_fetch_add(&s->found, 1);
        if (strcmp(tk_buf_str(&v), "the-activity") != 0) {
            atomic_fetch_add(&s->wrong, 1);
        }
    }
    tk_buf_release(&v);
    tk_redis_free(r);
    return NULL;
}

static void
test_1000_concurrent_misses_one_load(void **state)
{
    struct stampede *s = calloc(1, sizeof(*s));
    pthread_t *t = calloc(STAMPEDE, sizeof(*t));
    pthread_attr_t attr;

    it_flush(*state);
    /* A generous wait: this test is about the single loader, not about
     * how fast 1000 threads get scheduled on two cores. */
    cache_with(&s->cache, 60000);
    s->load.result = 1;
    s->load.delay_ms = 50;
    s->load.payload = "the-activity";
    pthread_barrier_init(&s->start, NULL, STAMPEDE);
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 512 * 1024);
    for (int i = 0; i < STAMPEDE; i++) {
        assert_int_equal(pthread_create(&t[i], &attr, stampeder, s), 0);
    }
    for (int i = 0; i < STAMPEDE; i++) {
        pthread_join(t[i], NULL);
    }
    pthread_attr_destroy(&attr);
    pthread_barrier_destroy(&s->start);
    assert_int_equal(s->errors, 0);
    assert_int_equal(s->found, STAMPEDE);
    assert_int_equal(s->wrong, 0);
    assert_int_equal(s->load.calls, 1); /* one MariaDB query */
    assert_int_equal(s->cache.loads, 1);
    assert_int_equal(s->cache.fallbacks, 0);
    /* Most of them missed at first: the lock, not luck, did it. */
    assert_true(s->cache.misses > 1);
    free(t);
    free(s);
}

/* The same stampede against a loader that queries MariaDB, measured by
 * the server's own count of executed statements. */
struct db_stampede {
    pthread_barrier_t start;
    struct tk_cache cache;
    pthread_mutex_t lock; /* a store is one connection: one user at once */
    struct tk_store *store;
    atomic_int loads;
    atomic_int found;
    atomic_int errors;
    atomic_int wrong;
    struct tk_activity want;
};

static int
db_load_act(void *ctx, int64_t id, struct tk_activity *out)
{
    struct db_stampede *s = ctx;
    int rc;

    atomic_fetch_add(&s->loads, 1);
    pthread_mutex_lock(&s->lock);
    rc = tk_store_activity_get(s->store, id, out);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static void *
db_stampeder(void *p)
{
    struct db_stampede *s = p;
    struct tk_redis *r = tk_redis_new(&conf);
    struct tk_activity *a = calloc(1, sizeof(*a));
    int rc;

    if (tk_redis_open(r) < 0) {
        atomic_fetch_add(&s->errors, 1);
    }
    pthread_barrier_wait(&s->start);
    rc = tk_cache_activity(&s->cache, r, s->want.id, db_load_act, s, a);
    if (rc < 0) {
        atomic_fetch_add(&s->errors, 1);
    } else if (rc == 1) {
        atomic_fetch_add(&s->found, 1);
        if (strcmp(a->key, s->want.key) != 0 ||
            a->total_tickets != s->want.total_tickets) {
            atomic_fetch_add(&s->wrong, 1);
        }
    }
    free(a);
    tk_redis_free(r);
    return NULL;
}

/* Com_stmt_execute now; each reading executes one statement itself. */
static int64_t
executed(struct tk_store *meter)
{
    int64_t v = -1;

    assert_int_equal(tk_store_server_status(meter, "Com_stmt_execute", &v),
                     1);
    return v;
}

/* Com_stmt_execute is server-wide: the stack's ticket-persistd may still be
 * applying events of earlier test files, so it is paused while counting. */
static void
test_1000_concurrent_misses_one_mariadb_query(void **state)
{
    struct db_stampede *s = calloc(1, sizeof(*s));
    pthread_t *t = calloc(STAMPEDE, sizeof(*t));
    struct tk_store *meter;
    pthread_attr_t attr;
    int64_t id, before, after, own;
    char key[TK_KEY_MAX + 1];

    it_flush(*state);
    assert_int_equal(tk_store_open(&s->store, &conf), 0);
    assert_int_equal(tk_store_open(&meter, &conf), 0);
    snprintf(key, sizeof(key), "it-cache-%ld-%ld", (long)getpid(),
             (long)tk_now_ms());
    strcpy(s->want.key, key);
    strcpy(s->want.name, "stampede");
    s->want.status = TK_ACT_PUBLISHED;
    s->want.start_time = s->want.end_time = 1900000000;
    s->want.book_start = s->want.book_end = 1890000000;
    s->want.total_tickets = 321;
    assert_int_equal(tk_store_activity_create(s->store, &s->want, &id), 0);
    s->want.id = id;
    cache_with(&s->cache, 60000);
    pthread_mutex_init(&s->lock, NULL);
    pthread_barrier_init(&s->start, NULL, STAMPEDE);
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 512 * 1024);

    pid_t paused = it_persistd_pause();

    /* What one reading costs by itself (the meter's own execution). */
    before = executed(meter);
    own = executed(meter) - before;
    assert_true(own >= 0 && own <= 1);

    before = executed(meter);
    for (int i = 0; i < STAMPEDE; i++) {
        assert_int_equal(pthread_create(&t[i], &attr, db_stampeder, s), 0);
    }
    for (int i = 0; i < STAMPEDE; i++) {
        pthread_join(t[i], NULL);
    }
    after = executed(meter);
    it_persistd_resume(paused);
    pthread_attr_destroy(&attr);
    pthread_barrier_destroy(&s->start);
    pthread_mutex_destroy(&s->lock);
    assert_int_equal(s->errors, 0);
    assert_int_equal(s->found, STAMPEDE);
    assert_int_equal(s->wrong, 0);
    assert_int_equal(s->loads, 1);
    assert_int_equal(s->cache.fallbacks, 0);
    /* MariaDB executed exactly one statement for the 1000 misses. */
    print_message("stampede: Com_stmt_execute +%lld (a reading costs %lld)"
                  "\n", (long long)(after - before), (long long)own);
    assert_int_equal(after - before - own, 1);
    assert_true(s->cache.misses > 1);
    assert_int_equal(tk_store_activity_set_status(s->store, id,
                                                  TK_ACT_DELETED), 1);
    tk_store_free(meter);
    tk_store_free(s->store);
    free(t);
    free(s);
}

static void
test_unknown_key_one_load_then_null_hits(void **state)
{
    struct tk_redis *r = *state;
    struct tk_cache c;
    struct counter load = { .result = 0 };
    struct tk_buf v = TK_BUF_INIT;
    long long pttl;

    it_flush(r);
    cache_with(&c, 1000);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(tk_cache_get(&c, r, "tk:bind:nobody", count_load,
                                      &load, &v), 0);
    }
    assert_int_equal(load.calls, 1);
    assert_int_equal(c.hits, 99);
    assert_int_equal(tk_redis_get(r, "tk:bind:nobody", &v), 1);
    assert_string_equal(tk_buf_str(&v), "n");
    pttl = it_int(r, "PTTL", "tk:bind:nobody", NULL);
    assert_true(pttl > 0 && pttl <= conf.cache.null_ttl_s * 1000);
    /* The lock is gone. */
    assert_int_equal(tk_redis_exists(r, "tk:lock:tk:bind:nobody"), 0);
    tk_buf_release(&v);
}

static void
test_values_get_ttl_with_jitter(void **state)
{
    struct tk_redis *r = *state;
    struct tk_cache c;
    struct counter load = { .result = 1, .payload = "x" };
    struct tk_buf v = TK_BUF_INIT;
    char key[32];
    long long lo = (long long)conf.cache.ttl_s * 1000, hi = lo + lo / 10;
    long long min = hi, max = 0;

    it_flush(r);
    cache_with(&c, 1000);
    for (int i = 0; i < 50; i++) {
        long long pttl;

        snprintf(key, sizeof(key), "tk:t:j%d", i);
        assert_int_equal(tk_cache_get(&c, r, key, count_load, &load, &v), 1);
        pttl = it_int(r, "PTTL", key, NULL);
        assert_true(pttl > lo - 5000 && pttl <= hi);
        min = pttl < min ? pttl : min;
        max = pttl > max ? pttl : max;
    }
    assert_true(max > min); /* not all the same expiry */
    assert_int_equal(load.calls, 50);
    tk_buf_release(&v);
}

static void
test_bounded_wait_then_one_direct_load(void **state)
{
    struct tk_redis *r = *state;
    struct tk_cache c;
    struct counter load = { .result = 1, .payload = "direct" };
    struct tk_buf v = TK_BUF_INIT;
    char tok[TK_REDIS_TOKEN_LEN + 1];

    it_flush(r);
    cache_with(&c, 50);
    /* Somebody holds the lock and never finishes. */
    assert_int_equal(tk_redis_lock(r, "tk:lock:tk:t:stuck", 60000, tok), 1);
    assert_int_equal(tk_cache_get(&c, r, "tk:t:stuck", count_load, &load,
                                  &v), 1);
    assert_string_equal(tk_buf_str(&v), "direct");
    assert_int_equal(load.calls, 1);
    assert_int_equal(c.fallbacks, 1);
    /* Not stored: the holder's value wins. */
    assert_int_equal(tk_redis_exists(r, "tk:t:stuck"), 0);

    /* A lock freed without a value is taken over by a waiter. */
    cache_with(&c, 5000);
    assert_int_equal(tk_redis_unlock(r, "tk:lock:tk:t:stuck", tok), 1);
    assert_int_equal(tk_cache_get(&c, r, "tk:t:stuck", count_load, &load,
                                  &v), 1);
    assert_int_equal(c.fallbacks, 0);
    assert_int_equal(tk_redis_exists(r, "tk:t:stuck"), 1);
    tk_buf_release(&v);
}

static void
test_loader_error_caches_nothing(void **state)
{
    struct tk_redis *r = *state;
    struct tk_cache c;
    struct counter load = { .result = -EIO };
    struct tk_buf v = TK_BUF_INIT;

    it_flush(r);
    cache_with(&c, 1000);
    assert_int_equal(tk_cache_get(&c, r, "tk:t:e", count_load, &load, &v),
                     -EIO);
    assert_int_equal(tk_redis_exists(r, "tk:t:e"), 0);
    assert_int_equal(tk_redis_exists(r, "tk:lock:tk:t:e"), 0);
    load.result = 1;
    load.payload = "ok";
    assert_int_equal(tk_cache_get(&c, r, "tk:t:e", count_load, &load, &v), 1);
    assert_int_equal(load.calls, 2);
    tk_buf_release(&v);
}

/* --- typed caches ------------------------------------------------------ */

struct store {
    atomic_int calls;
    struct tk_activity act;
};

static int
load_act(void *ctx, int64_t id, struct tk_activity *out)
{
    struct store *s = ctx;

    atomic_fetch_add(&s->calls, 1);
    if (id != s->act.id) {
        return 0;
    }
    *out = s->act;
    return 1;
}

static int
load_act_id(void *ctx, const char *key, int64_t *id)
{
    struct store *s = ctx;

    atomic_fetch_add(&s->calls, 1);
    if (strcmp(key, s->act.key) != 0) {
        return 0;
    }
    *id = s->act.id;
    return 1;
}

static int
load_bind(void *ctx, const char *openid, char sid[TK_SID_MAX + 1])
{
    struct store *s = ctx;

    atomic_fetch_add(&s->calls, 1);
    if (strcmp(openid, "o-bound") != 0) {
        return 0;
    }
    strcpy(sid, "2021012345");
    return 1;
}

static int
load_tix(void *ctx, const char *sid, struct tk_ticket_list *out)
{
    struct store *s = ctx;
    struct tk_ticket t;

    atomic_fetch_add(&s->calls, 1);
    memset(&t, 0, sizeof(t));
    strcpy(t.unique_id, "00000000000000aa");
    strcpy(t.student_id, sid);
    t.activity_id = s->act.id;
    t.status = TK_TICKET_VALID;
    tk_ticket_list_add(out, &t);
    strcpy(t.unique_id, "00000000000000bb");
    t.status = TK_TICKET_USED;
    tk_ticket_list_add(out, &t);
    return 1;
}

static void
test_typed_caches_and_invalidation(void **state)
{
    struct tk_redis *r = *state;
    struct tk_cache c;
    struct store s;
    struct tk_activity a;
    struct tk_ticket_list list = { NULL, 0 };
    char sid[TK_SID_MAX + 1];
    int64_t id;

    it_flush(r);
    cache_with(&c, 1000);
    memset(&s, 0, sizeof(s));
    s.act.id = 77;
    s.act.status = TK_ACT_PUBLISHED;
    strcpy(s.act.key, "concert");
    strcpy(s.act.name, "新年音乐会");
    strcpy(s.act.place, "新清华学堂");
    s.act.book_start = 1700000000;
    s.act.total_tickets = 1000;

    for (int i = 0; i < 3; i++) {
        assert_int_equal(tk_cache_activity(&c, r, 77, load_act, &s, &a), 1);
        assert_int_equal(a.id, 77);
        assert_string_equal(a.name, "新年音乐会");
        assert_int_equal(a.total_tickets, 1000);
        assert_int_equal(tk_cache_activity_id(&c, r, "concert", load_act_id,
                                              &s, &id), 1);
        assert_int_equal(id, 77);
    }
    assert_int_equal(s.calls, 2);
    assert_int_equal(tk_cache_activity(&c, r, 78, load_act, &s, &a), 0);
    assert_int_equal(tk_cache_activity(&c, r, 78, load_act, &s, &a), 0);
    assert_int_equal(s.calls, 3);

    /* Admin write: MariaDB first, then the cache keys. */
    strcpy(s.act.name, "改名了");
    assert_int_equal(tk_cache_invalidate_activity(r, 77, "concert"), 0);
    assert_int_equal(tk_cache_activity(&c, r, 77, load_act, &s, &a), 1);
    assert_string_equal(a.name, "改名了");
    assert_int_equal(tk_cache_activity_id(&c, r, "concert", load_act_id, &s,
                                          &id), 1);
    assert_int_equal(s.calls, 5);

    /* A corrupt cached value is a miss: reloaded and replaced. */
    assert_int_equal(tk_redis_set(r, "tk:act:id:77", "vA1garbage", 10, 0),
                     0);
    assert_int_equal(tk_cache_activity(&c, r, 77, load_act, &s, &a), 1);
    assert_string_equal(a.name, "改名了");
    assert_int_equal(s.calls, 6);
    assert_int_equal(c.corrupt, 1);
    assert_int_equal(tk_redis_set(r, "tk:act:id:77", "?", 1, 0), 0);
    assert_int_equal(tk_cache_activity(&c, r, 77, load_act, &s, &a), 1);
    assert_int_equal(s.calls, 7);
    assert_int_equal(tk_cache_activity(&c, r, 77, load_act, &s, &a), 1);
    assert_int_equal(s.calls, 7);

    /* Bindings: bound, unbound (null-cached), invalidated. */
    assert_int_equal(tk_cache_binding(&c, r, "o-bound", load_bind, &s, sid),
                     1);
    assert_string_equal(sid, "2021012345");
    assert_int_equal(tk_cache_binding(&c, r, "o-bound", load_bind, &s, sid),
                     1);
    assert_int_equal(tk_cache_binding(&c, r, "o-free", load_bind, &s, sid),
                     0);
    assert_int_equal(tk_cache_binding(&c, r, "o-free", load_bind, &s, sid),
                     0);
    assert_int_equal(s.calls, 9);
    assert_int_equal(tk_cache_invalidate_binding(r, "o-free"), 0);
    assert_int_equal(tk_cache_binding(&c, r, "o-free", load_bind, &s, sid),
                     0);
    assert_int_equal(s.calls, 10);

    /* A student's tickets. */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(tk_cache_my_tickets(&c, r, "2021012345", load_tix,
                                             &s, &list), 1);
        assert_int_equal(list.n, 2);
        assert_string_equal(list.items[1].unique_id, "00000000000000bb");
        assert_int_equal(list.items[1].status, TK_TICKET_USED);
        assert_string_equal(list.items[0].student_id, "2021012345");
    }
    assert_int_equal(s.calls, 11);
    assert_int_equal(tk_cache_invalidate_my_tickets(r, "2021012345"), 0);
    assert_int_equal(tk_cache_my_tickets(&c, r, "2021012345", load_tix, &s,
                                         &list), 1);
    assert_int_equal(s.calls, 12);
    tk_ticket_list_release(&list);
}

static int
setup(void **state)
{
    *state = it_redis(&conf);
    return 0;
}

static int
teardown(void **state)
{
    tk_redis_free(*state);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_1000_concurrent_misses_one_load),
        cmocka_unit_test(test_1000_concurrent_misses_one_mariadb_query),
        cmocka_unit_test(test_unknown_key_one_load_then_null_hits),
        cmocka_unit_test(test_values_get_ttl_with_jitter),
        cmocka_unit_test(test_bounded_wait_then_one_direct_load),
        cmocka_unit_test(test_loader_error_caches_nothing),
        cmocka_unit_test(test_typed_caches_and_invalidation),
    };
    int rc;

    it_conf(&conf);
    rc = cmocka_run_group_tests(tests, setup, teardown);
    tk_conf_release(&conf);
    return rc;
}
