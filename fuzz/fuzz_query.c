/*
 * libFuzzer target: query strings, urlencoded bodies and cookies, through
 * the calls the dispatcher makes (tk_req_init, tk_req_parse_query,
 * tk_req_parse_body, tk_req_param, tk_req_cookie). The first byte picks
 * what the rest is:
 *   0  QUERY_STRING (up to the first NUL, as FastCGI hands it over)
 *   1  an application/x-www-form-urlencoded body (NUL bytes and all)
 *   2  HTTP_COOKIE and REQUEST_START_MS
 * Every field parsed must be bounded, NUL-free, looked up as the first
 * field of its name, and survive tk_http_encode and a second parse.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "http.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tk_arena arena;
/* NUL-terminated FastCGI params, and a scratch buffer. */
static struct tk_buf env_q, env_c, enc;

/* The index of the first of p[0..n) called name, or n. */
static size_t
first_named(const struct tk_param *p, size_t n, const char *name)
{
    size_t i = 0;

    while (i < n && strcmp(p[i].name, name) != 0) {
        i++;
    }
    return i;
}

/* Checks one parameter list as the parser produced it. */
static void
check_params(const struct tk_req *req, const struct tk_param *p, size_t n)
{
    struct tk_param back[TK_HTTP_MAX_PARAMS];
    int64_t v;
    int rc;

    if (n > TK_HTTP_MAX_PARAMS) {
        abort();
    }
    tk_buf_reset(&enc);
    for (size_t i = 0; i < n; i++) {
        size_t nlen = strlen(p[i].name);
        size_t first = first_named(p, i + 1, p[i].name);

        if (nlen == 0 || nlen > TK_HTTP_MAX_NAME ||
            strlen(p[i].value) != p[i].len) {
            abort();
        }
        if (tk_req_param(req, p[i].name) != p[first].value) {
            abort();
        }
        rc = tk_req_param_i64(req, p[i].name, -1000, 1000, &v);
        if (rc == 1 && (v < -1000 || v > 1000)) {
            abort();
        }
        if (rc == 0 && p[first].len != 0) {
            abort();
        }
        tk_http_encode(&enc, p[i].name);
        tk_buf_addc(&enc, '=');
        tk_http_encode(&enc, p[i].value);
        tk_buf_addc(&enc, '&');
    }
    /* What we encode we must read back the same. */
    rc = tk_http_parse_urlencoded(req->arena, tk_buf_str(&enc), enc.len,
                                  back, TK_HTTP_MAX_PARAMS);
    if (rc < 0 || (size_t)rc != n) {
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(back[i].name, p[i].name) != 0 || back[i].len != p[i].len ||
            memcmp(back[i].value, p[i].value, p[i].len) != 0) {
            abort();
        }
    }
}

/* A cookie's value holds no ';' and stands in the header after name=. */
static void
check_cookie(const struct tk_req *req, const char *name)
{
    const char *v = tk_req_cookie(req, name);

    if (v == NULL) {
        return;
    }
    tk_buf_reset(&enc);
    tk_buf_printf(&enc, "%s=%s", name, v);
    if (strchr(v, ';') != NULL || strstr(req->cookie, enc.data) == NULL) {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tk_req req;
    const char *vars[4] = {NULL};
    const char *s = (const char *)data + 1;
    size_t n = size - 1, len;
    int rc;

    if (size < 1) {
        return 0;
    }
    if (arena.chunk_size == 0) {
        tk_arena_init(&arena, 1 << 16);
    }
    tk_arena_reset(&arena);
    tk_buf_reset(&env_q);
    tk_buf_reset(&env_c);
    switch (data[0] % 3) {
    case 0:
        tk_buf_adds(&env_q, "QUERY_STRING=");
        tk_buf_add(&env_q, s, strnlen(s, n));
        vars[0] = tk_buf_str(&env_q);
        tk_req_init(&req, &arena, (char *const *)vars);
        rc = tk_req_parse_query(&req);
        if (rc != 0 && rc != -EINVAL) {
            abort();
        }
        if (rc == 0) {
            check_params(&req, req.query_params, req.n_query);
        }
        break;
    case 1:
        vars[0] = "REQUEST_METHOD=POST";
        vars[1] = "CONTENT_TYPE=application/x-www-form-urlencoded";
        tk_req_init(&req, &arena, (char *const *)vars);
        /* As tk_req_read_body leaves it: an arena copy, NUL-terminated. */
        req.body = tk_arena_alloc(&arena, n + 1);
        memcpy(req.body, s, n);
        req.body[n] = '\0';
        req.body_len = n;
        rc = tk_req_parse_body(&req);
        if (rc != 0 && rc != -EINVAL) {
            abort();
        }
        if (rc == 0) {
            check_params(&req, req.body_params, req.n_body);
        }
        break;
    default:
        /* The cookie header, then after a NUL the start time. */
        len = strnlen(s, n);
        tk_buf_adds(&env_c, "HTTP_COOKIE=");
        tk_buf_add(&env_c, s, len);
        vars[0] = tk_buf_str(&env_c);
        if (len < n) {
            s += len + 1;
            n -= len + 1;
            tk_buf_adds(&env_q, "REQUEST_START_MS=");
            tk_buf_add(&env_q, s, strnlen(s, n));
            vars[1] = tk_buf_str(&env_q);
        }
        tk_req_init(&req, &arena, (char *const *)vars);
        if (req.start_ms < 0 || req.start_ms >= 1000000000000000LL) {
            abort();
        }
        check_cookie(&req, "sid");
        check_cookie(&req, "a");
        check_cookie(&req, "");
        break;
    }
    return 0;
}
