/*
 * libFuzzer target: the AES envelope and the encrypted POST path. The
 * first byte picks what the rest is:
 *   0  an Encrypt value, posted with a correct msg_signature (so the
 *      whole path after the signature check runs on it)
 *   1  a decrypted, still padded FullStr for tk_wxcrypt_unpack
 *   2  a message: encrypt, post, decrypt; it must round-trip
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "crypto.h"
#include "util.h"
#include "wechat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define APPID "wxba5fad812f8e6fb9"

static struct tk_wx wx;
static struct tk_wx_inbound in;

static void
init(void)
{
    memset(&wx, 0, sizeof(wx));
    tk_strlcpy(wx.token, "AAAAA", sizeof(wx.token));
    tk_strlcpy(wx.appid, APPID, sizeof(wx.appid));
    if (tk_wxcrypt_key_decode("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
                              43, wx.keys[0]) < 0 ||
        tk_wxcrypt_key_decode("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                              43, wx.keys[1]) < 0) {
        abort();
    }
    wx.nkeys = 2;
    wx.require_encryption = true;
    wx.max_clock_skew = 300;
}

/* Posts enc (as the Encrypt text) with a valid msg_signature. */
static enum tk_wx_status
post(struct tk_arena *arena, struct tk_buf *body, const char *enc,
     size_t len)
{
    struct tk_wx_query q = {.timestamp = "1714112445", .nonce = "415670741",
                            .encrypt_type = "aes"};
    char *e = tk_arena_strndup(arena, enc, len);
    const char *parts[4] = {wx.token, q.timestamp, q.nonce, e};
    char sig[TK_SHA1_HEX_LEN + 1];

    tk_wx_signature(parts, 4, sig);
    q.msg_signature = sig;
    tk_buf_reset(body);
    tk_buf_adds(body, "<xml><Encrypt>");
    tk_buf_add_html(body, e);
    tk_buf_adds(body, "</Encrypt></xml>");
    return tk_wx_verify_post(&wx, &q, body->data, body->len, 1714112445,
                             arena, &in);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct tk_arena arena;
    static struct tk_buf body, enc;
    const unsigned char *m;
    const char *msg;
    unsigned char *out, rnd[TK_WXCRYPT_RANDOM_LEN] = {0};
    int key;
    size_t n;
    enum tk_wx_status st;

    if (size < 1 || size > TK_XML_INPUT_MAX / 2) {
        return 0;
    }
    if (arena.chunk_size == 0) {
        tk_arena_init(&arena, 1 << 16);
        init();
    }
    tk_arena_reset(&arena);
    memcpy(rnd, data, TK_MIN(size, sizeof(rnd)));
    key = data[0] & 4 ? 1 : 0;
    switch (data[0] % 3) {
    case 0:
        if (memchr(data + 1, '\0', size - 1) != NULL) {
            return 0;
        }
        post(&arena, &body, (const char *)data + 1, size - 1);
        break;
    case 1:
        if (tk_wxcrypt_unpack(data + 1, size - 1, APPID, &m, &n) == 0 &&
            (m < data + 1 || m + n > data + size)) {
            abort();
        }
        break;
    default:
        tk_buf_reset(&enc);
        if (tk_wxcrypt_encrypt(wx.keys[key], rnd, (const char *)data + 1,
                               size - 1, APPID, &enc) != 0) {
            abort();
        }
        n = TK_WXCRYPT_DECRYPT_SIZE(enc.len);
        out = tk_arena_alloc(&arena, n);
        if (tk_wxcrypt_decrypt(wx.keys[key], enc.data,
                               enc.len, APPID, out, n, &msg, &n) != 0 ||
            n != size - 1 || memcmp(msg, data + 1, n) != 0) {
            abort();
        }
        st = post(&arena, &body, enc.data, enc.len);
        /* Authenticated and decrypted: only the inner XML may fail. */
        if (st != TK_WX_OK && st != TK_WX_ERR_MALFORMED) {
            abort();
        }
        if (st == TK_WX_OK && in.key_index != key) {
            abort();
        }
        break;
    }
    return 0;
}
