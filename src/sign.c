/*
 * Link signatures: HMAC-SHA256 over a canonical form that does not depend
 * on the order the parameters were given in. Percent-encoding both sides of
 * every pair makes the form unambiguous ('&' and '=' never appear raw).
 */
#include "sign.h"

#include <errno.h>
#include <string.h>

#include "buf.h"
#include "crypto.h"

/* Builds the canonical text of params into b; -EINVAL on bad input. */
static int
canonical(const struct tk_sign_param *params, size_t n, struct tk_buf *b)
{
    size_t order[TK_SIGN_MAX_PARAMS];

    if (n > TK_SIGN_MAX_PARAMS) {
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        const char *name = params[i].name;
        size_t j = i;

        if (name == NULL || name[0] == '\0' || params[i].value == NULL ||
            strcmp(name, "sig") == 0) {
            return -EINVAL;
        }
        /* Insertion sort by name; equal names are an error. */
        while (j > 0) {
            int c = strcmp(params[order[j - 1]].name, name);

            if (c == 0) {
                return -EINVAL;
            }
            if (c < 0) {
                break;
            }
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            tk_buf_addc(b, '&');
        }
        tk_http_encode(b, params[order[i]].name);
        tk_buf_addc(b, '=');
        tk_http_encode(b, params[order[i]].value);
    }
    return 0;
}

int
tk_sign(const char *secret, const struct tk_sign_param *params, size_t n,
        char sig[TK_SIG_LEN + 1])
{
    struct tk_buf b = TK_BUF_INIT;
    unsigned char mac[TK_SHA256_LEN];
    char b64[4 * ((TK_SHA256_LEN + 2) / 3) + 1]; /* padding included */
    int rc = canonical(params, n, &b);

    if (rc < 0) {
        goto out;
    }
    tk_hmac_sha256(secret, strlen(secret), tk_buf_str(&b), b.len, mac);
    tk_base64url_encode(mac, sizeof(mac), b64);
    memcpy(sig, b64, TK_SIG_LEN);
    sig[TK_SIG_LEN] = '\0';
    tk_wipe(mac, sizeof(mac));
out:
    tk_buf_release(&b);
    return rc;
}

bool
tk_sign_is_valid(const char *secret, const struct tk_sign_param *params,
                 size_t n, const char *sig)
{
    char want[TK_SIG_LEN + 1];

    if (sig == NULL || strlen(sig) != TK_SIG_LEN) {
        return false;
    }
    if (tk_sign(secret, params, n, want) < 0) {
        return false;
    }
    return tk_ct_equal(want, TK_SIG_LEN, sig, TK_SIG_LEN);
}

char *
tk_sign_query(struct tk_arena *a, const char *secret,
              const struct tk_sign_param *params, size_t n)
{
    struct tk_buf b = TK_BUF_INIT;
    char sig[TK_SIG_LEN + 1];
    char *q;

    if (tk_sign(secret, params, n, sig) < 0) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        tk_http_encode(&b, params[i].name);
        tk_buf_addc(&b, '=');
        tk_http_encode(&b, params[i].value);
        tk_buf_addc(&b, '&');
    }
    tk_buf_adds(&b, "sig=");
    tk_buf_adds(&b, sig);
    q = tk_arena_strndup(a, tk_buf_str(&b), b.len);
    tk_buf_release(&b);
    return q;
}

int
tk_sign_check_req(const struct tk_req *req, const char *secret,
                  const char *const *names, size_t n)
{
    struct tk_sign_param params[TK_SIGN_MAX_PARAMS];

    if (n > TK_SIGN_MAX_PARAMS) {
        return -EACCES;
    }
    for (size_t i = 0; i < n; i++) {
        params[i].name = names[i];
        params[i].value = tk_req_param(req, names[i]);
        if (params[i].value == NULL) {
            return -EACCES;
        }
    }
    if (!tk_sign_is_valid(secret, params, n, tk_req_param(req, "sig"))) {
        return -EACCES;
    }
    return 0;
}
