/*
 * The only user of OpenSSL's libcrypto: hashes, HMAC, randomness, base64,
 * password hashing. (WeChat's AES envelope lives here too.)
 */
#ifndef TK_CRYPTO_H
#define TK_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct tk_buf;

#define TK_SHA1_HEX_LEN 40
#define TK_SHA256_LEN 32

/* Lowercase hex SHA-1 of data into out (41 bytes with the NUL). */
void tk_sha1_hex(const void *data, size_t n, char out[TK_SHA1_HEX_LEN + 1]);

/* The same over the concatenation of iovcnt pieces, without copying. */
void tk_sha1_hexv(const struct iovec *iov, size_t iovcnt,
                  char out[TK_SHA1_HEX_LEN + 1]);

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

/*
 * WeChat's AES "safe mode" envelope (WECHAT.md section 4):
 *   Encrypt = base64(AES-256-CBC(key, iv = key[0..15],
 *                    PKCS7_32(random16 || be32(len) || msg || appid)))
 * with PKCS#7 over 32-byte blocks checked here, OpenSSL padding off.
 */
#define TK_WXCRYPT_KEY_LEN 32
#define TK_WXCRYPT_ENCODED_KEY_LEN 43 /* EncodingAESKey, without the '=' */
#define TK_WXCRYPT_RANDOM_LEN 16
#define TK_WXCRYPT_BLOCK 32 /* PKCS#7 block size WeChat uses */

/*
 * Decodes a 43-character EncodingAESKey ([A-Za-z0-9], non-zero trailing
 * bits tolerated) into the 32-byte AES key. Returns 0 or -EINVAL.
 */
int tk_wxcrypt_key_decode(const char *encoded, size_t n,
                          unsigned char key[TK_WXCRYPT_KEY_LEN]);

/* Bytes tk_wxcrypt_decrypt needs in out for a b64_len-byte Encrypt. */
#define TK_WXCRYPT_DECRYPT_SIZE(b64_len) (3 * ((b64_len) / 4) + 3)

/*
 * Decrypts the base64 text b64 (b64_len bytes, an Encrypt value) with key
 * into out (out_size >= TK_WXCRYPT_DECRYPT_SIZE(b64_len); caller-owned)
 * and checks the padding, the length prefix and that the trailing receive
 * id equals appid. On success *msg points into out at the message,
 * *msg_len bytes long and NUL-terminated (the NUL overwrites the first byte
 * of the checked appid). Returns
 *   0        ok
 *   -EINVAL  not base64, or the ciphertext length is not a non-zero
 *            multiple of 32 (independent of the key)
 *   -ENOSPC  out_size too small
 *   -EBADMSG bad padding or length prefix: wrong key or corrupt data
 *   -EACCES  decrypted fine but for another appid
 * Logs nothing: the caller decides (key rotation tries the next key).
 * out holds plaintext afterwards even on error; the caller wipes it.
 */
int tk_wxcrypt_decrypt(const unsigned char key[TK_WXCRYPT_KEY_LEN],
                       const char *b64, size_t b64_len, const char *appid,
                       unsigned char *out, size_t out_size,
                       const char **msg, size_t *msg_len);

/*
 * Splits a decrypted, still padded FullStr (len bytes; the tail of
 * tk_wxcrypt_decrypt, exposed for tests and fuzzing): checks the PKCS#7(32)
 * padding, the length prefix against the bounds and the appid. On success
 * *msg / *msg_len give the message inside plain (not NUL-terminated).
 * Returns 0, -EBADMSG or -EACCES as above.
 */
int tk_wxcrypt_unpack(const unsigned char *plain, size_t len,
                      const char *appid, const unsigned char **msg,
                      size_t *msg_len);

/*
 * Encrypts msg for appid with key and appends the base64 Encrypt text to
 * out (no allocation besides growing out). random is the 16-byte prefix;
 * NULL draws fresh random bytes (tests pass fixed ones for determinism).
 * Returns 0, or -E2BIG when msg_len does not fit the 32-bit length prefix.
 */
int tk_wxcrypt_encrypt(const unsigned char key[TK_WXCRYPT_KEY_LEN],
                       const unsigned char *random, const char *msg,
                       size_t msg_len, const char *appid, struct tk_buf *out);

#endif
