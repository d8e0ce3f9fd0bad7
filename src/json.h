/*
 * The only user of jansson. JSON request bodies become the same flat
 * parameter list as form fields (http.h), so a handler does not care how
 * the client encoded its fields. Responses are written with tk_buf
 * (tk_buf_add_json_str), which needs no library.
 *
 * jansson's allocations during a parse come from the caller's arena (the
 * allocator hooks are set once, process-wide; outside a parse they fall
 * through to malloc), so a request costs no heap traffic.
 */
#ifndef TK_JSON_H
#define TK_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "http.h"

/*
 * Parses s[0..n) and flattens a top-level object into out (at most max
 * entries): strings as they are, integers and reals as decimal text,
 * true/false as "1"/"0", null as absent, nested arrays and objects as
 * compact JSON text (parse those with the helpers below). A top-level array
 * sets *is_array and yields no fields. Strings must be valid UTF-8 without
 * NUL; depth is bounded by TK_HTTP_MAX_JSON_DEPTH.
 * Returns the number of fields, or -EINVAL (malformed, not an object or
 * array, too deep) or -E2BIG (too many fields).
 */
int tk_json_parse_params(struct tk_arena *a, const char *s, size_t n,
                         struct tk_param *out, size_t max, bool *is_array);

/*
 * Parses a JSON array of integers (such as a menu's activity ids) into out.
 * Returns the count, -EINVAL when s is not such an array, -E2BIG when it
 * holds more than max items.
 */
int tk_json_parse_i64_array(struct tk_arena *a, const char *s, size_t n,
                            int64_t *out, size_t max);

#endif
