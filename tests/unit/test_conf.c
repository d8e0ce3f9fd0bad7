/* Unit tests for the configuration loader. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"

static const char good[] =
    "wechat: { token = \"tok\"; appid = \"wx1234567890abcdef\";\n"
    "  aes_key = \"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG\";\n"
    "  require_encryption = true; max_clock_skew = 120; }\n"
    "site: { base_url = \"https://t.example.edu\";\n"
    "  link_secret = \"0123456789abcdef0123\"; }\n"
    "fcgi: { listen = \"/tmp/t.sock\"; workers = 3; threads = 8;\n"
    "  socket_mode = \"0600\"; }\n"
    "redis: { host = \"127.0.0.1\"; port = 6390; }\n"
    "mysql: { user = \"u\"; password = \"p\"; database = \"d\"; }\n"
    "cache: { ttl_s = 60; }\n";

/* Writes text to a fresh temporary file with the given mode. */
static char *
write_conf(const char *text, mode_t mode)
{
    char *path = strdup("/tmp/tk_conf_------");

    memset(path + strlen(path) - 6, 'X', 6); /* the mkstemp template */
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
    return path;
}

/* Loads text; returns the result and the error text in *errs. */
static int
load(const char *text, mode_t mode, struct tk_conf *c, char **errs)
{
    char *path = write_conf(text, mode);
    size_t n = 0;
    FILE *err = open_memstream(errs, &n);
    int rc = tk_conf_load(c, path, err);

    fclose(err);
    unlink(path);
    free(path);
    return rc;
}

static int
count_lines(const char *s)
{
    int n = 0;

    for (; *s; s++) {
        n += *s == '\n';
    }
    return n;
}

static void
test_good_file(void **state)
{
    struct tk_conf c;
    char *errs;

    (void)state;
    assert_int_equal(load(good, 0600, &c, &errs), 0);
    assert_string_equal(errs, "");
    assert_string_equal(c.wechat.token, "tok");
    assert_true(c.wechat.require_encryption);
    assert_int_equal(c.wechat.max_clock_skew, 120);
    assert_int_equal(c.fcgi.workers, 3);
    assert_int_equal(c.fcgi.threads, 8);
    assert_int_equal(c.fcgi.socket_mode, 0600);
    assert_int_equal(c.redis.port, 6390);
    assert_int_equal(c.cache.ttl_s, 60);
    /* defaults for what the file does not say */
    assert_int_equal(c.cache.null_ttl_s, 30);
    assert_int_equal(c.cache.lock_ttl_ms, 3000);
    assert_int_equal(c.fcgi.backlog, 1024);
    assert_true(c.redis.pipeline);
    assert_true(c.redis.one_trip_grab);
    assert_string_equal(c.log.level, "info");
    tk_conf_release(&c);
    free(errs);
}

/* What every file must say, in 3 lines. */
#define MINIMAL                                                               \
    "wechat: { token = \"tok\"; }\n"                                          \
    "site: { base_url = \"https://t.example.edu\";\n"                         \
    "  link_secret = \"0123456789abcdef0123\"; }\n"

static void
test_redis_pipeline_off(void **state)
{
    struct tk_conf c;
    char *errs;

    (void)state;
    assert_int_equal(load(MINIMAL "redis: { pipeline = false;\n"
                                  "  one_trip_grab = false; }\n",
                          0600, &c, &errs),
                     0);
    assert_false(c.redis.pipeline);
    assert_false(c.redis.one_trip_grab);
    tk_conf_release(&c);
    free(errs);
    /* An integer is not a boolean here either. */
    assert_int_equal(
        load(MINIMAL "redis: { pipeline = 0; }\n", 0600, &c, &errs), -EINVAL);
    assert_non_null(strstr(errs, ":4: redis.pipeline: expected "));
    free(errs);
}

static void
test_three_mistakes_all_reported(void **state)
{
    static const char bad[] =
        "wechat: { token = \"tok\"; max_clock_skew = \"300\"; }\n" /* 1 */
        "site: { base_url = \"https://t.example.edu\";\n"
        "  link_secret = \"0123456789abcdef0123\"; }\n"
        "fcgi: { workers = 0;\n"                                  /* 4 */
        "  threads = 8; }\n"
        "redis: { hots = \"127.0.0.1\"; }\n";                     /* 6 */
    struct tk_conf c;
    char *errs;

    (void)state;
    assert_int_equal(load(bad, 0600, &c, &errs), -EINVAL);
    assert_int_equal(count_lines(errs), 3);
    assert_non_null(strstr(errs, ":1: wechat.max_clock_skew: expected an "
                                 "integer"));
    assert_non_null(strstr(errs, ":4: fcgi.workers: 0 is out of range"));
    assert_non_null(strstr(errs, ":6: redis.hots: unknown option"));
    free(errs);
}

static void
test_syntax_error_has_line(void **state)
{
    struct tk_conf c;
    char *errs;

    (void)state;
    assert_int_equal(load("site: {\n  base_url = ;\n}\n", 0600, &c, &errs),
                     -EINVAL);
    assert_non_null(strstr(errs, ":2: syntax error"));
    free(errs);
}

static void
test_secrets_need_private_file(void **state)
{
    struct tk_conf c;
    char *errs;

    (void)state;
    assert_int_equal(load(good, 0644, &c, &errs), -EINVAL);
    assert_non_null(strstr(errs, "accessible by group or others"));
    free(errs);
    assert_int_equal(load(good, 0640, &c, &errs), -EINVAL);
    free(errs);
}

static void
test_value_checks(void **state)
{
    static const char bad[] =
        "wechat: { token = \"tok\"; aes_key = \"short\";\n"   /* 1 */
        "  require_encryption = 1; }\n"                       /* 2 */
        "site: { base_url = \"ftp://x\";\n"                   /* 3 */
        "  link_secret = \"short\"; }\n"                      /* 4 */
        "fcgi: { listen = \"relative.sock\";\n"               /* 5 */
        "  socket_mode = \"rw\"; }\n"                         /* 6 */
        "log: { level = \"loud\"; }\n"                        /* 7 */
        "extra: { a = 1; }\n";                                /* 8 */
    struct tk_conf c;
    char *errs;

    (void)state;
    assert_int_equal(load(bad, 0600, &c, &errs), -EINVAL);
    assert_non_null(strstr(errs, ":1: wechat.aes_key: must be 43"));
    assert_non_null(strstr(errs, ":2: wechat.require_encryption: expected "
                                 "true or false"));
    assert_non_null(strstr(errs, ":3: site.base_url: must start with"));
    assert_non_null(strstr(errs, ":4: site.link_secret: must be at least"));
    assert_non_null(strstr(errs, ":5: fcgi.listen: must be an absolute"));
    assert_non_null(strstr(errs, ":6: fcgi.socket_mode: expected an octal"));
    assert_non_null(strstr(errs, ":7: log.level: must be one of"));
    assert_non_null(strstr(errs, ":8: extra: unknown section"));
    free(errs);
}

static void
test_missing_required_and_combinations(void **state)
{
    static const char bad[] =
        "wechat: { require_encryption = true; }\n";
    struct tk_conf c;
    char *errs;

    (void)state;
    assert_int_equal(load(bad, 0600, &c, &errs), -EINVAL);
    assert_non_null(strstr(errs, "wechat.token: required but not set"));
    assert_non_null(strstr(errs, "site.link_secret: required but not set"));
    assert_non_null(strstr(errs, ":1: wechat.require_encryption: needs "
                                 "wechat.aes_key"));
    free(errs);
}

static void
test_missing_file(void **state)
{
    struct tk_conf c;
    char *errs;
    size_t n;
    FILE *err = open_memstream(&errs, &n);

    (void)state;
    assert_int_equal(tk_conf_load(&c, "/nonexistent/ticketd.conf", err),
                     -ENOENT);
    fclose(err);
    assert_non_null(strstr(errs, "/nonexistent/ticketd.conf: cannot open"));
    free(errs);
}

static void
test_dump_hides_secrets(void **state)
{
    struct tk_conf c;
    char *errs, *out;
    size_t n;
    FILE *fp;

    (void)state;
    assert_int_equal(load(good, 0600, &c, &errs), 0);
    free(errs);
    fp = open_memstream(&out, &n);
    tk_conf_dump(&c, fp);
    fclose(fp);
    assert_non_null(strstr(out, "wechat.token = \"***\""));
    assert_null(strstr(out, "0123456789abcdef0123"));
    assert_non_null(strstr(out, "fcgi.workers = 3"));
    free(out);
    tk_conf_release(&c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_file),
        cmocka_unit_test(test_redis_pipeline_off),
        cmocka_unit_test(test_three_mistakes_all_reported),
        cmocka_unit_test(test_syntax_error_has_line),
        cmocka_unit_test(test_secrets_need_private_file),
        cmocka_unit_test(test_value_checks),
        cmocka_unit_test(test_missing_required_and_combinations),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_dump_hides_secrets),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
