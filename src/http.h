/*
 * The request layer: one HTTP request as nginx hands it over FastCGI
 * (struct tk_req), its answer (struct tk_resp), and the bounded parsers for
 * query strings, urlencoded and multipart bodies. JSON bodies are parsed by
 * json.c into the same parameter list, so handlers look up a field the same
 * way whatever the client sent: tk_req_param(req, "name").
 *
 * Memory: every string a tk_req holds or returns lives in req->arena and
 * is valid until the thread resets its arena after the request. Nothing
 * here allocates outside the arena except the response buffers, which the
 * thread owns and reuses from request to request.
 */
#ifndef TK_HTTP_H
#define TK_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"

/* Bounds on what a client may send us. */
#define TK_HTTP_MAX_PARAMS 64        /* fields per query string or body */
#define TK_HTTP_MAX_NAME 64          /* bytes of a field name, decoded */
#define TK_HTTP_MAX_QUERY 4096       /* bytes of QUERY_STRING */
#define TK_HTTP_MAX_PARTS 16         /* parts of a multipart body */
#define TK_HTTP_MAX_PART_HEADERS 1024 /* bytes of one part's headers */
#define TK_HTTP_MAX_JSON_DEPTH 8

enum tk_method {
    TK_M_OTHER = 0,
    TK_M_GET = 1 << 0,
    TK_M_HEAD = 1 << 1,
    TK_M_POST = 1 << 2,
};

/* One decoded field: name and value are NUL-terminated; len is the value's
 * length (a value may hold NUL bytes only in file parts). */
struct tk_param {
    const char *name;
    const char *value;
    size_t len;
};

/* One multipart part that carried a filename (an upload). */
struct tk_part {
    const char *name;
    const char *filename;
    const char *content_type; /* "application/octet-stream" if absent */
    const char *data;         /* points into the body; not NUL-terminated */
    size_t len;
};

/* Reads up to n body bytes; returns the count, 0 at the end, <0 on error. */
struct tk_body_reader {
    long (*read)(void *io, char *buf, size_t n);
    void *io;
};

struct tk_req {
    struct tk_arena *arena;
    enum tk_method method;
    const char *method_name;  /* REQUEST_METHOD, "" if absent */
    const char *path;         /* DOCUMENT_URI (decoded, normalised by nginx) */
    const char *query;        /* QUERY_STRING, "" if absent */
    const char *content_type; /* CONTENT_TYPE, "" if absent */
    const char *cookie;       /* HTTP_COOKIE, "" if absent */
    const char *remote_addr;  /* REMOTE_ADDR, "" if absent */
    int64_t start_ms;         /* REQUEST_START_MS (nginx $msec), 0 if absent */
    int64_t content_length;   /* -1 absent, -2 malformed */
    char *body;               /* NUL-terminated copy, NULL before reading */
    size_t body_len;
    bool body_is_json_array;  /* body was a JSON array: no params from it */
    struct tk_param *query_params;
    size_t n_query;
    struct tk_param *body_params;
    size_t n_body;
    struct tk_part *parts;
    size_t n_parts;
    struct tk_body_reader reader;
};

/* Extra response headers are bounded so a handler bug cannot grow them. */
#define TK_RESP_MAX_HEADERS 1024

struct tk_resp {
    int status;
    const char *content_type; /* static or arena string */
    struct tk_buf headers;    /* "Name: value\r\n" lines, owned by the thread */
    struct tk_buf body;       /* owned by the thread, reset per request */
};

/*
 * Fills req from FastCGI params (an environ-style "NAME=value" array that
 * stays valid for the request) without copying the values. The query string
 * is not parsed here; see tk_req_parse_query().
 */
void tk_req_init(struct tk_req *req, struct tk_arena *arena,
                 char *const *envp);

/* Parses req->query into req->query_params. 0, or -EINVAL (malformed or
 * over a bound). */
int tk_req_parse_query(struct tk_req *req);

/*
 * Reads exactly req->content_length bytes through req->reader into the
 * arena (NUL-terminated). 0, or -EIO when the stream ends early or fails.
 * The caller has checked the length against its cap.
 */
int tk_req_read_body(struct tk_req *req);

/*
 * Parses the body by Content-Type: urlencoded and multipart fields go to
 * body_params (files to parts); JSON objects are flattened by json.c;
 * other types are left raw. 0, or -EINVAL for a malformed body.
 */
int tk_req_parse_body(struct tk_req *req);

/* The value of a field: body first, then query string. NULL if absent. */
const char *tk_req_param(const struct tk_req *req, const char *name);

/* 1 and *out on a valid decimal integer, 0 when absent or empty,
 * -EINVAL when present but not an int64 in [min, max]. */
int tk_req_param_i64(const struct tk_req *req, const char *name, int64_t min,
                     int64_t max, int64_t *out);

/* The uploaded file of a multipart field, or NULL. */
const struct tk_part *tk_req_file(const struct tk_req *req, const char *name);

/* A cookie's value from HTTP_COOKIE (arena copy), or NULL. */
const char *tk_req_cookie(const struct tk_req *req, const char *name);

/*
 * The parsers themselves, for the request layer and its tests. Each fills
 * at most max entries of out from arena memory; returns the count or
 * -EINVAL (malformed: bad escape, NUL byte, field name too long or empty)
 * or -E2BIG (too many fields).
 */
int tk_http_parse_urlencoded(struct tk_arena *a, const char *s, size_t n,
                             struct tk_param *out, size_t max);
/* Needs the full Content-Type value for the boundary. Text fields go to
 * fields, parts with a filename to files. Returns 0 and the counts. */
int tk_http_parse_multipart(struct tk_arena *a, const char *content_type,
                            const char *body, size_t n, struct tk_param *fields,
                            size_t max_fields, size_t *n_fields,
                            struct tk_part *files, size_t max_files,
                            size_t *n_files);

/* Percent-decodes s[0..n) ('+' is a space when plus is true) into arena
 * memory. NULL on a bad escape or an encoded NUL. */
char *tk_http_decode(struct tk_arena *a, const char *s, size_t n, bool plus,
                     size_t *len);

/* Appends s percent-encoded (RFC 3986 unreserved kept) to b. */
void tk_http_encode(struct tk_buf *b, const char *s);

/*
 * nginx's $msec ("1700000000.123") in milliseconds; 0 for anything else
 * (absent, malformed, or not exactly 3 decimals).
 */
int64_t tk_http_parse_msec(const char *s);

/*
 * Load shedding: true when a request that reached nginx at start_ms has
 * already waited longer than shed_after_ms at now_ms. start_ms 0 (unknown)
 * and shed_after_ms 0 (disabled) never shed.
 */
bool tk_http_is_stale(int64_t start_ms, int64_t now_ms, int shed_after_ms);

/* The reason phrase of an HTTP status ("Not Found"); "Unknown" if none. */
const char *tk_http_reason(int status);

/* Response helpers. The buffers are initialised once per thread. */
void tk_resp_init(struct tk_resp *r);
void tk_resp_release(struct tk_resp *r);
/* Status 200, no type, empty headers and body: ready for a request. */
void tk_resp_reset(struct tk_resp *r);
/* Adds one header. Refuses (-EINVAL) names or values holding CR, LF or NUL
 * and -E2BIG past TK_RESP_MAX_HEADERS bytes. */
int tk_resp_header(struct tk_resp *r, const char *name, const char *value);
/* Sets status, type and body text (replacing any body). */
void tk_resp_text(struct tk_resp *r, int status, const char *content_type,
                  const char *text);
/* A short plain-text error page: "404 Not Found\n". */
void tk_resp_error(struct tk_resp *r, int status);
/*
 * The JSON API envelope of API.md: HTTP 200, application/json,
 * {"code":code,"msg":msg,"data":data}, where data is JSON text written by
 * the caller (NULL: null).
 */
void tk_resp_json(struct tk_resp *r, int code, const char *msg,
                  const char *data);
/* The FastCGI response head ("Status: ...\r\n...\r\n\r\n") into out. */
void tk_resp_head(const struct tk_resp *r, struct tk_buf *out);

#endif
