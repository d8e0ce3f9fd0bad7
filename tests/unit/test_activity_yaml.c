/* Unit tests for activity YAML files: every validation case. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activity_yaml.h"

static const char good[] =
    "key: concert2026\n"
    "name: 新年音乐会\n"
    "place: 新清华学堂\n"
    "description: |\n"
    "  line one\n"
    "  line two\n"
    "pic_url: https://t.example.edu/p.png\n"
    "start_time: 2026-12-31T19:00:00+08:00\n"
    "end_time: 2026-12-31T21:30:00+08:00\n"
    "book_start: 2026-12-20T12:00:00+08:00\n"
    "book_end: 2026-12-30T12:00:00+08:00\n"
    "total_tickets: 1000\n"
    "status: published\n";

/* Parses text and applies it for a create; returns the error count and
 * the messages in *errs (caller frees). */
static int
check(const char *text, struct tk_activity *a, char **errs)
{
    struct tk_activity_doc d;
    size_t n = 0;
    FILE *err = open_memstream(errs, &n);
    int count = tk_activity_doc_parse(&d, "a.yaml", text, strlen(text), err);

    memset(a, 0, sizeof(*a));
    count += tk_activity_doc_apply(&d, a, true, err);
    fclose(err);
    return count;
}

/* good with the line starting with field replaced by line (or removed
 * when line is ""). */
static char *
variant(const char *field, const char *line)
{
    size_t cap = sizeof(good) + strlen(line) + 2;
    char *out = calloc(1, cap);
    const char *p = good;

    assert_non_null(out);
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = (size_t)(nl - p) + 1;

        if (strncmp(p, field, strlen(field)) == 0 && p[strlen(field)] == ':') {
            strcat(out, line);
        } else {
            strncat(out, p, n);
        }
        p += n;
    }
    return out;
}

/* Expects exactly one error, containing want. */
static void
expect_one(const char *text, const char *want)
{
    struct tk_activity a;
    char *errs;
    int n = check(text, &a, &errs);

    if (n != 1 || strstr(errs, want) == NULL) {
        fail_msg("want 1 error with '%s', got %d:\n%s", want, n, errs);
    }
    free(errs);
}

static void
expect_variant(const char *field, const char *line, const char *want)
{
    char *text = variant(field, line);

    expect_one(text, want);
    free(text);
}

static void
test_good(void **state)
{
    struct tk_activity a;
    char *errs;

    (void)state;
    assert_int_equal(check(good, &a, &errs), 0);
    assert_string_equal(errs, "");
    free(errs);
    assert_string_equal(a.key, "concert2026");
    assert_string_equal(a.name, "新年音乐会");
    assert_string_equal(a.description, "line one\nline two\n");
    assert_int_equal(a.start_time, 1798714800); /* 2026-12-31 11:00 UTC */
    assert_int_equal(a.end_time - a.start_time, 9000);
    assert_int_equal(a.total_tickets, 1000);
    assert_int_equal(a.status, TK_ACT_PUBLISHED);
}

static void
test_missing_field(void **state)
{
    (void)state;
    expect_variant("name", "", "a.yaml:1:1: name: missing");
    expect_variant("book_end", "", "a.yaml:1:1: book_end: missing");
}

static void
test_optional_defaults(void **state)
{
    char *text = variant("status", "");
    struct tk_activity a;
    char *errs;

    (void)state;
    assert_int_equal(check(text, &a, &errs), 0);
    assert_int_equal(a.status, TK_ACT_SAVED);
    free(errs);
    free(text);
}

static void
test_wrong_type(void **state)
{
    (void)state;
    expect_variant("total_tickets", "total_tickets: many\n",
                   "a.yaml:12:16: total_tickets: 'many' is not an integer");
    expect_variant("total_tickets", "total_tickets: \"12\"\n",
                   "total_tickets: '12' is not an integer");
    expect_variant("name", "name: [a, b]\n",
                   "a.yaml:2:7: name: expected a single value, not a list");
    expect_variant("place", "place: {x: 1}\n",
                   "place: expected a single value, not a mapping");
    expect_variant("status", "status: open\n",
                   "status: 'open' is not 'published' or 'saved'");
}

static void
test_bad_time(void **state)
{
    (void)state;
    expect_variant("start_time", "start_time: 2026-12-31 19:00\n",
                   "a.yaml:8:13: start_time: '2026-12-31 19:00' is not a "
                   "time");
    /* no offset */
    expect_variant("book_start", "book_start: 2026-12-20T12:00:00\n",
                   "book_start: '2026-12-20T12:00:00' is not a time");
    /* no such day */
    expect_variant("book_start", "book_start: 2026-02-29T12:00:00+08:00\n",
                   "book_start: '2026-02-29T12:00:00+08:00' is not a time");
    expect_variant("book_start", "book_start: 2026-12-20T24:00:00Z\n",
                   "is not a time");
}

static void
test_times_parse(void **state)
{
    int64_t t;

    (void)state;
    assert_int_equal(tk_iso8601_parse("1970-01-01T00:00:00Z", &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(tk_iso8601_parse("2024-02-29T08:00:00+08:00", &t), 0);
    assert_int_equal(t, 1709164800);
    assert_int_equal(tk_iso8601_parse("2024-02-28T19:00:00-05:00", &t), 0);
    assert_int_equal(t, 1709164800);
    assert_int_equal(tk_iso8601_parse("2024-02-29T08:00:00+0800", &t),
                     -EINVAL);
    assert_int_equal(tk_iso8601_parse("2024-13-01T08:00:00Z", &t), -EINVAL);
}

static void
test_end_before_start(void **state)
{
    (void)state;
    expect_variant("end_time", "end_time: 2026-12-31T18:00:00+08:00\n",
                   "a.yaml:9:1: end_time: is before start_time");
}

static void
test_book_end_before_book_start(void **state)
{
    (void)state;
    expect_variant("book_end", "book_end: 2026-12-19T12:00:00+08:00\n",
                   "a.yaml:11:1: book_end: is before book_start");
}

static void
test_negative_tickets(void **state)
{
    (void)state;
    expect_variant("total_tickets", "total_tickets: -1\n",
                   "a.yaml:12:16: total_tickets: must not be negative");
    expect_variant("total_tickets", "total_tickets: 3000000000\n",
                   "total_tickets: must be at most 2147483647");
}

static void
test_key_too_long(void **state)
{
    char line[128];

    (void)state;
    snprintf(line, sizeof(line), "key: %065d\n", 7);
    expect_variant("key", line,
                   "a.yaml:1:6: key: is 65 bytes long; the limit is 64");
    expect_variant("key", "key: two words\n",
                   "key: must not contain white space");
    expect_variant("key", "key: \"\"\n", "key: must not be empty");
}

static void
test_duplicate_key(void **state)
{
    char *text = variant("place", "place: a\nplace: b\n");

    (void)state;
    expect_one(text, "a.yaml:4:1: place: duplicate key (first on line 3)");
    free(text);
}

static void
test_unknown_field(void **state)
{
    char *text = variant("place", "place: a\ncolour: red\n");

    (void)state;
    expect_one(text, "a.yaml:4:1: colour: unknown field");
    free(text);
}

static void
test_bad_utf8(void **state)
{
    char *text = variant("name", "name: ab\xff\xfe\n");

    (void)state;
    expect_one(text, "a.yaml:2:9: name: invalid UTF-8");
    free(text);
    text = variant("place", "place: \xe6\x96\n"); /* truncated sequence */
    expect_one(text, "a.yaml:3:8: place: invalid UTF-8");
    free(text);
}

static void
test_syntax_and_shape(void **state)
{
    (void)state;
    expect_one("", "a.yaml:1:1: (document): the file is empty");
    expect_one("- a\n- b\n", "(document): expected a mapping of fields");
    expect_one("name: n\nkey: 'open\n", "a.yaml:3:1: (document): found unexpected end");
    expect_one("key: a\n---\nkey: b\n", "one activity per file");
}

static void
test_all_errors_at_once(void **state)
{
    static const char bad[] =
        "key: k\n"
        "name: n\n"
        "start_time: 2026-12-31T19:00:00+08:00\n"
        "end_time: 2026-12-31T18:00:00+08:00\n"
        "book_start: soon\n"
        "book_end: 2026-12-30T12:00:00+08:00\n"
        "total_tickets: -5\n"
        "colour: red\n";
    struct tk_activity a;
    char *errs;

    (void)state;
    assert_int_equal(check(bad, &a, &errs), 4);
    assert_non_null(strstr(errs, "a.yaml:5:13: book_start:"));
    assert_non_null(strstr(errs, "a.yaml:7:16: total_tickets:"));
    assert_non_null(strstr(errs, "a.yaml:8:1: colour: unknown field"));
    assert_non_null(strstr(errs, "a.yaml:4:1: end_time: is before"));
    free(errs);
}

static void
test_update_merges(void **state)
{
    static const char upd[] = "place: 大礼堂\n"
                              "book_end: 2026-12-01T00:00:00+08:00\n";
    struct tk_activity_doc d;
    struct tk_activity a;
    char *errs;
    size_t n = 0;
    FILE *err;

    (void)state;
    assert_int_equal(check(good, &a, &errs), 0);
    free(errs);
    a.id = 7;
    err = open_memstream(&errs, &n);
    assert_int_equal(tk_activity_doc_parse(&d, "u.yaml", upd, strlen(upd),
                                           err),
                     0);
    /* book_end now before the stored book_start */
    assert_int_equal(tk_activity_doc_apply(&d, &a, false, err), 1);
    fclose(err);
    assert_non_null(strstr(errs, "u.yaml:2:1: book_end: is before"));
    assert_int_equal(a.id, 7);
    assert_string_equal(a.place, "大礼堂");
    assert_string_equal(a.key, "concert2026");
    free(errs);
}

/* Counts the lines of s. */
static int
lines(const char *s)
{
    int n = 0;

    for (; *s != '\0'; s++) {
        n += *s == '\n';
    }
    return n;
}

static void
test_quoted_input_stays_on_one_line(void **state)
{
    /* Found by fuzz_yaml: a value or key quoted in a message was printed
     * raw, so its newlines split the message and escapes reached the
     * terminal. */
    char *text = variant("status", "status: \"a\\nb\\e[2J\"\n");
    struct tk_activity a;
    char *errs;

    (void)state;
    assert_int_equal(check(text, &a, &errs), 1);
    assert_non_null(strstr(errs, "a.yaml:13:9: status: 'a?b?[2J' is not "
                                 "'published' or 'saved'"));
    assert_int_equal(lines(errs), 1);
    free(errs);
    free(text);
    text = variant("place", "\"col\\nour\": red\n");
    assert_int_equal(check(text, &a, &errs), 1);
    assert_non_null(strstr(errs, "a.yaml:3:1: col?our: unknown field"));
    assert_int_equal(lines(errs), 1);
    free(errs);
    free(text);
}

static void
test_nul_in_value(void **state)
{
    /* A quoted "\0" ended the value for the checks: the time parsed
     * without the junk after it, and so did a status or a key. */
    (void)state;
    expect_variant("start_time",
                   "start_time: \"2026-12-31T19:00:00+08:00\\0junk\"\n",
                   "a.yaml:8:13: start_time: contains a NUL byte");
    expect_variant("status", "status: \"saved\\0x\"\n",
                   "a.yaml:13:9: status: contains a NUL byte");
    expect_variant("total_tickets", "total_tickets: \"1\\0\"\n",
                   "total_tickets: contains a NUL byte");
    expect_variant("place", "\"place\\0\": x\n",
                   "a.yaml:3:1: place?: unknown field");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_missing_field),
        cmocka_unit_test(test_optional_defaults),
        cmocka_unit_test(test_wrong_type),
        cmocka_unit_test(test_bad_time),
        cmocka_unit_test(test_times_parse),
        cmocka_unit_test(test_end_before_start),
        cmocka_unit_test(test_book_end_before_book_start),
        cmocka_unit_test(test_negative_tickets),
        cmocka_unit_test(test_key_too_long),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_unknown_field),
        cmocka_unit_test(test_bad_utf8),
        cmocka_unit_test(test_syntax_and_shape),
        cmocka_unit_test(test_all_errors_at_once),
        cmocka_unit_test(test_update_merges),
        cmocka_unit_test(test_quoted_input_stays_on_one_line),
        cmocka_unit_test(test_nul_in_value),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
