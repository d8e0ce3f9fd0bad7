/*
 * Signed links. A link handed to a user (bind page, ticket page, ...)
 * carries sig = base64url(HMAC-SHA256(site.link_secret, canonical)), where
 * canonical is the parameters sorted by name (bytewise), each written as
 * percent-encoded name '=' percent-encoded value, joined by '&'. Editing any
 * parameter, adding or dropping one breaks the signature.
 *
 * An expiry, when wanted, is just another signed parameter ("exp") that the
 * handler checks.
 */
#ifndef TK_SIGN_H
#define TK_SIGN_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"
#include "http.h"

/* 32 HMAC bytes in unpadded base64url. */
#define TK_SIG_LEN 43

struct tk_sign_param {
    const char *name;
    const char *value;
};

/* At most this many parameters take part in one signature. */
#define TK_SIGN_MAX_PARAMS 16

/*
 * Writes the signature of params[0..n) into sig (TK_SIG_LEN + 1 bytes).
 * Returns 0, or -EINVAL for more than TK_SIGN_MAX_PARAMS, a NULL or empty
 * name, a NULL value, or a name given twice, or a parameter named "sig".
 */
int tk_sign(const char *secret, const struct tk_sign_param *params, size_t n,
            char sig[TK_SIG_LEN + 1]);

/* True when sig is the signature of params (constant-time comparison).
 * A NULL sig or one of the wrong length is false. */
bool tk_sign_is_valid(const char *secret, const struct tk_sign_param *params,
                      size_t n, const char *sig);

/*
 * The query string "a=1&b=2&sig=..." for a link, as an arena string, or
 * NULL on the errors of tk_sign().
 */
char *tk_sign_query(struct tk_arena *a, const char *secret,
                    const struct tk_sign_param *params, size_t n);

/*
 * Checks a request's "sig" over the named parameters (all required).
 * 0 when valid; -EACCES when sig or a parameter is missing or the
 * signature is wrong.
 */
int tk_sign_check_req(const struct tk_req *req, const char *secret,
                      const char *const *names, size_t n);

#endif
