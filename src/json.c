/*
 * The only user of jansson. While a parse runs, jansson allocates from the
 * calling thread's arena (parse_arena) and its frees are no-ops; the
 * document is dropped with the arena at the end of the request. Outside a
 * parse the hooks fall through to malloc/free, so any other use still
 * works.
 */
#include "json.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local struct tk_arena *parse_arena;
static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;

static void *
json_alloc(size_t n)
{
    if (parse_arena != NULL) {
        return tk_arena_alloc(parse_arena, n);
    }
    return tk_xmalloc(n);
}

static void
json_free(void *p)
{
    if (parse_arena == NULL) {
        free(p);
    }
}

static void
hooks_install(void)
{
    json_set_alloc_funcs(json_alloc, json_free);
}

/* Parses s[0..n) with the arena hooks on; NULL when malformed. */
static json_t *
load(struct tk_arena *a, const char *s, size_t n)
{
    json_error_t err;

    pthread_once(&hooks_once, hooks_install);
    parse_arena = a;
    return json_loadb(s, n, JSON_REJECT_DUPLICATES, &err);
}

static void
unload(json_t *j)
{
    json_decref(j);
    parse_arena = NULL;
}

static bool
depth_ok(const json_t *j, int depth)
{
    size_t i;
    const char *k;
    json_t *v;

    if (depth > TK_HTTP_MAX_JSON_DEPTH) {
        return false;
    }
    if (json_is_array(j)) {
        json_array_foreach(j, i, v) {
            if (!depth_ok(v, depth + 1)) {
                return false;
            }
        }
    } else if (json_is_object(j)) {
        json_object_foreach((json_t *)j, k, v) {
            if (!depth_ok(v, depth + 1)) {
                return false;
            }
        }
    }
    return true;
}

/* The text of a scalar or nested value as an arena string; NULL for null. */
static const char *
value_text(struct tk_arena *a, json_t *v, size_t *len)
{
    const char *s;

    switch (json_typeof(v)) {
    case JSON_STRING:
        *len = json_string_length(v);
        return tk_arena_strndup(a, json_string_value(v), *len);
    case JSON_INTEGER:
        s = tk_arena_printf(a, "%" JSON_INTEGER_FORMAT,
                            json_integer_value(v));
        break;
    case JSON_REAL:
        s = tk_arena_printf(a, "%.17g", json_real_value(v));
        break;
    case JSON_TRUE:
        s = "1";
        break;
    case JSON_FALSE:
        s = "0";
        break;
    case JSON_NULL:
        return NULL;
    default:
        /* Allocated by the hooks, hence in the arena already. */
        s = json_dumps(v, JSON_COMPACT);
        if (s == NULL) {
            s = "";
        }
        break;
    }
    *len = strlen(s);
    return s;
}

int
tk_json_parse_params(struct tk_arena *a, const char *s, size_t n,
                     struct tk_param *out, size_t max, bool *is_array)
{
    json_t *doc = load(a, s, n);
    const char *key;
    json_t *v;
    int rc = 0;

    *is_array = false;
    if (doc == NULL || !depth_ok(doc, 1)) {
        rc = -EINVAL;
        goto out;
    }
    if (json_is_array(doc)) {
        *is_array = true;
        goto out;
    }
    if (!json_is_object(doc)) {
        rc = -EINVAL;
        goto out;
    }
    json_object_foreach(doc, key, v) {
        struct tk_param *p;
        size_t klen = strlen(key);

        if (klen == 0 || klen > TK_HTTP_MAX_NAME) {
            rc = -EINVAL;
            goto out;
        }
        if (json_is_null(v)) {
            continue;
        }
        if ((size_t)rc == max) {
            rc = -E2BIG;
            goto out;
        }
        p = &out[rc++];
        p->name = tk_arena_strndup(a, key, klen);
        p->value = value_text(a, v, &p->len);
    }
out:
    unload(doc);
    return rc;
}

int
tk_json_parse_i64_array(struct tk_arena *a, const char *s, size_t n,
                        int64_t *out, size_t max)
{
    json_t *doc = load(a, s, n);
    json_t *v;
    size_t i;
    int rc = 0;

    if (doc == NULL || !json_is_array(doc)) {
        rc = -EINVAL;
        goto out;
    }
    if (json_array_size(doc) > max) {
        rc = -E2BIG;
        goto out;
    }
    json_array_foreach(doc, i, v) {
        if (!json_is_integer(v)) {
            rc = -EINVAL;
            goto out;
        }
        out[i] = json_integer_value(v);
    }
    rc = (int)json_array_size(doc);
out:
    unload(doc);
    return rc;
}
