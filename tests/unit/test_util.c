/* Unit tests for util, buf and arena. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "util.h"

static void
test_buf_grows_and_terminates(void **state)
{
    struct tk_buf b = TK_BUF_INIT;

    (void)state;
    assert_string_equal(tk_buf_str(&b), "");
    for (int i = 0; i < 1000; i++) {
        tk_buf_printf(&b, "%d,", i);
    }
    assert_int_equal(strlen(b.data), b.len);
    assert_true(strncmp(b.data, "0,1,2,", 6) == 0);
    assert_true(strstr(b.data, "999,") != NULL);
    tk_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(tk_buf_str(&b), "");
    tk_buf_release(&b);
    tk_buf_release(NULL);
}

static void
test_buf_escapes(void **state)
{
    struct tk_buf b = TK_BUF_INIT;

    (void)state;
    tk_buf_add_html(&b, "<a href=\"x\">&'</a>");
    assert_string_equal(b.data,
                        "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    tk_buf_reset(&b);
    tk_buf_add_json_str(&b, "q\"\\\n\x01中");
    assert_string_equal(b.data, "\"q\\\"\\\\\\n\\u0001中\"");
    tk_buf_release(&b);
}

static void
test_buf_detach(void **state)
{
    struct tk_buf b = TK_BUF_INIT;
    size_t n;
    char *s;

    (void)state;
    s = tk_buf_detach(&b, &n);
    assert_int_equal(n, 0);
    assert_string_equal(s, "");
    free(s);
    tk_buf_adds(&b, "abc");
    s = tk_buf_detach(&b, &n);
    assert_int_equal(n, 3);
    assert_string_equal(s, "abc");
    assert_null(b.data);
    free(s);
}

static void
test_arena(void **state)
{
    struct tk_arena a;
    char *big;

    (void)state;
    tk_arena_init(&a, 256);
    char *s = tk_arena_strdup(&a, "hello");
    assert_string_equal(s, "hello");
    assert_int_equal((uintptr_t)s % 16, 0);
    for (int i = 0; i < 100; i++) {
        char *p = tk_arena_printf(&a, "item %d", i);

        assert_string_equal(p, tk_arena_printf(&a, "item %d", i));
    }
    big = tk_arena_alloc(&a, 10000);
    memset(big, 'x', 10000);
    assert_string_equal(s, "hello"); /* earlier data survives growth */
    tk_arena_reset(&a);
    assert_int_equal(a.used, 0);
    char *z = tk_arena_calloc(&a, 64);
    for (int i = 0; i < 64; i++) {
        assert_int_equal(z[i], 0);
    }
    assert_string_equal(tk_arena_strndup(&a, "abcdef", 3), "abc");
    tk_arena_release(&a);
    tk_arena_release(NULL);
}

static void
test_parse_i64(void **state)
{
    int64_t v;

    (void)state;
    assert_int_equal(tk_parse_i64("123", &v), 0);
    assert_int_equal(v, 123);
    assert_int_equal(tk_parse_i64("-5", &v), 0);
    assert_int_equal(v, -5);
    assert_int_equal(tk_parse_i64("", &v), -EINVAL);
    assert_int_equal(tk_parse_i64(" 1", &v), -EINVAL);
    assert_int_equal(tk_parse_i64("1x", &v), -EINVAL);
    assert_int_equal(tk_parse_i64("+1", &v), -EINVAL);
    assert_int_equal(tk_parse_i64("99999999999999999999", &v), -ERANGE);
    assert_int_equal(tk_parse_i64(NULL, &v), -EINVAL);
}

static void
test_utf8(void **state)
{
    (void)state;
    assert_true(tk_utf8_is_valid("abc", 3));
    assert_true(tk_utf8_is_valid("抢票", strlen("抢票")));
    assert_true(tk_utf8_is_valid("\xf0\x9f\x8e\xab", 4)); /* U+1F3AB */
    assert_false(tk_utf8_is_valid("\xc0\xaf", 2));        /* overlong */
    assert_false(tk_utf8_is_valid("\xed\xa0\x80", 3));    /* surrogate */
    assert_false(tk_utf8_is_valid("\xe6\x8a", 2));        /* truncated */
    assert_false(tk_utf8_is_valid("\xff", 1));
    assert_false(tk_utf8_is_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */

    /* ASCII runs are checked eight bytes at a time: a bad byte or a
     * sequence at every offset of a long run, and one cut by the end. */
    for (size_t at = 0; at < 40; at++) {
        char buf[48];

        memset(buf, 'a', sizeof(buf));
        buf[at] = '\0';
        assert_true(tk_utf8_is_valid(buf, sizeof(buf)));
        buf[at] = '\xff';
        assert_false(tk_utf8_is_valid(buf, sizeof(buf)));
        assert_true(tk_utf8_is_valid(buf, at));
        memcpy(buf + at, "抢", 3);
        assert_true(tk_utf8_is_valid(buf, sizeof(buf)));
        assert_false(tk_utf8_is_valid(buf, at + 2));
        buf[at + 1] = 'a'; /* a lead byte without its continuation */
        assert_false(tk_utf8_is_valid(buf, sizeof(buf)));
    }

    const char *s = "ab抢票"; /* 2 + 3 + 3 bytes */
    assert_int_equal(tk_utf8_truncate(s, 8, 100), 8);
    assert_int_equal(tk_utf8_truncate(s, 8, 8), 8);
    assert_int_equal(tk_utf8_truncate(s, 8, 7), 5);
    assert_int_equal(tk_utf8_truncate(s, 8, 5), 5);
    assert_int_equal(tk_utf8_truncate(s, 8, 4), 2);
    assert_int_equal(tk_utf8_truncate(s, 8, 0), 0);
}

static void
test_utf8_printable(void **state)
{
    char out[8];

    (void)state;
    assert_string_equal(tk_utf8_printable(out, "a\nb\x1b[2J", 7, 7),
                        "a?b?[2J");
    assert_string_equal(tk_utf8_printable(out, "ab抢票\x7f", 9, 7), "ab抢");
    assert_string_equal(tk_utf8_printable(out, "", 0, 7), "");
}

static void
test_strlcpy_and_wipe(void **state)
{
    char d[4];
    char secret[] = "hunter2";

    (void)state;
    assert_int_equal(tk_strlcpy(d, "abcdef", sizeof(d)), 6);
    assert_string_equal(d, "abc");
    tk_wipe(secret, sizeof(secret));
    for (size_t i = 0; i < sizeof(secret); i++) {
        assert_int_equal(secret[i], 0);
    }
    tk_wipe(NULL, 10);
    tk_free_secret(NULL);
    tk_free_secret(tk_xstrdup("x"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_grows_and_terminates),
        cmocka_unit_test(test_buf_escapes),
        cmocka_unit_test(test_buf_detach),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_parse_i64),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_utf8_printable),
        cmocka_unit_test(test_strlcpy_and_wipe),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
