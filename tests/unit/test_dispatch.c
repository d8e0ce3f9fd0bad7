/* Unit tests for the dispatcher: refusals, body cap, shedding, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "routes.h"

static int handler_runs;

static int
h_echo(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    const char *v = tk_req_param(req, "v");

    (void)ctx;
    handler_runs++;
    tk_resp_json(resp, 0, v != NULL ? v : "(none)", NULL);
    return 0;
}

static int
h_fail(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    (void)ctx;
    (void)req;
    handler_runs++;
    tk_resp_text(resp, 200, "text/plain", "half an answer");
    return -EIO;
}

static int
h_raw(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    (void)ctx;
    handler_runs++;
    tk_resp_text(resp, 200, "text/plain", req->body != NULL ? req->body : "");
    return 0;
}

static void
busy_wechat(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    (void)ctx;
    tk_resp_text(resp, 200, "application/xml",
                 req->body != NULL ? "busy-xml" : "busy-nobody");
}

static const struct tk_route table[] = {
    {"/api/echo", TK_M_GET | TK_M_POST, TK_ROUTE_JSON, 0, h_echo, NULL},
    {"/page", TK_M_GET, TK_ROUTE_PAGE, 0, h_fail, NULL},
    {"/wechat", TK_M_GET | TK_M_POST, TK_ROUTE_WECHAT, 0, h_raw,
     busy_wechat},
    {"/health", TK_M_GET, TK_ROUTE_PLAIN, TK_ROUTE_NO_SHED, h_raw, NULL},
    {"/api/fail", TK_M_GET, TK_ROUTE_JSON, 0, h_fail, NULL},
};

struct body {
    const char *data;
    size_t len, off;
};

static long
body_read(void *io, char *buf, size_t n)
{
    struct body *b = io;
    size_t k = TK_MIN(n, b->len - b->off);

    /* Two bytes at a time, to exercise the read loop. */
    k = TK_MIN(k, (size_t)2);
    memcpy(buf, b->data + b->off, k);
    b->off += k;
    return (long)k;
}

struct fixture {
    struct tk_conf conf;
    struct tk_arena arena;
    struct tk_ctx ctx;
    struct tk_resp resp;
    struct tk_dispatch d;
};

static struct fixture fx;

static int
setup(void **state)
{
    (void)state;
    tk_conf_defaults(&fx.conf);
    fx.conf.fcgi.max_body_kb = 1;
    fx.conf.fcgi.shed_after_ms = 2000;
    tk_arena_init(&fx.arena, 4096);
    tk_resp_init(&fx.resp);
    memset(&fx.ctx, 0, sizeof(fx.ctx));
    fx.ctx.conf = &fx.conf;
    fx.ctx.arena = &fx.arena;
    fx.ctx.now_ms = 1700000005000LL;
    handler_runs = 0;
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    tk_conf_release(&fx.conf);
    tk_arena_release(&fx.arena);
    tk_resp_release(&fx.resp);
    return 0;
}

/* Runs one request; vars is a NULL-terminated list of "NAME=value". */
static const char *
run(const char **vars, const char *body)
{
    struct tk_req req;
    struct body b = {body, body != NULL ? strlen(body) : 0, 0};

    tk_arena_reset(&fx.arena);
    tk_resp_reset(&fx.resp);
    tk_req_init(&req, &fx.arena, (char *const *)vars);
    req.reader.read = body_read;
    req.reader.io = &b;
    tk_dispatch(table, TK_ARRAY_SIZE(table), &fx.ctx, &req, &fx.resp, &fx.d);
    return tk_buf_str(&fx.resp.body);
}

static void
test_routes_methods(void **state)
{
    const char *nf[] = {"REQUEST_METHOD=GET", "DOCUMENT_URI=/nope", NULL};
    const char *bad[] = {"REQUEST_METHOD=DELETE", "DOCUMENT_URI=/page", NULL};
    const char *head[] = {"REQUEST_METHOD=HEAD", "DOCUMENT_URI=/health",
                          NULL};
    const char *ok[] = {"REQUEST_METHOD=GET", "DOCUMENT_URI=/api/echo",
                        "QUERY_STRING=v=hi%21", NULL};

    (void)state;
    run(nf, NULL);
    assert_int_equal(fx.resp.status, 404);
    assert_int_equal(fx.d.route, 0);
    run(bad, NULL);
    assert_int_equal(fx.resp.status, 405);
    assert_string_equal(tk_buf_str(&fx.resp.headers),
                        "Allow: GET, HEAD\r\n");
    assert_int_equal(fx.d.route, 2);
    run(head, NULL);
    assert_int_equal(fx.resp.status, 200);
    assert_string_equal(run(ok, NULL),
                        "{\"code\":0,\"msg\":\"hi!\",\"data\":null}");
    assert_int_equal(fx.d.route, 1);
    assert_int_equal(handler_runs, 2);
}

static void
test_body_length_rules(void **state)
{
    const char *nolen[] = {"REQUEST_METHOD=POST", "DOCUMENT_URI=/api/echo",
                           NULL};
    const char *badlen[] = {"REQUEST_METHOD=POST", "DOCUMENT_URI=/api/echo",
                            "CONTENT_LENGTH=1e3", NULL};
    const char *big[] = {"REQUEST_METHOD=POST", "DOCUMENT_URI=/api/echo",
                         "CONTENT_LENGTH=1025", NULL};
    const char *edge[] = {"REQUEST_METHOD=POST", "DOCUMENT_URI=/api/echo",
                          "CONTENT_LENGTH=1024",
                          "CONTENT_TYPE=application/x-www-form-urlencoded",
                          NULL};
    const char *shortb[] = {"REQUEST_METHOD=POST", "DOCUMENT_URI=/api/echo",
                            "CONTENT_LENGTH=10", NULL};
    static char full[1025];

    (void)state;
    run(nolen, NULL);
    assert_int_equal(fx.resp.status, 411);
    run(badlen, NULL);
    assert_int_equal(fx.resp.status, 400);
    run(big, NULL);
    assert_int_equal(fx.resp.status, 413);
    assert_int_equal(handler_runs, 0);
    memset(full, 'v', 1024);
    memcpy(full, "v=", 2);
    assert_true(strncmp(run(edge, full), "{\"code\":0,\"msg\":\"vvv", 18) == 0);
    assert_int_equal(fx.resp.status, 200);
    assert_int_equal(handler_runs, 1);
    /* The stream ended before CONTENT_LENGTH bytes. */
    run(shortb, "abc");
    assert_int_equal(fx.resp.status, 400);
    assert_int_equal(handler_runs, 1);
}

static void
test_malformed_input_by_kind(void **state)
{
    const char *json[] = {"REQUEST_METHOD=POST", "DOCUMENT_URI=/api/echo",
                          "CONTENT_LENGTH=5",
                          "CONTENT_TYPE=application/json", NULL};
    const char *query[] = {"REQUEST_METHOD=GET", "DOCUMENT_URI=/api/echo",
                           "QUERY_STRING=v=%G1", NULL};
    const char *page[] = {"REQUEST_METHOD=GET", "DOCUMENT_URI=/page",
                          "QUERY_STRING=%", NULL};
    const char *wx[] = {"REQUEST_METHOD=POST", "DOCUMENT_URI=/wechat",
                        "CONTENT_LENGTH=7", "CONTENT_TYPE=application/json",
                        NULL};

    (void)state;
    assert_string_equal(run(json, "{\"v\":"),
                        "{\"code\":1,\"msg\":\"malformed body\",\"data\":"
                        "null}");
    assert_int_equal(fx.resp.status, 200);
    assert_string_equal(run(query, NULL),
                        "{\"code\":1,\"msg\":\"malformed query string\","
                        "\"data\":null}");
    run(page, NULL);
    assert_int_equal(fx.resp.status, 400);
    assert_int_equal(handler_runs, 0);
    /* WeChat bodies are XML, left raw for the handler. */
    assert_string_equal(run(wx, "<xml a>"), "<xml a>");
    assert_int_equal(handler_runs, 1);
}

static void
test_shedding_by_kind(void **state)
{
    const char *json[] = {"REQUEST_METHOD=GET", "DOCUMENT_URI=/api/echo",
                          "REQUEST_START_MS=1700000002999", NULL};
    const char *json_ok[] = {"REQUEST_METHOD=GET", "DOCUMENT_URI=/api/echo",
                             "REQUEST_START_MS=1700000003.000", NULL};
    const char *json_late[] = {"REQUEST_METHOD=GET", "DOCUMENT_URI=/api/echo",
                               "REQUEST_START_MS=1700000002.999", NULL};
    const char *page[] = {"REQUEST_METHOD=GET", "DOCUMENT_URI=/page",
                          "REQUEST_START_MS=1700000001.000", NULL};
    const char *wx[] = {"REQUEST_METHOD=POST", "DOCUMENT_URI=/wechat",
                        "CONTENT_LENGTH=5", "REQUEST_START_MS=1.000", NULL};
    const char *health[] = {"REQUEST_METHOD=GET", "DOCUMENT_URI=/health",
                            "REQUEST_START_MS=1.000", NULL};

    (void)state;
    /* Not in nginx's $msec format: never shed. */
    run(json, NULL);
    assert_false(fx.d.shed);
    run(json_ok, NULL);
    assert_false(fx.d.shed);
    assert_int_equal(handler_runs, 2);
    assert_string_equal(run(json_late, NULL),
                        "{\"code\":-1,\"msg\":\"busy\",\"data\":null}");
    assert_true(fx.d.shed);
    assert_int_equal(fx.resp.status, 200);
    run(page, NULL);
    assert_true(fx.d.shed);
    assert_int_equal(fx.resp.status, 503);
    assert_string_equal(tk_buf_str(&fx.resp.headers), "Retry-After: 1\r\n");
    /* The route's own busy answer sees the body. */
    assert_string_equal(run(wx, "<xml>"), "busy-xml");
    assert_true(fx.d.shed);
    run(health, NULL);
    assert_false(fx.d.shed);
    assert_int_equal(handler_runs, 3);
    /* shed_after_ms = 0 turns shedding off. */
    fx.conf.fcgi.shed_after_ms = 0;
    run(page, NULL);
    assert_false(fx.d.shed);
}

static void
test_handler_failure(void **state)
{
    const char *page[] = {"REQUEST_METHOD=GET", "DOCUMENT_URI=/page", NULL};
    const char *json[] = {"REQUEST_METHOD=GET", "DOCUMENT_URI=/api/fail",
                          NULL};

    (void)state;
    assert_string_equal(run(page, NULL), "500 Internal Server Error\n");
    assert_int_equal(fx.resp.status, 500);
    assert_string_equal(run(json, NULL),
                        "{\"code\":-1,\"msg\":\"internal error\",\"data\":"
                        "null}");
    assert_int_equal(fx.resp.status, 200);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_routes_methods, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_length_rules, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_malformed_input_by_kind, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_shedding_by_kind, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_handler_failure, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
