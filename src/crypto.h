/*
 * The only user of OpenSSL's libcrypto: hashes, HMAC, randomness, base64,
 * password hashing. (WeChat's AES envelope lives here too.)
 */
#ifndef TK_CRYPTO_H
#define TK_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TK_SHA1_HEX_LEN 40
#define TK_SHA256_LEN 32

/* Lowercase hex SHA-1 of data into out (41 bytes with the NUL). */
void tk_sha1_hex(const void *data, size_t n, char out[TK_SHA1_HEX_LEN + 1]);

void tk_sha256(const void *data, size_t n, unsigned char out[TK_SHA256_LEN]);

void tk_hmac_sha256(const void *key, size_t keylen, const void *data,
                    size_t n, unsigned char out[TK_SHA256_LEN]);

/* Constant-time comparison of two equal-length byte strings; false when
 * the lengths differ. */
bool tk_ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/* Cryptographically random bytes; aborts if the CSPRNG fails. */
void tk_random_bytes(void *buf, size_t n);

/* n random bytes as 2n lowercase hex characters plus NUL into out. */
void tk_random_hex(char *out, size_t n);

/* Lowercase hex of n bytes into out (2n + 1 bytes). */
void tk_hex(const void *data, size_t n, char *out);

/* Standard base64 with '=' padding. out needs 4 * ((n + 2) / 3) + 1 bytes.
 * Returns the length written. */
size_t tk_base64_encode(const void *data, size_t n, char *out);

/* URL-safe base64 without padding (for tokens in URLs). */
size_t tk_base64url_encode(const void *data, size_t n, char *out);

/*
 * Decodes standard base64 (whitespace not allowed; '=' padding optional at
 * the end; non-zero trailing bits tolerated, as WeChat's EncodingAESKey
 * needs). out needs 3 * (n / 4) + 3 bytes. Returns the decoded length or
 * -EINVAL.
 */
long tk_base64_decode(const char *in, size_t n, unsigned char *out);

/*
 * Password hashing: PBKDF2-HMAC-SHA256 in Django's format
 * "pbkdf2_sha256$ITERATIONS$SALT$HASH" (salt: 16 random characters, hash:
 * base64 of 32 bytes). Admins use TK_PW_ITER_ADMIN; the student roster a
 * cheaper count so a million-row import fits in a minute.
 */
#define TK_PW_HASH_MAX 128
#define TK_PW_ITER_ADMIN 200000
#define TK_PW_ITER_ROSTER 50
void tk_password_hash(const char *password, int iterations,
                      char out[TK_PW_HASH_MAX]);
/* True when password matches hash (constant time in the hash compare). */
bool tk_password_verify(const char *password, const char *hash);

#endif
