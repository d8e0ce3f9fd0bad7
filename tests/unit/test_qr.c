/* Unit tests for the QR code SVG writer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "qr.h"

static void
test_qr_svg_of_a_ticket_id(void **state)
{
    struct tk_buf b = TK_BUF_INIT;
    const char *s;

    (void)state;
    /* 16 bytes need version 2 at level M: 25 modules + 2 * 4 quiet. */
    assert_int_equal(tk_qr_svg(&b, "0123456789abcdef"), 0);
    s = tk_buf_str(&b);
    assert_non_null(strstr(s, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert_non_null(strstr(s, "viewBox=\"0 0 33 33\""));
    /* The finder patterns' top rows: 7 dark modules at both corners. */
    assert_non_null(strstr(s, "M4 4h7v1h-7z"));
    assert_non_null(strstr(s, "M22 4h7v1h-7z"));
    /* ... and the bottom-left one's bottom row. */
    assert_non_null(strstr(s, "M4 28h7v1h-7z"));
    assert_int_equal(strcmp(s + b.len - 6, "</svg>"), 0);
    tk_buf_release(&b);
}

static void
test_qr_is_deterministic(void **state)
{
    struct tk_buf a = TK_BUF_INIT, b = TK_BUF_INIT;

    (void)state;
    assert_int_equal(tk_qr_svg(&a, "ticket"), 0);
    assert_int_equal(tk_qr_svg(&b, "ticket"), 0);
    assert_string_equal(tk_buf_str(&a), tk_buf_str(&b));
    tk_buf_reset(&b);
    assert_int_equal(tk_qr_svg(&b, "ticket2"), 0);
    assert_string_not_equal(tk_buf_str(&a), tk_buf_str(&b));
    tk_buf_release(&a);
    tk_buf_release(&b);
}

static void
test_qr_refuses_empty_and_long(void **state)
{
    struct tk_buf b = TK_BUF_INIT;
    char long_text[TK_QR_MAX_TEXT + 2];

    (void)state;
    memset(long_text, 'a', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    assert_int_equal(tk_qr_svg(&b, ""), -EINVAL);
    assert_int_equal(tk_qr_svg(&b, long_text), -EINVAL);
    assert_int_equal(b.len, 0);
    tk_buf_release(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qr_svg_of_a_ticket_id),
        cmocka_unit_test(test_qr_is_deterministic),
        cmocka_unit_test(test_qr_refuses_empty_and_long),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
