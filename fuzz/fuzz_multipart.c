/*
 * libFuzzer target: multipart/form-data bodies. The input's first line
 * (up to '\n') is the Content-Type value, so the boundary comes from the
 * input and the fuzzer can match it in the body; the rest is the body.
 * The body is parsed twice: through tk_req_parse_body with the request's
 * bounds, as the dispatcher does, and directly with room for only a few
 * fields and files, to reach the limits. Fields must be bounded and
 * NUL-free, files must lie in the body and end at a delimiter, and a
 * parse that fits the small bounds must give the same as the large one.
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

#define FEW_FIELDS 3
#define FEW_FILES 2

static struct tk_arena arena;
static struct tk_buf ctype;

static void
check_fields(const struct tk_param *f, size_t n, size_t max)
{
    if (n > max) {
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        size_t nlen = strlen(f[i].name);

        if (nlen == 0 || nlen > TK_HTTP_MAX_NAME ||
            strlen(f[i].value) != f[i].len) {
            abort();
        }
    }
}

/* Each file lies inside the body and is followed by CRLF "--". */
static void
check_files(const struct tk_part *p, size_t n, size_t max, const char *body,
            size_t len)
{
    if (n > max) {
        abort();
    }
    for (size_t i = 0; i < n; i++) {
        size_t nlen = strlen(p[i].name);
        const char *end = p[i].data + p[i].len;

        if (nlen == 0 || nlen > TK_HTTP_MAX_NAME || p[i].filename == NULL ||
            p[i].content_type == NULL || p[i].data < body ||
            end + 4 > body + len || memcmp(end, "\r\n--", 4) != 0) {
            abort();
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nl = memchr(data, '\n', size);
    const char *vars[3] = {"REQUEST_METHOD=POST", NULL, NULL};
    struct tk_param few[FEW_FIELDS];
    struct tk_part few_files[FEW_FILES];
    struct tk_req req;
    size_t tlen, blen, nf, np;
    int rc, rc_few;

    if (nl == NULL) {
        return 0;
    }
    tlen = (size_t)(nl - (const char *)data);
    if (memchr(data, '\0', tlen) != NULL) {
        return 0;
    }
    if (arena.chunk_size == 0) {
        tk_arena_init(&arena, 1 << 16);
    }
    tk_arena_reset(&arena);
    tk_buf_reset(&ctype);
    tk_buf_adds(&ctype, "CONTENT_TYPE=multipart/form-data; ");
    tk_buf_add(&ctype, data, tlen);
    vars[1] = tk_buf_str(&ctype);
    tk_req_init(&req, &arena, (char *const *)vars);
    blen = size - tlen - 1;
    req.body = tk_arena_alloc(&arena, blen + 1);
    memcpy(req.body, nl + 1, blen);
    req.body[blen] = '\0';
    req.body_len = blen;
    rc = tk_req_parse_body(&req);
    if (rc != 0 && rc != -EINVAL) {
        abort();
    }
    if (rc == 0) {
        check_fields(req.body_params, req.n_body, TK_HTTP_MAX_PARAMS);
        check_files(req.parts, req.n_parts, TK_HTTP_MAX_PARTS, req.body,
                    blen);
        if (req.n_body + req.n_parts > TK_HTTP_MAX_PARTS) {
            abort();
        }
    }
    rc_few = tk_http_parse_multipart(&arena, req.content_type, req.body,
                                     blen, few, FEW_FIELDS, &nf, few_files,
                                     FEW_FILES, &np);
    if (rc_few != 0 && rc_few != -EINVAL && rc_few != -E2BIG) {
        abort();
    }
    if (rc_few == 0) {
        check_fields(few, nf, FEW_FIELDS);
        check_files(few_files, np, FEW_FILES, req.body, blen);
        /* It fitted the small bounds: the large ones see the same. */
        if (rc != 0 || blen == 0 || nf != req.n_body ||
            np != req.n_parts) {
            abort();
        }
        for (size_t i = 0; i < nf; i++) {
            if (strcmp(few[i].name, req.body_params[i].name) != 0 ||
                few[i].len != req.body_params[i].len ||
                memcmp(few[i].value, req.body_params[i].value,
                       few[i].len) != 0) {
                abort();
            }
        }
        for (size_t i = 0; i < np; i++) {
            if (few_files[i].data != req.parts[i].data ||
                few_files[i].len != req.parts[i].len) {
                abort();
            }
        }
    } else if (rc_few == -EINVAL && rc == 0 && blen > 0) {
        /* Malformed is malformed whatever the room (an empty body is no
         * body to tk_req_parse_body). */
        abort();
    }
    return 0;
}
