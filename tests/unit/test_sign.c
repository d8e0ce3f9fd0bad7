/* Unit tests for link signatures. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sign.h"

static const char secret[] = "0123456789abcdef-link-secret";

static void
test_sign_is_order_independent(void **state)
{
    struct tk_sign_param a[] = {{"openid", "o_1"}, {"ticket", "T-9"}};
    struct tk_sign_param b[] = {{"ticket", "T-9"}, {"openid", "o_1"}};
    char sa[TK_SIG_LEN + 1], sb[TK_SIG_LEN + 1];

    (void)state;
    assert_int_equal(tk_sign(secret, a, 2, sa), 0);
    assert_int_equal(tk_sign(secret, b, 2, sb), 0);
    assert_int_equal(strlen(sa), TK_SIG_LEN);
    assert_string_equal(sa, sb);
    assert_null(strpbrk(sa, "+/="));
    assert_true(tk_sign_is_valid(secret, b, 2, sa));
}

static void
test_sign_detects_changes(void **state)
{
    struct tk_sign_param p[] = {{"openid", "o_1"}, {"ticket", "T-9"}};
    struct tk_sign_param q[] = {{"openid", "o_2"}, {"ticket", "T-9"}};
    /* Moving the separator must not keep the signature. */
    struct tk_sign_param r[] = {{"openid", "o_1&ticket=T-9"}};
    char s[TK_SIG_LEN + 1], bad[TK_SIG_LEN + 1];

    (void)state;
    assert_int_equal(tk_sign(secret, p, 2, s), 0);
    assert_false(tk_sign_is_valid(secret, q, 2, s));
    assert_false(tk_sign_is_valid(secret, r, 1, s));
    assert_false(tk_sign_is_valid(secret, p, 1, s));
    assert_false(tk_sign_is_valid("another-secret-16chars", p, 2, s));
    assert_false(tk_sign_is_valid(secret, p, 2, NULL));
    assert_false(tk_sign_is_valid(secret, p, 2, ""));
    memcpy(bad, s, sizeof(bad));
    bad[0] = bad[0] == 'A' ? 'B' : 'A';
    assert_false(tk_sign_is_valid(secret, p, 2, bad));
    bad[TK_SIG_LEN - 1] = '\0';
    assert_false(tk_sign_is_valid(secret, p, 2, bad));
}

static void
test_sign_refuses_bad_sets(void **state)
{
    struct tk_sign_param dup[] = {{"a", "1"}, {"a", "2"}};
    struct tk_sign_param sig[] = {{"sig", "1"}};
    struct tk_sign_param empty[] = {{"", "1"}};
    struct tk_sign_param nullv[] = {{"a", NULL}};
    struct tk_sign_param many[TK_SIGN_MAX_PARAMS + 1];
    char names[TK_SIGN_MAX_PARAMS + 1][4];
    char s[TK_SIG_LEN + 1];

    (void)state;
    assert_int_equal(tk_sign(secret, dup, 2, s), -EINVAL);
    assert_int_equal(tk_sign(secret, sig, 1, s), -EINVAL);
    assert_int_equal(tk_sign(secret, empty, 1, s), -EINVAL);
    assert_int_equal(tk_sign(secret, nullv, 1, s), -EINVAL);
    for (int i = 0; i <= TK_SIGN_MAX_PARAMS; i++) {
        snprintf(names[i], sizeof(names[i]), "p%d", i);
        many[i].name = names[i];
        many[i].value = "v";
    }
    assert_int_equal(tk_sign(secret, many, TK_SIGN_MAX_PARAMS, s), 0);
    assert_int_equal(tk_sign(secret, many, TK_SIGN_MAX_PARAMS + 1, s),
                     -EINVAL);
}

static void
test_sign_query_roundtrip(void **state)
{
    struct tk_arena a;
    struct tk_sign_param p[] = {{"openid", "o 1/你"}, {"ticket", "42"}};
    static const char *const names[] = {"openid", "ticket"};
    char *q, *env_q;
    const char *vars[2];
    struct tk_req req;

    (void)state;
    tk_arena_init(&a, 4096);
    q = tk_sign_query(&a, secret, p, 2);
    assert_non_null(q);
    assert_non_null(strstr(q, "openid=o%201%2F%E4%BD%A0&ticket=42&sig="));
    env_q = tk_arena_printf(&a, "QUERY_STRING=%s", q);
    vars[0] = env_q;
    vars[1] = NULL;
    tk_req_init(&req, &a, (char *const *)vars);
    assert_int_equal(tk_req_parse_query(&req), 0);
    assert_int_equal(tk_sign_check_req(&req, secret, names, 2), 0);
    /* A missing parameter or a tampered one is refused. */
    static const char *const more[] = {"openid", "ticket", "exp"};
    assert_int_equal(tk_sign_check_req(&req, secret, more, 3), -EACCES);
    env_q = tk_arena_printf(&a, "QUERY_STRING=%s", q);
    env_q[strlen("QUERY_STRING=openid=o%201%2F%E4%BD%A0&ticket=4")] = '3';
    vars[0] = env_q;
    tk_req_init(&req, &a, (char *const *)vars);
    assert_int_equal(tk_req_parse_query(&req), 0);
    assert_string_equal(tk_req_param(&req, "ticket"), "43");
    assert_int_equal(tk_sign_check_req(&req, secret, names, 2), -EACCES);
    /* No sig at all. */
    vars[0] = "QUERY_STRING=openid=o&ticket=42";
    tk_req_init(&req, &a, (char *const *)vars);
    assert_int_equal(tk_req_parse_query(&req), 0);
    assert_int_equal(tk_sign_check_req(&req, secret, names, 2), -EACCES);
    tk_arena_release(&a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_is_order_independent),
        cmocka_unit_test(test_sign_detects_changes),
        cmocka_unit_test(test_sign_refuses_bad_sets),
        cmocka_unit_test(test_sign_query_roundtrip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
