/* Unit tests for the request layer's parsers and response helpers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "http.h"
#include "json.h"

static struct tk_arena arena;

static int
setup(void **state)
{
    (void)state;
    tk_arena_init(&arena, 4096);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    tk_arena_release(&arena);
    return 0;
}

static int
parse(const char *s, struct tk_param *out, size_t max)
{
    return tk_http_parse_urlencoded(&arena, s, strlen(s), out, max);
}

static void
test_urlencoded_decodes(void **state)
{
    struct tk_param p[8];

    (void)state;
    assert_int_equal(parse("a=1&b=hello+world&c=%E4%BD%A0%2B&d=&e", p, 8), 5);
    assert_string_equal(p[0].name, "a");
    assert_string_equal(p[0].value, "1");
    assert_string_equal(p[1].value, "hello world");
    assert_string_equal(p[2].value, "你+");
    assert_int_equal(p[2].len, 4);
    assert_string_equal(p[3].value, "");
    assert_string_equal(p[4].name, "e");
    assert_string_equal(p[4].value, "");
    /* Empty fields between separators are skipped. */
    assert_int_equal(parse("&&a=1&&", p, 8), 1);
    assert_int_equal(parse("", p, 8), 0);
}

static void
test_urlencoded_refuses_bad_input(void **state)
{
    struct tk_param p[4];
    char longname[80];

    (void)state;
    assert_int_equal(parse("a=%zz", p, 4), -EINVAL);
    assert_int_equal(parse("a=%4", p, 4), -EINVAL);
    assert_int_equal(parse("a=%", p, 4), -EINVAL);
    assert_int_equal(parse("a=x%00y", p, 4), -EINVAL);
    assert_int_equal(parse("=1", p, 4), -EINVAL);
    assert_int_equal(parse("a=1&b=2&c=3&d=4&e=5", p, 4), -E2BIG);
    memset(longname, 'n', 65);
    strcpy(longname + 65, "=1");
    assert_int_equal(parse(longname, p, 4), -EINVAL);
}

static void
test_encode_roundtrip(void **state)
{
    struct tk_buf b = TK_BUF_INIT;
    size_t len;
    char *d;

    (void)state;
    tk_http_encode(&b, "a b&c=d/你~_.-");
    assert_string_equal(tk_buf_str(&b),
                        "a%20b%26c%3Dd%2F%E4%BD%A0~_.-");
    d = tk_http_decode(&arena, b.data, b.len, false, &len);
    assert_string_equal(d, "a b&c=d/你~_.-");
    tk_buf_release(&b);
}

static char *const *
env(const char **vars)
{
    return (char *const *)vars;
}

static void
test_req_init_and_params(void **state)
{
    const char *vars[] = {
        "REQUEST_METHOD=POST",
        "DOCUMENT_URI=/api/u/user/bind",
        "QUERY_STRING=id=42&name=q&neg=-3&big=99999999999999999999",
        "CONTENT_TYPE=application/x-www-form-urlencoded",
        "CONTENT_LENGTH=17",
        "HTTP_COOKIE=a=1; sid=abc; z=9",
        "REMOTE_ADDR=10.0.0.1",
        "REQUEST_START_MS=1700000000.123",
        "SERVER_NAME=x",
        NULL,
    };
    struct tk_req req;
    int64_t v = 0;

    (void)state;
    tk_req_init(&req, &arena, env(vars));
    assert_int_equal(req.method, TK_M_POST);
    assert_string_equal(req.path, "/api/u/user/bind");
    assert_int_equal(req.content_length, 17);
    assert_int_equal(req.start_ms, 1700000000123LL);
    assert_string_equal(req.remote_addr, "10.0.0.1");
    assert_int_equal(tk_req_parse_query(&req), 0);
    req.body = (char *)"name=body&x=%41%42";
    req.body_len = strlen(req.body);
    assert_int_equal(tk_req_parse_body(&req), 0);
    /* The body wins over the query string. */
    assert_string_equal(tk_req_param(&req, "name"), "body");
    assert_string_equal(tk_req_param(&req, "x"), "AB");
    assert_string_equal(tk_req_param(&req, "id"), "42");
    assert_null(tk_req_param(&req, "missing"));
    assert_int_equal(tk_req_param_i64(&req, "id", 1, 100, &v), 1);
    assert_int_equal(v, 42);
    assert_int_equal(tk_req_param_i64(&req, "neg", 0, 100, &v), -EINVAL);
    assert_int_equal(tk_req_param_i64(&req, "big", 0, INT64_MAX, &v),
                     -EINVAL);
    assert_int_equal(tk_req_param_i64(&req, "name", 0, 100, &v), -EINVAL);
    assert_int_equal(tk_req_param_i64(&req, "missing", 0, 100, &v), 0);
    assert_string_equal(tk_req_cookie(&req, "sid"), "abc");
    assert_string_equal(tk_req_cookie(&req, "z"), "9");
    assert_null(tk_req_cookie(&req, "s"));
}

static void
test_req_init_defaults(void **state)
{
    const char *vars[] = {"REQUEST_METHOD=PUT", "CONTENT_LENGTH=12x",
                          "REQUEST_START_MS=soon", NULL};
    struct tk_req req;

    (void)state;
    tk_req_init(&req, &arena, env(vars));
    assert_int_equal(req.method, TK_M_OTHER);
    assert_int_equal(req.content_length, -2);
    assert_int_equal(req.start_ms, 0);
    assert_string_equal(req.path, "");
    assert_string_equal(req.query, "");
    assert_int_equal(tk_req_parse_query(&req), 0);
}

static void
test_query_too_long(void **state)
{
    static char q[TK_HTTP_MAX_QUERY + 20];
    struct tk_req req;
    const char *vars[] = {q, NULL};

    (void)state;
    strcpy(q, "QUERY_STRING=");
    memset(q + 13, 'a', TK_HTTP_MAX_QUERY + 1);
    tk_req_init(&req, &arena, env(vars));
    assert_int_equal(tk_req_parse_query(&req), -EINVAL);
}

static const char mp_type[] = "multipart/form-data; boundary=XyZ";
static const char mp_body[] =
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"title\"\r\n"
    "\r\n"
    "新年\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n"
    "Content-Type: image/png\r\n"
    "\r\n"
    "\x89PNG\r\n\x00\x01--X\r\n"
    "--XyZ--\r\n";

static void
test_multipart_fields_and_files(void **state)
{
    struct tk_param f[4];
    struct tk_part p[2];
    size_t nf, np;

    (void)state;
    assert_int_equal(tk_http_parse_multipart(&arena, mp_type, mp_body,
                                             sizeof(mp_body) - 1, f, 4, &nf,
                                             p, 2, &np),
                     0);
    assert_int_equal(nf, 1);
    assert_string_equal(f[0].name, "title");
    assert_string_equal(f[0].value, "新年");
    assert_int_equal(np, 1);
    assert_string_equal(p[0].name, "image");
    assert_string_equal(p[0].filename, "a.png");
    assert_string_equal(p[0].content_type, "image/png");
    assert_int_equal(p[0].len, 11);
    assert_memory_equal(p[0].data, "\x89PNG\r\n\x00\x01--X", 11);
}

static void
test_multipart_via_request(void **state)
{
    const char *vars[] = {
        "REQUEST_METHOD=POST",
        "CONTENT_TYPE=multipart/form-data; boundary=\"XyZ\"",
        NULL,
    };
    struct tk_req req;
    const struct tk_part *img;

    (void)state;
    tk_req_init(&req, &arena, env(vars));
    req.body = (char *)mp_body;
    req.body_len = sizeof(mp_body) - 1;
    assert_int_equal(tk_req_parse_body(&req), 0);
    assert_string_equal(tk_req_param(&req, "title"), "新年");
    img = tk_req_file(&req, "image");
    assert_non_null(img);
    assert_int_equal(img->len, 11);
    assert_null(tk_req_file(&req, "title"));
}

static int
mp(const char *type, const char *body)
{
    struct tk_param f[4];
    struct tk_part p[2];
    size_t nf, np;

    return tk_http_parse_multipart(&arena, type, body, strlen(body), f, 4,
                                   &nf, p, 2, &np);
}

static void
test_multipart_refuses_bad_input(void **state)
{
    (void)state;
    /* No boundary, wrong boundary, unterminated, no name, no disposition. */
    assert_int_equal(mp("multipart/form-data", mp_body), -EINVAL);
    assert_int_equal(mp("multipart/form-data; boundary=Q", mp_body), -EINVAL);
    assert_int_equal(
        mp(mp_type, "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n"
                    "\r\nvalue without end"),
        -EINVAL);
    assert_int_equal(
        mp(mp_type, "--XyZ\r\nContent-Disposition: form-data\r\n\r\nv\r\n"
                    "--XyZ--"),
        -EINVAL);
    assert_int_equal(mp(mp_type, "--XyZ\r\nX: y\r\n\r\nv\r\n--XyZ--"),
                     -EINVAL);
    assert_int_equal(mp(mp_type, "--XyZ\r\nContent-Disposition: form-data; "
                                 "name=\"a\"\r\nno blank line"),
                     -EINVAL);
    /* More files than room. */
    assert_int_equal(
        mp(mp_type,
           "--XyZ\r\nContent-Disposition: form-data; name=a; filename=1\r\n"
           "\r\n1\r\n--XyZ\r\nContent-Disposition: form-data; name=b; "
           "filename=2\r\n\r\n2\r\n--XyZ\r\nContent-Disposition: form-data; "
           "name=c; filename=3\r\n\r\n3\r\n--XyZ--"),
        -E2BIG);
    assert_int_equal(mp(mp_type, "--XyZ--"), 0);
}

static int
js(const char *s, struct tk_param *p, size_t max, bool *arr)
{
    return tk_json_parse_params(&arena, s, strlen(s), p, max, arr);
}

static void
test_json_params(void **state)
{
    struct tk_param p[8];
    bool arr;
    int64_t ids[5];
    const char *vars[] = {"REQUEST_METHOD=POST",
                          "CONTENT_TYPE=application/json; charset=utf-8",
                          NULL};
    struct tk_req req;
    int64_t v;

    (void)state;
    assert_int_equal(js("{\"openid\":\"o1\",\"id\":7,\"ok\":true,\"no\":false,"
                        "\"x\":null,\"ids\":[1,2],\"f\":1.5}",
                        p, 8, &arr),
                     6);
    assert_false(arr);
    assert_string_equal(p[0].name, "openid");
    assert_string_equal(p[0].value, "o1");
    assert_string_equal(p[1].value, "7");
    assert_string_equal(p[2].value, "1");
    assert_string_equal(p[3].value, "0");
    assert_string_equal(p[4].name, "ids");
    assert_string_equal(p[4].value, "[1,2]");
    assert_string_equal(p[5].value, "1.5");
    assert_int_equal(tk_json_parse_i64_array(&arena, p[4].value,
                                             strlen(p[4].value), ids, 5),
                     2);
    assert_int_equal(ids[1], 2);
    assert_int_equal(js("[3,4]", p, 8, &arr), 0);
    assert_true(arr);

    tk_req_init(&req, &arena, env(vars));
    req.body = (char *)"{\"student_id\":\"2024011\",\"actId\":12}";
    req.body_len = strlen(req.body);
    assert_int_equal(tk_req_parse_body(&req), 0);
    assert_string_equal(tk_req_param(&req, "student_id"), "2024011");
    assert_int_equal(tk_req_param_i64(&req, "actId", 1, 1000, &v), 1);
    assert_int_equal(v, 12);
}

static void
test_json_refuses_bad_input(void **state)
{
    struct tk_param p[2];
    bool arr;
    int64_t ids[2];

    (void)state;
    assert_int_equal(js("{\"a\":", p, 2, &arr), -EINVAL);
    assert_int_equal(js("\"str\"", p, 2, &arr), -EINVAL);
    assert_int_equal(js("{\"a\":1,\"a\":2}", p, 2, &arr), -EINVAL);
    assert_int_equal(js("{\"a\":\"x\\u0000y\"}", p, 2, &arr), -EINVAL);
    assert_int_equal(js("{\"a\":[[[[[[[[[1]]]]]]]]]}", p, 2, &arr), -EINVAL);
    assert_int_equal(js("{\"a\":1,\"b\":2,\"c\":3}", p, 2, &arr), -E2BIG);
    assert_int_equal(js("{\"\":1}", p, 2, &arr), -EINVAL);
    assert_int_equal(js("{\"a\":\"\xff\"}", p, 2, &arr), -EINVAL);
    assert_int_equal(tk_json_parse_i64_array(&arena, "[1,\"2\"]", 7, ids, 2),
                     -EINVAL);
    assert_int_equal(tk_json_parse_i64_array(&arena, "[1,2,3]", 7, ids, 2),
                     -E2BIG);
    assert_int_equal(tk_json_parse_i64_array(&arena, "{}", 2, ids, 2),
                     -EINVAL);
}

static void
test_msec_and_shedding(void **state)
{
    (void)state;
    assert_int_equal(tk_http_parse_msec("1700000000.123"), 1700000000123LL);
    assert_int_equal(tk_http_parse_msec("1700000000.12"), 0);
    assert_int_equal(tk_http_parse_msec("1700000000.1234"), 0);
    assert_int_equal(tk_http_parse_msec("1700000000"), 0);
    assert_int_equal(tk_http_parse_msec("-1.000"), 0);
    assert_int_equal(tk_http_parse_msec("99999999999999.000"), 0);
    assert_int_equal(tk_http_parse_msec(NULL), 0);
    assert_false(tk_http_is_stale(1000, 3000, 2000));
    assert_true(tk_http_is_stale(1000, 3001, 2000));
    assert_false(tk_http_is_stale(0, 999999, 2000));   /* unknown start */
    assert_false(tk_http_is_stale(1000, 999999, 0));   /* disabled */
    assert_false(tk_http_is_stale(5000, 1000, 2000));  /* clock skew */
}

static void
test_response_helpers(void **state)
{
    struct tk_resp r;
    struct tk_buf head = TK_BUF_INIT;

    (void)state;
    tk_resp_init(&r);
    tk_resp_json(&r, 3, "bad \"sig\"", "{\"a\":1}");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    assert_string_equal(tk_buf_str(&r.body),
                        "{\"code\":3,\"msg\":\"bad \\\"sig\\\"\",\"data\":"
                        "{\"a\":1}}");
    tk_resp_json(&r, 0, "ok", NULL);
    assert_string_equal(tk_buf_str(&r.body),
                        "{\"code\":0,\"msg\":\"ok\",\"data\":null}");
    assert_int_equal(tk_resp_header(&r, "X-A", "1"), 0);
    assert_int_equal(tk_resp_header(&r, "X-B", "1\r\nSet-Cookie: x"),
                     -EINVAL);
    assert_int_equal(tk_resp_header(&r, "X:C", "1"), -EINVAL);
    tk_resp_error(&r, 413);
    tk_resp_head(&r, &head);
    assert_string_equal(tk_buf_str(&head),
                        "Status: 413 Payload Too Large\r\n"
                        "Content-Type: text/plain; charset=utf-8\r\n"
                        "Content-Length: 22\r\nX-A: 1\r\n\r\n");
    assert_string_equal(tk_buf_str(&r.body), "413 Payload Too Large\n");
    tk_resp_reset(&r);
    assert_int_equal(r.body.len, 0);
    assert_int_equal(r.headers.len, 0);
    for (int i = 0; i < 100; i++) {
        if (tk_resp_header(&r, "X-Long", "0123456789abcdef") < 0) {
            assert_true(i > 10);
            break;
        }
        assert_true(i < 99);
    }
    tk_buf_release(&head);
    tk_resp_release(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urlencoded_decodes),
        cmocka_unit_test(test_urlencoded_refuses_bad_input),
        cmocka_unit_test(test_encode_roundtrip),
        cmocka_unit_test(test_req_init_and_params),
        cmocka_unit_test(test_req_init_defaults),
        cmocka_unit_test(test_query_too_long),
        cmocka_unit_test(test_multipart_fields_and_files),
        cmocka_unit_test(test_multipart_via_request),
        cmocka_unit_test(test_multipart_refuses_bad_input),
        cmocka_unit_test(test_json_params),
        cmocka_unit_test(test_json_refuses_bad_input),
        cmocka_unit_test(test_msec_and_shedding),
        cmocka_unit_test(test_response_helpers),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
