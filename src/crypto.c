#include "crypto.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
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
tk_sha1_hexv(const struct iovec *iov, size_t iovcnt,
             char out[TK_SHA1_HEX_LEN + 1])
{
    /* One digest context per thread, reused, with SHA-1 fetched once:
     * OpenSSL 3's implicit fetch in EVP_sha1() takes locks every call. */
    static _Thread_local EVP_MD_CTX *ctx;
    static _Thread_local EVP_MD *sha1;
    unsigned char md[SHA_DIGEST_LENGTH];
    unsigned int len = 0;
    int ok;

    if (ctx == NULL) {
        ctx = EVP_MD_CTX_new();
        sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
        if (ctx == NULL || sha1 == NULL) {
            tk_err("sha1: cannot set up a digest context");
            abort();
        }
    }
    ok = EVP_DigestInit_ex(ctx, sha1, NULL) == 1;
    for (size_t i = 0; ok && i < iovcnt; i++) {
        ok = EVP_DigestUpdate(ctx, iov[i].iov_base, iov[i].iov_len) == 1;
    }
    if (!ok || EVP_DigestFinal_ex(ctx, md, &len) != 1) {
        tk_err("sha1: digest failed");
        abort();
    }
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
    /* One MAC context per thread with the digest set once: OpenSSL 3's
     * one-shot HMAC() fetches HMAC and SHA-256 again on every call (2.7-4.6
     * us against 1.0 us measured here), and links are signed on the grab
     * path. Init with a key (and no params) only re-keys. */
    static _Thread_local EVP_MAC_CTX *ctx;
    size_t len = 0;

    if (ctx == NULL) {
        EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                             (char *)"SHA256", 0),
            OSSL_PARAM_construct_end(),
        };

        ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
        EVP_MAC_free(mac); /* the context keeps its own reference */
        if (ctx == NULL || EVP_MAC_CTX_set_params(ctx, params) != 1) {
            tk_err("hmac-sha256: cannot set up a mac context");
            abort();
        }
    }
    /* A NULL key would mean "the previous key" to EVP_MAC_init. */
    if (EVP_MAC_init(ctx, key != NULL ? key : "", keylen, NULL) != 1 ||
        EVP_MAC_update(ctx, data, n) != 1 ||
        EVP_MAC_final(ctx, out, &len, TK_SHA256_LEN) != 1 ||
        len != TK_SHA256_LEN) {
        tk_err("hmac-sha256 failed");
        abort();
    }
}

bool
tk_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    return alen == blen && CRYPTO_memcmp(a, b, alen) == 0;
}

/*
 * tk_random_bytes hands out bytes from a per-thread buffer that RAND_bytes
 * refills RANDOM_BUF bytes at a time: one RAND_bytes call costs 1.2-1.4
 * us whatever its size below a few hundred bytes (a DRBG generate and
 * update; 16 bytes out of a 512-byte refill cost 40-47 ns), and a grab
 * (ticket id) and a safe-mode reply (its random prefix) each need one.
 * Every byte is handed out once and wiped from the buffer as it goes. A
 * child of fork() must not hand out what its parent still holds:
 * pthread_atfork bumps a generation in the child, and a buffer of an
 * older generation is thrown away.
 */
#define RANDOM_BUF 512

static atomic_uint random_gen;
static pthread_once_t random_once = PTHREAD_ONCE_INIT;
static _Thread_local struct {
    unsigned char b[RANDOM_BUF];
    size_t left; /* unused bytes, at the end of b */
    unsigned gen;
} random_buf;

static void
random_forked(void)
{
    atomic_fetch_add(&random_gen, 1);
}

static void
random_atfork(void)
{
    if (pthread_atfork(NULL, NULL, random_forked) != 0) {
        tk_err("random: pthread_atfork failed");
        abort();
    }
}

static void
random_fill(void *buf, size_t n)
{
    if (RAND_bytes(buf, (int)n) != 1) {
        tk_err("random: RAND_bytes failed");
        abort();
    }
}

void
tk_random_bytes(void *buf, size_t n)
{
    unsigned char *out = buf;
    unsigned gen;

    pthread_once(&random_once, random_atfork);
    gen = atomic_load(&random_gen);
    if (random_buf.gen != gen) {
        tk_wipe(random_buf.b, sizeof(random_buf.b));
        random_buf.left = 0;
        random_buf.gen = gen;
    }
    if (n > RANDOM_BUF / 4) {
        random_fill(out, n);
        return;
    }
    while (n > 0) {
        unsigned char *src;
        size_t k;

        if (random_buf.left == 0) {
            random_fill(random_buf.b, RANDOM_BUF);
            random_buf.left = RANDOM_BUF;
        }
        k = n < random_buf.left ? n : random_buf.left;
        src = random_buf.b + RANDOM_BUF - random_buf.left;
        memcpy(out, src, k);
        tk_wipe(src, k);
        random_buf.left -= k;
        out += k;
        n -= k;
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

/* One plus the base64 value of each byte; 0 outside the alphabet. */
static const unsigned char b64tab[256] = {
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6,
    ['G'] = 7, ['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12,
    ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18,
    ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30,
    ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
    ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
    ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54,
    ['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60,
    ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};

static int
b64val(unsigned char c)
{
    return (int)b64tab[c] - 1;
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

int
tk_wxcrypt_key_decode(const char *encoded, size_t n,
                      unsigned char key[TK_WXCRYPT_KEY_LEN])
{
    unsigned char tmp[TK_WXCRYPT_KEY_LEN + 3];
    long len;

    if (n != TK_WXCRYPT_ENCODED_KEY_LEN) {
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (b64val((unsigned char)encoded[i]) < 0 || encoded[i] == '+' ||
            encoded[i] == '/') {
            return -EINVAL;
        }
    }
    /* 43 characters carry 258 bits: the decoder drops the last 2, which
     * are non-zero in three of four real keys. */
    len = tk_base64_decode(encoded, n, tmp);
    if (len != TK_WXCRYPT_KEY_LEN) {
        tk_wipe(tmp, sizeof(tmp));
        return -EINVAL;
    }
    memcpy(key, tmp, TK_WXCRYPT_KEY_LEN);
    tk_wipe(tmp, sizeof(tmp));
    return 0;
}

/*
 * One cipher context per thread, reused: the request path then allocates
 * nothing here. Worker threads live as long as the process.
 */
static _Thread_local EVP_CIPHER *wx_aes;

static EVP_CIPHER_CTX *
wx_ctx(void)
{
    static _Thread_local EVP_CIPHER_CTX *ctx;

    if (ctx == NULL) {
        ctx = EVP_CIPHER_CTX_new();
        wx_aes = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
        if (ctx == NULL || wx_aes == NULL) {
            tk_err("aes: cannot set up aes-256-cbc");
            abort();
        }
    }
    return ctx;
}

static void
wx_cipher_init(EVP_CIPHER_CTX *ctx, const unsigned char *key, int enc)
{
    /* Given the cipher, OpenSSL 3 frees the context's provider state and
     * allocates it anew; without it (every call after the first) only the
     * key, IV and direction are set. */
    static _Thread_local bool has_cipher;

    /* IV = key[0..15]; WeChat pads to 32-byte blocks, which OpenSSL's
     * PKCS#7 (16-byte blocks) would reject half the time: padding off. */
    if (EVP_CipherInit_ex(ctx, has_cipher ? NULL : wx_aes, NULL, key, key,
                          enc) != 1 ||
        EVP_CIPHER_CTX_set_padding(ctx, 0) != 1) {
        tk_err("aes: cannot initialise aes-256-cbc");
        abort();
    }
    has_cipher = true;
}

int
tk_wxcrypt_unpack(const unsigned char *plain, size_t len, const char *appid,
                  const unsigned char **msg, size_t *msg_len)
{
    size_t pad, full, ml, idlen = strlen(appid);

    if (len == 0) {
        return -EBADMSG;
    }
    pad = plain[len - 1];
    if (pad < 1 || pad > TK_WXCRYPT_BLOCK || pad > len) {
        return -EBADMSG;
    }
    /* The signature was checked before decryption, so there is no
     * padding oracle to hide: a plain loop is fine. */
    for (size_t i = len - pad; i < len; i++) {
        if (plain[i] != pad) {
            return -EBADMSG;
        }
    }
    full = len - pad;
    if (full < TK_WXCRYPT_RANDOM_LEN + 4) {
        return -EBADMSG;
    }
    ml = (size_t)plain[16] << 24 | (size_t)plain[17] << 16 |
         (size_t)plain[18] << 8 | (size_t)plain[19];
    if (ml > full - TK_WXCRYPT_RANDOM_LEN - 4) {
        return -EBADMSG;
    }
    if (full - TK_WXCRYPT_RANDOM_LEN - 4 - ml != idlen ||
        memcmp(plain + TK_WXCRYPT_RANDOM_LEN + 4 + ml, appid, idlen) != 0) {
        return -EACCES;
    }
    *msg = plain + TK_WXCRYPT_RANDOM_LEN + 4;
    *msg_len = ml;
    return 0;
}

int
tk_wxcrypt_decrypt(const unsigned char key[TK_WXCRYPT_KEY_LEN],
                   const char *b64, size_t b64_len, const char *appid,
                   unsigned char *out, size_t out_size, const char **msg,
                   size_t *msg_len)
{
    EVP_CIPHER_CTX *ctx;
    const unsigned char *m;
    long n;
    int len = 0, rc;

    if (out_size < TK_WXCRYPT_DECRYPT_SIZE(b64_len)) {
        return -ENOSPC;
    }
    if (b64_len > INT32_MAX) {
        return -EINVAL;
    }
    n = tk_base64_decode(b64, b64_len, out);
    if (n <= 0 || n % TK_WXCRYPT_BLOCK != 0) {
        return -EINVAL;
    }
    ctx = wx_ctx();
    wx_cipher_init(ctx, key, 0);
    /* In place: OpenSSL allows out == in (but no partial overlap). */
    if (EVP_DecryptUpdate(ctx, out, &len, out, (int)n) != 1 || len != n) {
        return -EBADMSG;
    }
    rc = tk_wxcrypt_unpack(out, (size_t)n, appid, &m, msg_len);
    if (rc < 0) {
        return rc;
    }
    /* The byte after msg is the (checked) appid or padding: always
     * inside the n decrypted bytes, so the NUL fits. */
    out[(size_t)(m - out) + *msg_len] = '\0';
    *msg = (const char *)m;
    return 0;
}

/* Streams plaintext through AES-CBC and base64 in 48-byte pieces (a
 * multiple of both the AES block and base64's 3-byte group). */
struct wx_enc {
    EVP_CIPHER_CTX *ctx;
    struct tk_buf *out;
    unsigned char in[48];
    size_t n;
};

static void
wx_enc_flush(struct wx_enc *e)
{
    unsigned char ct[sizeof(e->in)];
    int len = 0;

    if (e->n == 0) {
        return;
    }
    if (EVP_EncryptUpdate(e->ctx, ct, &len, e->in, (int)e->n) != 1 ||
        len != (int)e->n) {
        tk_err("aes: encryption failed");
        abort();
    }
    tk_buf_grow(e->out, 4 * ((e->n + 2) / 3));
    e->out->len += tk_base64_encode(ct, e->n, e->out->data + e->out->len);
    e->n = 0;
    tk_wipe(e->in, sizeof(e->in));
}

static void
wx_enc_feed(struct wx_enc *e, const void *p, size_t n)
{
    const unsigned char *s = p;

    while (n > 0) {
        size_t k = TK_MIN(sizeof(e->in) - e->n, n);

        memcpy(e->in + e->n, s, k);
        e->n += k;
        s += k;
        n -= k;
        if (e->n == sizeof(e->in)) {
            wx_enc_flush(e);
        }
    }
}

int
tk_wxcrypt_encrypt(const unsigned char key[TK_WXCRYPT_KEY_LEN],
                   const unsigned char *random, const char *msg,
                   size_t msg_len, const char *appid, struct tk_buf *out)
{
    unsigned char rnd[TK_WXCRYPT_RANDOM_LEN], be[4], padding[TK_WXCRYPT_BLOCK];
    size_t idlen = strlen(appid), full, pad;
    struct wx_enc e = {.out = out};

    if (msg_len > UINT32_MAX ||
        msg_len > SIZE_MAX / 2 - idlen - TK_WXCRYPT_RANDOM_LEN - 4) {
        return -E2BIG;
    }
    if (random == NULL) {
        tk_random_bytes(rnd, sizeof(rnd));
    } else {
        memcpy(rnd, random, sizeof(rnd));
    }
    be[0] = (unsigned char)(msg_len >> 24);
    be[1] = (unsigned char)(msg_len >> 16);
    be[2] = (unsigned char)(msg_len >> 8);
    be[3] = (unsigned char)msg_len;
    full = TK_WXCRYPT_RANDOM_LEN + 4 + msg_len + idlen;
    pad = TK_WXCRYPT_BLOCK - full % TK_WXCRYPT_BLOCK; /* 1..32 */
    memset(padding, (int)pad, pad);

    e.ctx = wx_ctx();
    wx_cipher_init(e.ctx, key, 1);
    tk_buf_grow(out, 4 * ((full + pad + 2) / 3));
    wx_enc_feed(&e, rnd, sizeof(rnd));
    wx_enc_feed(&e, be, sizeof(be));
    wx_enc_feed(&e, msg, msg_len);
    wx_enc_feed(&e, appid, idlen);
    wx_enc_feed(&e, padding, pad);
    wx_enc_flush(&e);
    return 0;
}
