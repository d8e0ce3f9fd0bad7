/*
 * libFuzzer target: JSON request bodies (tk_json_parse_params, through
 * tk_req_parse_body as the dispatcher calls it) and integer arrays
 * (tk_json_parse_i64_array). Fields must be bounded, unique, valid UTF-8
 * without NUL; an accepted document nests no deeper than the bound; an
 * array of integers must read back the same once written out again.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "http.h"
#include "json.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IDS_MAX 16

static struct tk_arena arena;
static struct tk_buf out;

/* The deepest nesting of arrays and objects in s[0..n), strings skipped. */
static int
nesting(const char *s, size_t n)
{
    int depth = 0, deepest = 0;
    bool in_string = false;

    for (size_t i = 0; i < n; i++) {
        if (in_string) {
            if (s[i] == '\\') {
                i++;
            } else if (s[i] == '"') {
                in_string = false;
            }
        } else if (s[i] == '"') {
            in_string = true;
        } else if (s[i] == '[' || s[i] == '{') {
            depth++;
            deepest = TK_MAX(deepest, depth);
        } else if (s[i] == ']' || s[i] == '}') {
            depth--;
        }
    }
    return deepest;
}

static void
check_ids(const char *s, size_t n)
{
    int64_t ids[IDS_MAX], back[IDS_MAX];
    int rc = tk_json_parse_i64_array(&arena, s, n, ids, IDS_MAX);

    if (rc != -EINVAL && rc != -E2BIG && (rc < 0 || rc > IDS_MAX)) {
        abort();
    }
    if (rc < 0) {
        return;
    }
    tk_buf_reset(&out);
    tk_buf_addc(&out, '[');
    for (int i = 0; i < rc; i++) {
        tk_buf_printf(&out, "%s%" PRId64, i > 0 ? "," : "", ids[i]);
    }
    tk_buf_addc(&out, ']');
    if (tk_json_parse_i64_array(&arena, out.data, out.len, back, IDS_MAX) !=
            rc ||
        memcmp(ids, back, (size_t)rc * sizeof(ids[0])) != 0) {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *vars[] = {"REQUEST_METHOD=POST",
                          "CONTENT_TYPE=application/json; charset=utf-8",
                          NULL};
    const struct tk_param *p;
    struct tk_req req;
    int rc;

    if (arena.chunk_size == 0) {
        tk_arena_init(&arena, 1 << 16);
    }
    tk_arena_reset(&arena);
    tk_req_init(&req, &arena, (char *const *)vars);
    req.body = tk_arena_alloc(&arena, size + 1);
    memcpy(req.body, data, size);
    req.body[size] = '\0';
    req.body_len = size;
    rc = tk_req_parse_body(&req);
    if (rc != 0 && rc != -EINVAL) {
        abort();
    }
    check_ids(req.body, size);
    if (rc != 0 || size == 0) {
        return 0;
    }
    p = req.body_params;
    if (req.n_body > TK_HTTP_MAX_PARAMS ||
        (req.body_is_json_array && req.n_body != 0) ||
        nesting(req.body, size) > TK_HTTP_MAX_JSON_DEPTH) {
        abort();
    }
    for (size_t i = 0; i < req.n_body; i++) {
        size_t nlen = strlen(p[i].name);

        if (nlen == 0 || nlen > TK_HTTP_MAX_NAME ||
            !tk_utf8_is_valid(p[i].name, nlen) || p[i].value == NULL ||
            strlen(p[i].value) != p[i].len ||
            !tk_utf8_is_valid(p[i].value, p[i].len)) {
            abort();
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(p[j].name, p[i].name) == 0) {
                abort();
            }
        }
        if (tk_req_param(&req, p[i].name) != p[i].value) {
            abort();
        }
        /* Nested arrays come out as JSON text the helpers read again. */
        if (p[i].value[0] == '[') {
            check_ids(p[i].value, p[i].len);
        }
    }
    return 0;
}
