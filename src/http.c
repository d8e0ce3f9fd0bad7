/*
 * Request parsing and response helpers. Every parser works on a length,
 * never trusts a terminator from outside, and stops at the bounds in
 * http.h; all results go to the request's arena.
 */
#include "http.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "json.h"
#include "util.h"

static int
hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

char *
tk_http_decode(struct tk_arena *a, const char *s, size_t n, bool plus,
               size_t *len)
{
    char *d = tk_arena_alloc(a, n + 1);
    size_t j = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (c == '%') {
            int hi, lo;

            if (i + 2 >= n) {
                return NULL;
            }
            hi = hexval(s[i + 1]);
            lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0) {
                return NULL;
            }
            c = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus) {
            c = ' ';
        }
        if (c == '\0') {
            return NULL;
        }
        d[j++] = c;
    }
    d[j] = '\0';
    if (len != NULL) {
        *len = j;
    }
    return d;
}

void
tk_http_encode(struct tk_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~') {
            tk_buf_addc(b, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};

            tk_buf_add(b, e, sizeof(e));
        }
    }
}

int
tk_http_parse_urlencoded(struct tk_arena *a, const char *s, size_t n,
                         struct tk_param *out, size_t max)
{
    size_t count = 0;
    size_t i = 0;

    while (i < n) {
        const char *field = s + i;
        const char *end = memchr(field, '&', n - i);
        size_t flen = end != NULL ? (size_t)(end - field) : n - i;
        const char *eq = memchr(field, '=', flen);
        size_t nlen = eq != NULL ? (size_t)(eq - field) : flen;
        struct tk_param *p;
        size_t dlen;

        i += flen + 1;
        if (flen == 0) {
            continue; /* "a=1&&b=2" and a trailing '&' are harmless */
        }
        if (count == max) {
            return -E2BIG;
        }
        p = &out[count];
        p->name = tk_http_decode(a, field, nlen, true, &dlen);
        if (p->name == NULL || dlen == 0 || dlen > TK_HTTP_MAX_NAME) {
            return -EINVAL;
        }
        if (eq != NULL) {
            p->value = tk_http_decode(a, eq + 1, flen - nlen - 1, true,
                                      &p->len);
        } else {
            p->value = tk_http_decode(a, "", 0, true, &p->len);
        }
        if (p->value == NULL) {
            return -EINVAL;
        }
        count++;
    }
    return (int)count;
}

/* Case-insensitive search for needle within s[0..n). */
static const char *
find_ci(const char *s, size_t n, const char *needle)
{
    size_t m = strlen(needle);

    for (size_t i = 0; i + m <= n; i++) {
        if (strncasecmp(s + i, needle, m) == 0) {
            return s + i;
        }
    }
    return NULL;
}

/*
 * The value of a header parameter (boundary=, name=, filename=) in
 * h[0..n), quoted or not, as an arena string. NULL when absent or
 * malformed. Only matches at a parameter start so "filename=" is not
 * taken for "name=".
 */
static char *
header_param(struct tk_arena *a, const char *h, size_t n, const char *key)
{
    size_t klen = strlen(key);

    for (size_t i = 0; i + klen <= n; i++) {
        const char *v;
        size_t vlen = 0;

        if (strncasecmp(h + i, key, klen) != 0 ||
            (i > 0 && h[i - 1] != ';' && h[i - 1] != ' ' &&
             h[i - 1] != '\t')) {
            continue;
        }
        v = h + i + klen;
        if (v < h + n && *v == '"') {
            const char *q = memchr(v + 1, '"', (size_t)(h + n - v - 1));

            if (q == NULL) {
                return NULL;
            }
            return tk_arena_strndup(a, v + 1, (size_t)(q - v - 1));
        }
        while (v + vlen < h + n && v[vlen] != ';' && v[vlen] != ' ' &&
               v[vlen] != '\t' && v[vlen] != '\r') {
            vlen++;
        }
        return tk_arena_strndup(a, v, vlen);
    }
    return NULL;
}

/* Finds needle (length m) in s[0..n). */
static const char *
find_bytes(const char *s, size_t n, const char *needle, size_t m)
{
    if (m == 0 || n < m) {
        return NULL;
    }
    return memmem(s, n, needle, m);
}

int
tk_http_parse_multipart(struct tk_arena *a, const char *content_type,
                        const char *body, size_t n, struct tk_param *fields,
                        size_t max_fields, size_t *n_fields,
                        struct tk_part *files, size_t max_files,
                        size_t *n_files)
{
    const char *boundary =
        header_param(a, content_type, strlen(content_type), "boundary=");
    const char *p, *end = body + n;
    char *delim;
    size_t dlen, nparts = 0;

    *n_fields = 0;
    *n_files = 0;
    if (boundary == NULL || boundary[0] == '\0' || strlen(boundary) > 70) {
        return -EINVAL;
    }
    /* Parts are separated by CRLF "--" boundary; the first one may start
     * the body without the CRLF. */
    delim = tk_arena_printf(a, "\r\n--%s", boundary);
    dlen = strlen(delim);
    if (n < dlen - 2 || memcmp(body, delim + 2, dlen - 2) != 0) {
        return -EINVAL;
    }
    p = body + dlen - 2;
    for (;;) {
        const char *hend, *next, *disp;
        char *name, *filename, *ctype;
        size_t hlen;

        if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
            return 0; /* closing delimiter; an epilogue is ignored */
        }
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
            return -EINVAL;
        }
        p += 2;
        if (++nparts > TK_HTTP_MAX_PARTS) {
            return -E2BIG;
        }
        hend = find_bytes(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (hend == NULL || hend - p > TK_HTTP_MAX_PART_HEADERS) {
            return -EINVAL;
        }
        hlen = (size_t)(hend - p) + 2; /* keep the last CRLF for parsing */
        if (memchr(p, '\0', hlen) != NULL) {
            return -EINVAL;
        }
        disp = find_ci(p, hlen, "content-disposition:");
        if (disp == NULL) {
            return -EINVAL;
        }
        {
            const char *lend = find_bytes(disp, (size_t)(p + hlen - disp),
                                          "\r\n", 2);
            size_t llen = (size_t)(lend - disp);

            if (find_ci(disp, llen, "form-data") == NULL) {
                return -EINVAL;
            }
            name = header_param(a, disp, llen, "name=");
            filename = header_param(a, disp, llen, "filename=");
        }
        ctype = NULL;
        {
            const char *ct = find_ci(p, hlen, "\ncontent-type:");

            if (ct == NULL && strncasecmp(p, "content-type:", 13) == 0) {
                ct = p - 1;
            }
            if (ct != NULL) {
                const char *v = ct + 14;
                const char *lend =
                    find_bytes(v, (size_t)(p + hlen - v), "\r\n", 2);

                while (v < lend && (*v == ' ' || *v == '\t')) {
                    v++;
                }
                ctype = tk_arena_strndup(a, v, (size_t)(lend - v));
            }
        }
        if (name == NULL || name[0] == '\0' ||
            strlen(name) > TK_HTTP_MAX_NAME) {
            return -EINVAL;
        }
        p = hend + 4;
        next = find_bytes(p, (size_t)(end - p), delim, dlen);
        if (next == NULL) {
            return -EINVAL;
        }
        if (filename != NULL) {
            struct tk_part *f;

            if (*n_files == max_files) {
                return -E2BIG;
            }
            f = &files[(*n_files)++];
            f->name = name;
            f->filename = filename;
            f->content_type =
                ctype != NULL ? ctype : "application/octet-stream";
            f->data = p;
            f->len = (size_t)(next - p);
        } else {
            struct tk_param *fp;
            size_t vlen = (size_t)(next - p);

            if (*n_fields == max_fields) {
                return -E2BIG;
            }
            if (memchr(p, '\0', vlen) != NULL) {
                return -EINVAL;
            }
            fp = &fields[(*n_fields)++];
            fp->name = name;
            fp->value = tk_arena_strndup(a, p, vlen);
            fp->len = vlen;
        }
        p = next + dlen;
    }
}

int64_t
tk_http_parse_msec(const char *s)
{
    int64_t v = 0;
    size_t i = 0;

    if (s == NULL) {
        return 0;
    }
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        if (i >= 12) {
            return 0;
        }
        v = v * 10 + (s[i] - '0');
    }
    if (i == 0 || s[i] != '.') {
        return 0;
    }
    for (int k = 1; k <= 3; k++) {
        if (s[i + k] < '0' || s[i + k] > '9') {
            return 0;
        }
        v = v * 10 + (s[i + k] - '0');
    }
    return s[i + 4] == '\0' ? v : 0;
}

bool
tk_http_is_stale(int64_t start_ms, int64_t now_ms, int shed_after_ms)
{
    if (start_ms <= 0 || shed_after_ms <= 0) {
        return false;
    }
    return now_ms - start_ms > shed_after_ms;
}

static int64_t
parse_length(const char *s)
{
    int64_t v;

    if (s == NULL || s[0] == '\0') {
        return -1;
    }
    if (tk_parse_i64(s, &v) < 0 || v < 0) {
        return -2;
    }
    return v;
}

void
tk_req_init(struct tk_req *req, struct tk_arena *arena, char *const *envp)
{
    memset(req, 0, sizeof(*req));
    req->arena = arena;
    req->method_name = "";
    req->path = "";
    req->query = "";
    req->content_type = "";
    req->cookie = "";
    req->remote_addr = "";
    req->content_length = -1;
    /* One pass over the params. The shipped nginx site sends just these
     * (etc/nginx/ticketd.conf); another front may send many more. */
    for (; *envp != NULL; envp++) {
        const char *e = *envp;
        const char *v = strchr(e, '=');

        if (v == NULL) {
            continue;
        }
        v++;
        switch (e[0]) {
        case 'C':
            if (strncmp(e, "CONTENT_TYPE=", 13) == 0) {
                req->content_type = v;
            } else if (strncmp(e, "CONTENT_LENGTH=", 15) == 0) {
                req->content_length = parse_length(v);
            }
            break;
        case 'D':
            if (strncmp(e, "DOCUMENT_URI=", 13) == 0) {
                req->path = v;
            }
            break;
        case 'H':
            if (strncmp(e, "HTTP_COOKIE=", 12) == 0) {
                req->cookie = v;
            }
            break;
        case 'Q':
            if (strncmp(e, "QUERY_STRING=", 13) == 0) {
                req->query = v;
            }
            break;
        case 'R':
            if (strncmp(e, "REQUEST_METHOD=", 15) == 0) {
                req->method_name = v;
            } else if (strncmp(e, "REMOTE_ADDR=", 12) == 0) {
                req->remote_addr = v;
            } else if (strncmp(e, "REQUEST_START_MS=", 17) == 0) {
                req->start_ms = tk_http_parse_msec(v);
            }
            break;
        default:
            break;
        }
    }
    if (strcmp(req->method_name, "GET") == 0) {
        req->method = TK_M_GET;
    } else if (strcmp(req->method_name, "POST") == 0) {
        req->method = TK_M_POST;
    } else if (strcmp(req->method_name, "HEAD") == 0) {
        req->method = TK_M_HEAD;
    } else {
        req->method = TK_M_OTHER;
    }
}

int
tk_req_parse_query(struct tk_req *req)
{
    size_t n = strlen(req->query);
    int rc;

    if (n == 0) {
        return 0;
    }
    if (n > TK_HTTP_MAX_QUERY) {
        return -EINVAL;
    }
    req->query_params =
        tk_arena_alloc(req->arena, TK_HTTP_MAX_PARAMS * sizeof(struct tk_param));
    rc = tk_http_parse_urlencoded(req->arena, req->query, n, req->query_params,
                                  TK_HTTP_MAX_PARAMS);
    if (rc < 0) {
        return -EINVAL;
    }
    req->n_query = (size_t)rc;
    return 0;
}

int
tk_req_read_body(struct tk_req *req)
{
    size_t want = req->content_length > 0 ? (size_t)req->content_length : 0;
    size_t got = 0;

    req->body = tk_arena_alloc(req->arena, want + 1);
    while (got < want) {
        long r = req->reader.read(req->reader.io, req->body + got, want - got);

        if (r <= 0) {
            return -EIO;
        }
        got += (size_t)r;
    }
    req->body[got] = '\0';
    req->body_len = got;
    return 0;
}

/* True when the media type of ct (before any ';') is type. */
static bool
media_is(const char *ct, const char *type)
{
    size_t n = strlen(type);

    return strncasecmp(ct, type, n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

int
tk_req_parse_body(struct tk_req *req)
{
    const char *ct = req->content_type;
    int rc;

    if (req->body == NULL || req->body_len == 0) {
        return 0;
    }
    if (media_is(ct, "application/x-www-form-urlencoded")) {
        req->body_params = tk_arena_alloc(
            req->arena, TK_HTTP_MAX_PARAMS * sizeof(struct tk_param));
        rc = tk_http_parse_urlencoded(req->arena, req->body, req->body_len,
                                      req->body_params, TK_HTTP_MAX_PARAMS);
    } else if (media_is(ct, "multipart/form-data")) {
        req->body_params = tk_arena_alloc(
            req->arena, TK_HTTP_MAX_PARAMS * sizeof(struct tk_param));
        req->parts = tk_arena_alloc(req->arena,
                                    TK_HTTP_MAX_PARTS * sizeof(struct tk_part));
        rc = tk_http_parse_multipart(req->arena, ct, req->body, req->body_len,
                                     req->body_params, TK_HTTP_MAX_PARAMS,
                                     &req->n_body, req->parts,
                                     TK_HTTP_MAX_PARTS, &req->n_parts);
        return rc < 0 ? -EINVAL : 0;
    } else if (media_is(ct, "application/json")) {
        req->body_params = tk_arena_alloc(
            req->arena, TK_HTTP_MAX_PARAMS * sizeof(struct tk_param));
        rc = tk_json_parse_params(req->arena, req->body, req->body_len,
                                  req->body_params, TK_HTTP_MAX_PARAMS,
                                  &req->body_is_json_array);
    } else {
        return 0;
    }
    if (rc < 0) {
        return -EINVAL;
    }
    req->n_body = (size_t)rc;
    return 0;
}

static const struct tk_param *
find_param(const struct tk_param *p, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(p[i].name, name) == 0) {
            return &p[i];
        }
    }
    return NULL;
}

const char *
tk_req_param(const struct tk_req *req, const char *name)
{
    const struct tk_param *p = find_param(req->body_params, req->n_body, name);

    if (p == NULL) {
        p = find_param(req->query_params, req->n_query, name);
    }
    return p != NULL ? p->value : NULL;
}

int
tk_req_param_i64(const struct tk_req *req, const char *name, int64_t min,
                 int64_t max, int64_t *out)
{
    const char *v = tk_req_param(req, name);
    int64_t x;

    if (v == NULL || v[0] == '\0') {
        return 0;
    }
    if (tk_parse_i64(v, &x) < 0 || x < min || x > max) {
        return -EINVAL;
    }
    *out = x;
    return 1;
}

const struct tk_part *
tk_req_file(const struct tk_req *req, const char *name)
{
    for (size_t i = 0; i < req->n_parts; i++) {
        if (strcmp(req->parts[i].name, name) == 0) {
            return &req->parts[i];
        }
    }
    return NULL;
}

const char *
tk_req_cookie(const struct tk_req *req, const char *name)
{
    size_t nlen = strlen(name);
    const char *s = req->cookie;

    while (*s != '\0') {
        const char *end;

        while (*s == ' ' || *s == ';') {
            s++;
        }
        end = strchr(s, ';');
        if (end == NULL) {
            end = s + strlen(s);
        }
        if ((size_t)(end - s) > nlen && strncmp(s, name, nlen) == 0 &&
            s[nlen] == '=') {
            return tk_arena_strndup(req->arena, s + nlen + 1,
                                    (size_t)(end - s) - nlen - 1);
        }
        s = end;
    }
    return NULL;
}

const char *
tk_http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

void
tk_resp_init(struct tk_resp *r)
{
    r->status = 200;
    r->content_type = NULL;
    tk_buf_init(&r->headers);
    tk_buf_init(&r->body);
}

void
tk_resp_release(struct tk_resp *r)
{
    if (r == NULL) {
        return;
    }
    tk_buf_release(&r->headers);
    tk_buf_release(&r->body);
}

void
tk_resp_reset(struct tk_resp *r)
{
    r->status = 200;
    r->content_type = NULL;
    tk_buf_reset(&r->headers);
    tk_buf_reset(&r->body);
}

static bool
header_safe(const char *s)
{
    return strpbrk(s, "\r\n") == NULL;
}

int
tk_resp_header(struct tk_resp *r, const char *name, const char *value)
{
    if (!header_safe(name) || !header_safe(value) || name[0] == '\0' ||
        strchr(name, ':') != NULL) {
        return -EINVAL;
    }
    if (r->headers.len + strlen(name) + strlen(value) + 4 >
        TK_RESP_MAX_HEADERS) {
        return -E2BIG;
    }
    tk_buf_printf(&r->headers, "%s: %s\r\n", name, value);
    return 0;
}

void
tk_resp_text(struct tk_resp *r, int status, const char *content_type,
             const char *text)
{
    r->status = status;
    r->content_type = content_type;
    tk_buf_reset(&r->body);
    tk_buf_adds(&r->body, text);
}

void
tk_resp_error(struct tk_resp *r, int status)
{
    r->status = status;
    r->content_type = "text/plain; charset=utf-8";
    tk_buf_reset(&r->body);
    tk_buf_printf(&r->body, "%d %s\n", status, tk_http_reason(status));
}

void
tk_resp_json(struct tk_resp *r, int code, const char *msg, const char *data)
{
    r->status = 200;
    r->content_type = "application/json";
    tk_buf_reset(&r->body);
    tk_buf_printf(&r->body, "{\"code\":%d,\"msg\":", code);
    tk_buf_add_json_str(&r->body, msg);
    tk_buf_adds(&r->body, ",\"data\":");
    tk_buf_adds(&r->body, data != NULL ? data : "null");
    tk_buf_addc(&r->body, '}');
}

void
tk_resp_head(const struct tk_resp *r, struct tk_buf *out)
{
    tk_buf_printf(out, "Status: %d %s\r\n", r->status,
                  tk_http_reason(r->status));
    if (r->content_type != NULL) {
        tk_buf_adds(out, "Content-Type: ");
        tk_buf_adds(out, r->content_type);
        tk_buf_adds(out, "\r\n");
    }
    tk_buf_printf(out, "Content-Length: %zu\r\n", r->body.len);
    tk_buf_add(out, tk_buf_str(&r->headers), r->headers.len);
    tk_buf_adds(out, "\r\n");
}
