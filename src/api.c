/*
 * Input checks and small writers shared by the API handlers and the pages.
 */
#include "api.h"

#include <errno.h>
#include <string.h>

#include "sign.h"

int
tk_api_text(const struct tk_req *req, const char *name, size_t max,
            bool multiline, const char **out)
{
    const char *v = tk_req_param(req, name);
    size_t n;

    if (v == NULL || v[0] == '\0') {
        return 0;
    }
    n = strlen(v);
    if (n > max || !tk_utf8_is_valid(v, n)) {
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];

        if ((c < 0x20 && !(multiline && (c == '\n' || c == '\r' ||
                                         c == '\t'))) ||
            c == 0x7f) {
            return -EINVAL;
        }
    }
    *out = v;
    return 1;
}

bool
tk_api_sig_ok(const struct tk_ctx *ctx, const struct tk_req *req,
              const char *const *names, size_t n)
{
    return tk_sign_check_req(req, ctx->conf->site.link_secret, names, n) ==
           0;
}

char *
tk_api_link(struct tk_ctx *ctx, const char *path, const char *name1,
            const char *value1, const char *name2, const char *value2)
{
    struct tk_sign_param p[2] = {{name1, value1}, {name2, value2}};
    char *q = tk_sign_query(ctx->arena, ctx->conf->site.link_secret, p,
                            name2 != NULL ? 2 : 1);

    if (q == NULL) {
        return NULL;
    }
    return tk_arena_printf(ctx->arena, "%s%s?%s", ctx->conf->site.base_url,
                           path, q);
}

static void
key(struct tk_buf *b, const char *name)
{
    if (b->len > 0 && b->data[b->len - 1] != '{') {
        tk_buf_addc(b, ',');
    }
    tk_buf_add_json_str(b, name);
    tk_buf_addc(b, ':');
}

void
tk_api_json_str(struct tk_buf *b, const char *name, const char *value)
{
    key(b, name);
    tk_buf_add_json_str(b, value);
}

void
tk_api_json_int(struct tk_buf *b, const char *name, int64_t value)
{
    key(b, name);
    tk_buf_printf(b, "%lld", (long long)value);
}
