#include "crypto.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

void
tk_hex(const void *data, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = data;

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

void
tk_sha1_hex(const void *data, size_t n, char out[TK_SHA1_HEX_LEN + 1])
{
    unsigned char md[SHA_DIGEST_LENGTH];

    SHA1(data, n, md);
    tk_hex(md, sizeof(md), out);
}

void
tk_sha256(const void *data, size_t n, unsigned char out[TK_SHA256_LEN])
{
    SHA256(data, n, out);
}

void
tk_hmac_sha256(const void *key, size_t keylen, const void *data, size_t n,
               unsigned char out[TK_SHA256_LEN])
{
    unsigned int len = TK_SHA256_LEN;

    if (HMAC(EVP_sha256(), key, (int)keylen, data, n, out, &len) == NULL) {
        tk_err("hmac-sha256 failed");
        abort();
    }
}

bool
tk_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    return alen == blen && CRYPTO_memcmp(a, b, alen) == 0;
}

void
tk_random_bytes(void *buf, size_t n)
{
    if (RAND_bytes(buf, (int)n) != 1) {
        tk_err("random: RAND_bytes failed");
        abort();
    }
}

void
tk_random_hex(char *out, size_t n)
{
    unsigned char tmp[64];

    while (n > 0) {
        size_t k = n < sizeof(tmp) ? n : sizeof(tmp);

        tk_random_bytes(tmp, k);
        tk_hex(tmp, k, out);
        out += 2 * k;
        n -= k;
    }
    tk_wipe(tmp, sizeof(tmp));
}

size_t
tk_base64_encode(const void *data, size_t n, char *out)
{
    return (size_t)EVP_EncodeBlock((unsigned char *)out, data, (int)n);
}

size_t
tk_base64url_encode(const void *data, size_t n, char *out)
{
    size_t len = tk_base64_encode(data, n, out);

    while (len > 0 && out[len - 1] == '=') {
        out[--len] = '\0';
    }
    for (size_t i = 0; i < len; i++) {
        if (out[i] == '+') {
            out[i] = '-';
        } else if (out[i] == '/') {
            out[i] = '_';
        }
    }
    return len;
}

static int
b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

long
tk_base64_decode(const char *in, size_t n, unsigned char *out)
{
    uint32_t acc = 0;
    size_t bits = 0, len = 0, pad = 0;

    while (n > 0 && in[n - 1] == '=' && pad < 2) {
        n--;
        pad++;
    }
    if ((n + pad) % 4 != 0 && pad != 0) {
        return -EINVAL;
    }
    if (n % 4 == 1) {
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)in[i]);

        if (v < 0) {
            return -EINVAL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[len++] = (unsigned char)(acc >> bits);
        }
    }
    /* Leftover bits (< 8) are ignored even when non-zero: real
     * EncodingAESKeys need that. */
    return (long)len;
}

#define PW_SALT_LEN 16

static int
pbkdf2(const char *password, const char *salt, int iterations,
       unsigned char out[32])
{
    return PKCS5_PBKDF2_HMAC(password, (int)strlen(password),
                             (const unsigned char *)salt, (int)strlen(salt),
                             iterations, EVP_sha256(), 32, out) == 1
               ? 0
               : -EINVAL;
}

void
tk_password_hash(const char *password, int iterations,
                 char out[TK_PW_HASH_MAX])
{
    static const char alphabet[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    unsigned char rnd[PW_SALT_LEN], dk[32];
    char salt[PW_SALT_LEN + 1], b64[48];

    tk_random_bytes(rnd, sizeof(rnd));
    for (size_t i = 0; i < PW_SALT_LEN; i++) {
        salt[i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
    }
    salt[PW_SALT_LEN] = '\0';
    if (pbkdf2(password, salt, iterations, dk) < 0) {
        tk_err("password hash: pbkdf2 failed");
        abort();
    }
    tk_base64_encode(dk, sizeof(dk), b64);
    snprintf(out, TK_PW_HASH_MAX, "pbkdf2_sha256$%d$%s$%s", iterations, salt,
             b64);
    tk_wipe(dk, sizeof(dk));
}

bool
tk_password_verify(const char *password, const char *hash)
{
    char salt[64], b64[48];
    unsigned char dk[32], want[36];
    int iterations;
    bool ok;

    if (strncmp(hash, "pbkdf2_sha256$", 14) != 0 ||
        sscanf(hash + 14, "%d$%63[^$]$%47s", &iterations, salt, b64) != 3 ||
        iterations < 1 || iterations > 10000000) {
        return false;
    }
    if (tk_base64_decode(b64, strlen(b64), want) != 32 ||
        pbkdf2(password, salt, iterations, dk) < 0) {
        return false;
    }
    ok = CRYPTO_memcmp(dk, want, 32) == 0;
    tk_wipe(dk, sizeof(dk));
    return ok;
}
