/* Unit tests for the WeChat protocol: the WECHAT.md section 5 vectors,
 * verification of GET and POST in every mode, key rotation, replies and
 * the dedupe key. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arena.h"
#include "buf.h"
#include "conf.h"
#include "crypto.h"
#include "util.h"
#include "wechat.h"
#include "xml.h"

#define KEY_A "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define KEY_ABC "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

/* D1: official safe-mode example (JSON message, same crypto). */
#define D1_ENCRYPT                                                            \
    "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4" \
    "RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4" \
    "yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8" \
    "EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebuf" \
    "Alr7F9mFUPAJGj04="
#define D1_MSG                                                                \
    "{\"ToUserName\":\"gh_97417a04a28d\",\"FromUserName\":\"o9AgO5Kd5ggOC-bX" \
    "rbNODIiE3bGY\",\"CreateTime\":1714112445,\"MsgType\":\"event\",\"Event" \
    "\":\"debug_demo\",\"debug_str\":\"hello world\"}"

/* D2: official third-party-platform example, XML body, safe mode. */
#define D2_ENCRYPT                                                            \
    "D7yzvUNAL930rd28wf21s4hvXhz0L6Uit/p2Di6C5DHyYGpEgdBRnKjBec34JwoQXicwaZC" \
    "7fOVihW80F4VtsdvE//1vr7oAbqjDv8KenVp+ajKYpJnyQ4zMRhIC+a31fCVOMC03FfzV/Q" \
    "uC94kBP55a+Za3sJgvAn+ZbsNqZI5DkyuzkhQN8OBqCzFhizGmy0xpM0MEA4agpvE+RuNO1" \
    "rhHTtuJB5yltw1FiYzecSXJ+y/D2r81VkRn2eYjh2ltsoyfbDR7Is6ookXIFxTfyeNyeHxM" \
    "eT4KN5WpCDmSbTcUYrbBUlkGLJ9n/rU8YOywma6G7aTb7KZKOqCxgfoUlYEZPk4FUL/TK7S" \
    "hriFDMVCLyjQJ15Ob++agDWtcxhfUfe6HIoIpRW8mKNBQiY/Jd1svvuskA1wLef1RTtzKfM" \
    "pagSCX/laZINmdnX4zrF6kIaR9P4xQrWXbsTFHTYe0Mg=="
#define D2_BODY                                                               \
    "<xml>\n    <ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>\n    "   \
    "<Encrypt><![CDATA[" D2_ENCRYPT "]]></Encrypt>\n</xml>"

/* D3: official Python sample, compatibility-mode body. */
#define D3_ENCRYPT                                                            \
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87" \
    "wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE3" \
    "28HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTj" \
    "g3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0" \
    "VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ" \
    "4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
#define D3_BODY                                                               \
    "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName>" \
    "<![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName><CreateTime>1409" \
    "735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA" \
    "[abcdteT]]></Content><MsgId>6054768590064713728</MsgId><Encrypt><![CDAT" \
    "A[" D3_ENCRYPT "]]></Encrypt></xml>"

/* N7 (pad = 32) and N8 (length prefix 0xffffffff). */
#define N7_ENCRYPT                                                            \
    "uMMzGtqcnpOzXOYBwDQNrbC0P0gaQn7J0pFbfSn6xkk2QxbaNq0Hodw9JDIFctE1oISK3xU" \
    "rMqLevFEp9g5IKcXGy4T/1Uwca2SyocstCHZlkXSlXNS4gILJE406Kiz7"
#define N8_ENCRYPT                                                            \
    "uMMzGtqcnpOzXOYBwDQNrT3CDRZUC74vSVweWLplfRP0FJSI6h3vDs0mllvcXiwAW49bqmT" \
    "afxvfqhH1vQfhgQ=="

#define TEXT_BODY                                                             \
    "<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA" \
    "[oUser1]]></FromUserName><CreateTime>1714037059</CreateTime><MsgType><!" \
    "[CDATA[text]]></MsgType><Content><![CDATA[抢票 concert]]></Content><Msg" \
    "Id>1234567890123456</MsgId></xml>"

static struct tk_arena arena;

static int
setup(void **state)
{
    (void)state;
    tk_arena_init(&arena, 16384);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    tk_arena_release(&arena);
    return 0;
}

/* A protocol context without going through a config file. */
static void
wx_make(struct tk_wx *wx, const char *token, const char *appid,
        const char *key, const char *prev)
{
    memset(wx, 0, sizeof(*wx));
    tk_strlcpy(wx->token, token, sizeof(wx->token));
    tk_strlcpy(wx->appid, appid, sizeof(wx->appid));
    if (key != NULL) {
        assert_int_equal(
            tk_wxcrypt_key_decode(key, strlen(key), wx->keys[wx->nkeys]), 0);
        wx->nkeys++;
    }
    if (prev != NULL) {
        assert_int_equal(
            tk_wxcrypt_key_decode(prev, strlen(prev), wx->keys[wx->nkeys]),
            0);
        wx->nkeys++;
    }
    wx->max_clock_skew = 300;
}

static void
sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[TK_SHA256_LEN];

    tk_sha256(p, n, md);
    tk_hex(md, sizeof(md), out);
}

static void
sig3(const char *a, const char *b, const char *c, const char *want)
{
    const char *parts[3] = {a, b, c};
    char got[TK_SHA1_HEX_LEN + 1];

    tk_wx_signature(parts, 3, got);
    assert_string_equal(got, want);
}

static void
test_signature_vectors(void **state)
{
    (void)state;
    sig3("AAAAA", "1714036504", "1514711492",
         "f464b24fc39322e44b38aa78f5edd27bd1441696"); /* S1 */
    sig3("AAAAA", "1714037059", "486452656",
         "899cf89e464efb63f54ddac96b0a0a235f53aa78"); /* S2 */
    sig3("AAAAA", "1714112445", "415670741",
         "6c5c811b55cc85e0e1b54100749188c20beb3f5d"); /* S3 */
    sig3("AAAAA", "1715943329", "1590219412",
         "cc0c594499c1634947d5b502f158ee518947db27"); /* S4 */
    sig3("spamtest", "1409735669", "1320562132",
         "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a"); /* S7 */
    sig3("789", "456", "123", "f7c3bc1d808e04732adf679965ccc34ca7ae3441");
    {
        /* D1's 4-value msg_signature, Encrypt sorting first ('+'). */
        const char *p[4] = {"AAAAA", "1714112445", "415670741", D1_ENCRYPT};
        char got[TK_SHA1_HEX_LEN + 1];

        tk_wx_signature(p, 4, got);
        assert_string_equal(got, "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3");
    }
}

static void
test_key_decode(void **state)
{
    static const struct {
        const char *enc, *hex;
    } v[] = {
        {KEY_A, "0000000000000000000000000000000000000000000000000000000000"
                "000000"},
        {KEY_ABC, "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d00"
                  "10831051"},
        {"AdiqDDDvUNCeE1ZW5XJmjf9fqNBJpGBs4vL4cHKmHBS",
         "01d8aa0c30ef50d09e135656e572668dff5fa8d049a4606ce2f2f87072a61c14"},
        {"kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
         "916c4f115d94103cb15a998f74a0b71787603c398ebdf297d471a71140d2d5a4"},
        {"jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
         "8d69989bbaabe67328014c194631ad0719b3dca035b64023df292447aab60760"},
    };
    unsigned char key[TK_WXCRYPT_KEY_LEN];
    char hex[2 * TK_WXCRYPT_KEY_LEN + 1];

    (void)state;
    for (size_t i = 0; i < TK_ARRAY_SIZE(v); i++) { /* N6 */
        assert_int_equal(tk_wxcrypt_key_decode(v[i].enc, 43, key), 0);
        tk_hex(key, sizeof(key), hex);
        assert_string_equal(hex, v[i].hex);
    }
    assert_int_equal(tk_wxcrypt_key_decode(KEY_A, 42, key), -EINVAL);
    assert_int_equal(tk_wxcrypt_key_decode(KEY_A "A", 44, key), -EINVAL);
    assert_int_equal(
        tk_wxcrypt_key_decode("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+",
                              43, key),
        -EINVAL);
}

/* Decrypts b64 with the encoded key for appid; returns the rc. */
static int
decrypt(const char *enckey, const char *b64, const char *appid,
        const char **msg, size_t *msg_len)
{
    unsigned char key[TK_WXCRYPT_KEY_LEN];
    size_t size = TK_WXCRYPT_DECRYPT_SIZE(strlen(b64));
    unsigned char *out = tk_arena_alloc(&arena, size);

    assert_int_equal(tk_wxcrypt_key_decode(enckey, 43, key), 0);
    return tk_wxcrypt_decrypt(key, b64, strlen(b64), appid, out, size, msg,
                              msg_len);
}

static void
test_decrypt_vectors(void **state)
{
    const char *msg;
    size_t n;
    char h[65];

    (void)state;
    /* D1: pad 19, which OpenSSL's own (16-byte) unpadding rejects. */
    assert_int_equal(decrypt(KEY_A, D1_ENCRYPT, "wxba5fad812f8e6fb9", &msg,
                             &n),
                     0);
    assert_int_equal(n, 167);
    assert_string_equal(msg, D1_MSG);
    assert_memory_equal(msg - 20, "a8eedb185eb2fecf", 16);
    sha256_hex(msg, n, h);
    assert_string_equal(
        h, "b8cdb59cbc11acd1fb47e01fd913bf41ea801ed121b35dc87b97d5b56f3282e4");

    /* D2: pad 22. */
    assert_int_equal(decrypt(KEY_A, D2_ENCRYPT, "wx134c8103faa5a59e", &msg,
                             &n),
                     0);
    assert_int_equal(n, 292);
    assert_memory_equal(msg - 20, "1205899eaf019bbd", 16);
    sha256_hex(msg, n, h);
    assert_string_equal(
        h, "6acfa42906e8f4b707cccdfefc91e5ca287ec7929446cad00ef6dc41e9f53340");

    /* D3: pad 2, non-canonical key. */
    assert_int_equal(decrypt(KEY_ABC, D3_ENCRYPT, "wx2c2769f8efd9abc2", &msg,
                             &n),
                     0);
    assert_int_equal(n, 280);
    assert_memory_equal(msg - 20, "89465c840c5f116f", 16);
    sha256_hex(msg, n, h);
    assert_string_equal(
        h, "9bcd3b10548815cb0e64c7d2c61906dbf44b15005cbf8961dd60bdc6a2411214");

    /* N7: a whole block of padding (32 x 0x20). */
    assert_int_equal(decrypt(KEY_A, N7_ENCRYPT, "wxba5fad812f8e6fb9", &msg,
                             &n),
                     0);
    assert_string_equal(msg, "{\"demo_resp\":\"good luck!\"}");
}

static void
test_decrypt_rejects(void **state)
{
    const char *msg;
    size_t n;
    unsigned char key[TK_WXCRYPT_KEY_LEN], small[16];

    (void)state;
    /* N8: length prefix 0xffffffff must be refused, never followed. */
    assert_int_equal(decrypt(KEY_A, N8_ENCRYPT, "wxba5fad812f8e6fb9", &msg,
                             &n),
                     -EBADMSG);
    /* Wrong key: the padding or the length prefix gives it away. */
    assert_int_equal(decrypt(KEY_ABC, D2_ENCRYPT, "wx134c8103faa5a59e", &msg,
                             &n),
                     -EBADMSG);
    /* Right key, other appid. */
    assert_int_equal(decrypt(KEY_A, D2_ENCRYPT, "wxba5fad812f8e6fb9", &msg,
                             &n),
                     -EACCES);
    assert_int_equal(decrypt(KEY_A, D2_ENCRYPT, "", &msg, &n), -EACCES);
    /* Not base64; not a multiple of 32 bytes; empty. */
    assert_int_equal(decrypt(KEY_A, "!!!!", "x", &msg, &n), -EINVAL);
    assert_int_equal(decrypt(KEY_A, "AAAAAAAAAAAAAAAAAAAAAA==", "x", &msg,
                             &n),
                     -EINVAL);
    assert_int_equal(decrypt(KEY_A, "", "x", &msg, &n), -EINVAL);
    /* Output buffer too small. */
    assert_int_equal(tk_wxcrypt_key_decode(KEY_A, 43, key), 0);
    assert_int_equal(tk_wxcrypt_decrypt(key, D2_ENCRYPT, strlen(D2_ENCRYPT),
                                        "wx134c8103faa5a59e", small,
                                        sizeof(small), &msg, &n),
                     -ENOSPC);
}

static void
test_unpack_bounds(void **state)
{
    unsigned char p[64];
    const unsigned char *msg;
    size_t n;

    (void)state;
    /* random(16) | be32 len | "ab" | "id" | pad 42 -> too much padding
     * for 32-byte blocks: refused. */
    memset(p, 0, sizeof(p));
    p[19] = 2;
    memcpy(p + 20, "abid", 4);
    memset(p + 24, 40, 40);
    assert_int_equal(tk_wxcrypt_unpack(p, 64, "id", &msg, &n), -EBADMSG);
    /* Pad 8 over 32 bytes; the 24 left are random | len | "ab" | "id". */
    memset(p + 24, 8, 8);
    assert_int_equal(tk_wxcrypt_unpack(p, 32, "id", &msg, &n), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(msg, "ab", 2);
    /* Unequal padding bytes, a zero pad, and a prefix one too long. */
    p[30] = 7;
    assert_int_equal(tk_wxcrypt_unpack(p, 32, "id", &msg, &n), -EBADMSG);
    p[30] = 8;
    p[31] = 0;
    assert_int_equal(tk_wxcrypt_unpack(p, 32, "id", &msg, &n), -EBADMSG);
    p[31] = 8;
    p[19] = 5;
    assert_int_equal(tk_wxcrypt_unpack(p, 32, "id", &msg, &n), -EBADMSG);
    p[19] = 4; /* "abid" as the message, no appid left */
    assert_int_equal(tk_wxcrypt_unpack(p, 32, "id", &msg, &n), -EACCES);
    assert_int_equal(tk_wxcrypt_unpack(p, 32, "", &msg, &n), 0);
    /* Shorter than random + length prefix. */
    memset(p, 16, 32);
    assert_int_equal(tk_wxcrypt_unpack(p, 32, "", &msg, &n), -EBADMSG);
    assert_int_equal(tk_wxcrypt_unpack(p, 0, "", &msg, &n), -EBADMSG);
}

static void
encrypt_is(const char *enckey, const char *random, const char *msg,
           const char *appid, const char *want)
{
    unsigned char key[TK_WXCRYPT_KEY_LEN];
    struct tk_buf b = TK_BUF_INIT;

    assert_int_equal(tk_wxcrypt_key_decode(enckey, 43, key), 0);
    assert_int_equal(tk_wxcrypt_encrypt(key, (const unsigned char *)random,
                                        msg, strlen(msg), appid, &b),
                     0);
    assert_string_equal(tk_buf_str(&b), want);
    tk_buf_release(&b);
}

static void
test_encrypt_vectors(void **state)
{
    (void)state;
    encrypt_is(KEY_A, "707722b803182950", "{\"demo_resp\":\"good luck\"}",
               "wxba5fad812f8e6fb9",
               "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC"
               "9nVHm48Y4hyRbtzve1L32tmxSQ=="); /* E1 */
    encrypt_is(KEY_ABC, "aaaabbbbccccdddd", "我是中文abcd123",
               "wxb11529c136998cb6",
               "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K5"
               "5bgVtVzd832WzZGMhkP72vVOfg=="); /* E2 */
    encrypt_is(KEY_A, "0123456789abcdef", "{\"demo_resp\":\"good luck!\"}",
               "wxba5fad812f8e6fb9", N7_ENCRYPT); /* N7, pad 32 */
}

static void
test_encrypt_round_trip(void **state)
{
    unsigned char key[TK_WXCRYPT_KEY_LEN];
    struct tk_buf b = TK_BUF_INIT, m = TK_BUF_INIT;
    const char *msg;
    size_t n;

    (void)state;
    assert_int_equal(tk_wxcrypt_key_decode(KEY_ABC, 43, key), 0);
    /* Every padding length 1..32 and the 48-byte streaming seams. */
    for (size_t len = 0; len < 200; len++) {
        tk_buf_reset(&b);
        tk_buf_reset(&m);
        for (size_t i = 0; i < len; i++) {
            tk_buf_addc(&m, (char)('a' + i % 26));
        }
        assert_int_equal(tk_wxcrypt_encrypt(key, NULL, tk_buf_str(&m), len,
                                            "wx0123", &b),
                         0);
        assert_int_equal(decrypt(KEY_ABC, tk_buf_str(&b), "wx0123", &msg, &n),
                         0);
        assert_int_equal(n, len);
        assert_memory_equal(msg, tk_buf_str(&m), len);
    }
    tk_buf_release(&b);
    tk_buf_release(&m);
}

/*
 * tk_random_bytes: fresh bytes on every call, across its buffer's refills
 * and for large requests, and never the same bytes in a parent and its
 * forked child (the buffer is per thread and survives fork()).
 */
static void
test_random_bytes(void **state)
{
    unsigned char a[16], b[16], big[300], zero[300] = {0};
    int fds[2];
    pid_t pid;
    int status;

    (void)state;
    tk_random_bytes(a, sizeof(a));
    tk_random_bytes(b, sizeof(b));
    assert_memory_not_equal(a, b, sizeof(a));
    for (size_t n = 1; n <= 200; n++) { /* 20,100 bytes: many refills */
        tk_random_bytes(big, n);
    }
    tk_random_bytes(big, sizeof(big)); /* past the buffer: RAND_bytes */
    assert_memory_not_equal(big, zero, sizeof(big));

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        tk_random_bytes(b, sizeof(b));
        _exit(write(fds[1], b, sizeof(b)) == (ssize_t)sizeof(b) ? 0 : 1);
    }
    tk_random_bytes(a, sizeof(a));
    assert_int_equal(read(fds[0], b, sizeof(b)), sizeof(b));
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_memory_not_equal(a, b, sizeof(a));
    close(fds[0]);
    close(fds[1]);
}

static void
test_get(void **state)
{
    struct tk_wx wx;
    struct tk_wx_query q = {
        .signature = "f464b24fc39322e44b38aa78f5edd27bd1441696",
        .timestamp = "1714036504",
        .nonce = "1514711492",
        .echostr = "4375120948345356249",
    };

    (void)state;
    wx_make(&wx, "AAAAA", "wxba5fad812f8e6fb9", NULL, NULL);
    assert_int_equal(tk_wx_verify_get(&wx, &q, 1714036504), TK_WX_OK);
    /* Upper-case hex is accepted (compared after lowering). */
    q.signature = "F464B24FC39322E44B38AA78F5EDD27BD1441696";
    assert_int_equal(tk_wx_verify_get(&wx, &q, 1714036504), TK_WX_OK);
    /* Stale: 301 s late with a 300 s window; fine with the check off. */
    assert_int_equal(tk_wx_verify_get(&wx, &q, 1714036504 + 301),
                     TK_WX_ERR_STALE);
    assert_int_equal(tk_wx_verify_get(&wx, &q, 1714036504 - 301),
                     TK_WX_ERR_STALE);
    wx.max_clock_skew = 0;
    assert_int_equal(tk_wx_verify_get(&wx, &q, 1), TK_WX_OK);
    q.signature = "f464b24fc39322e44b38aa78f5edd27bd1441697";
    assert_int_equal(tk_wx_verify_get(&wx, &q, 1714036504),
                     TK_WX_ERR_SIGNATURE);
    q.signature = "f464b24fc39322e44b38aa78f5edd27bd144169";
    assert_int_equal(tk_wx_verify_get(&wx, &q, 1714036504),
                     TK_WX_ERR_SIGNATURE);
    q.signature = NULL;
    assert_int_equal(tk_wx_verify_get(&wx, &q, 1714036504),
                     TK_WX_ERR_MALFORMED);
    q.signature = "f464b24fc39322e44b38aa78f5edd27bd1441696";
    q.echostr = NULL;
    assert_int_equal(tk_wx_verify_get(&wx, &q, 1714036504),
                     TK_WX_ERR_MALFORMED);
    q.echostr = "1";
    q.timestamp = "-1714036504";
    assert_int_equal(tk_wx_verify_get(&wx, &q, 1714036504),
                     TK_WX_ERR_MALFORMED);
    q.timestamp = "99999999999999999999999";
    assert_int_equal(tk_wx_verify_get(&wx, &q, 1714036504),
                     TK_WX_ERR_MALFORMED);
    assert_int_equal(tk_wx_status_http(TK_WX_ERR_MALFORMED), 400);
    assert_int_equal(tk_wx_status_http(TK_WX_ERR_SIGNATURE), 403);
    assert_int_equal(tk_wx_status_http(TK_WX_OK), 200);
    assert_string_equal(tk_wx_status_name(TK_WX_ERR_STALE), "stale");
}

static enum tk_wx_status
post(const struct tk_wx *wx, const struct tk_wx_query *q, const char *body,
     int64_t now, struct tk_wx_inbound *in)
{
    return tk_wx_verify_post(wx, q, body, strlen(body), now, &arena, in);
}

static void
test_post_plaintext(void **state)
{
    struct tk_wx wx;
    struct tk_wx_inbound *in = tk_arena_alloc(&arena, sizeof(*in));
    struct tk_wx_query q = {
        .signature = "899cf89e464efb63f54ddac96b0a0a235f53aa78", /* S2 */
        .timestamp = "1714037059",
        .nonce = "486452656",
    };

    (void)state;
    wx_make(&wx, "AAAAA", "wxba5fad812f8e6fb9", KEY_A, NULL);
    assert_int_equal(post(&wx, &q, TEXT_BODY, 1714037059, in), TK_WX_OK);
    assert_int_equal(in->mode, TK_WX_MODE_PLAIN);
    assert_string_equal(in->msg.content, "抢票 concert");
    assert_string_equal(in->msg.from_user, "oUser1");
    assert_string_equal(in->nonce, "486452656");
    q.encrypt_type = "raw";
    assert_int_equal(post(&wx, &q, TEXT_BODY, 1714037059, in), TK_WX_OK);
    q.encrypt_type = "rot13";
    assert_int_equal(post(&wx, &q, TEXT_BODY, 1714037059, in),
                     TK_WX_ERR_MALFORMED);
    q.encrypt_type = NULL;
    /* The signature is checked before the body is even parsed. */
    q.signature = "0000000000000000000000000000000000000000";
    assert_int_equal(post(&wx, &q, "garbage", 1714037059, in),
                     TK_WX_ERR_SIGNATURE);
    q.signature = NULL;
    assert_int_equal(post(&wx, &q, TEXT_BODY, 1714037059, in),
                     TK_WX_ERR_MALFORMED);
    q.signature = "899cf89e464efb63f54ddac96b0a0a235f53aa78";
    assert_int_equal(post(&wx, &q, "garbage", 1714037059, in),
                     TK_WX_ERR_MALFORMED);
    assert_int_equal(post(&wx, &q, "", 1714037059, in), TK_WX_ERR_MALFORMED);
    assert_int_equal(post(&wx, &q, TEXT_BODY, 1714037059 + 1000, in),
                     TK_WX_ERR_STALE);
    /* ToUserName must be the configured original id when one is set. */
    tk_strlcpy(wx.original_id, "gh_other", sizeof(wx.original_id));
    assert_int_equal(post(&wx, &q, TEXT_BODY, 1714037059, in),
                     TK_WX_ERR_RECIPIENT);
    tk_strlcpy(wx.original_id, "gh_test", sizeof(wx.original_id));
    assert_int_equal(post(&wx, &q, TEXT_BODY, 1714037059, in), TK_WX_OK);
    /* require_encryption refuses plaintext, signed or not. */
    wx.require_encryption = true;
    assert_int_equal(post(&wx, &q, TEXT_BODY, 1714037059, in),
                     TK_WX_ERR_PLAINTEXT);
    assert_int_equal(tk_wx_status_http(TK_WX_ERR_PLAINTEXT), 403);
}

static void
test_post_safe_mode(void **state)
{
    struct tk_wx wx;
    struct tk_wx_inbound *in = tk_arena_alloc(&arena, sizeof(*in));
    struct tk_wx_query q = {
        .signature = "cc0c594499c1634947d5b502f158ee518947db27", /* S4 */
        .timestamp = "1715943329",
        .nonce = "1590219412",
        .encrypt_type = "aes",
        .msg_signature = "6c12a4205838198b8fa631b3220723bb07f1015c",
    };
    char *bad;

    (void)state;
    wx_make(&wx, "AAAAA", "wx134c8103faa5a59e", KEY_A, NULL);
    wx.require_encryption = true;
    tk_strlcpy(wx.original_id, "gh_97417a04a28d", sizeof(wx.original_id));
    assert_int_equal(post(&wx, &q, D2_BODY, 1715943329, in), TK_WX_OK);
    assert_int_equal(in->mode, TK_WX_MODE_SAFE);
    assert_int_equal(in->key_index, 0);
    assert_string_equal(in->msg.from_user, "o9AgO5Kd5ggOC-bXrbNODIiE3bGY");
    assert_string_equal(in->msg.msg_type, "event");
    assert_string_equal(in->msg.event, "debug_demo");
    assert_int_equal(in->msg.create_time, 1715943329);
    assert_null(in->msg.encrypt);

    /* N4: one character of Encrypt changed. */
    bad = tk_arena_strdup(&arena, D2_BODY);
    *strstr(bad, "D7yz") = 'E';
    assert_int_equal(post(&wx, &q, bad, 1715943329, in),
                     TK_WX_ERR_SIGNATURE);
    /* Only msg_signature counts in encrypted mode. */
    q.msg_signature = NULL;
    assert_int_equal(post(&wx, &q, D2_BODY, 1715943329, in),
                     TK_WX_ERR_MALFORMED);
    q.msg_signature = "6c12a4205838198b8fa631b3220723bb07f1015c";
    q.signature = NULL;
    assert_int_equal(post(&wx, &q, D2_BODY, 1715943329, in), TK_WX_OK);
    /* encrypt_type=aes but no Encrypt element. */
    assert_int_equal(post(&wx, &q, TEXT_BODY, 1715943329, in),
                     TK_WX_ERR_MALFORMED);
    /* Signature fine but stale. */
    assert_int_equal(post(&wx, &q, D2_BODY, 1715943329 + 301, in),
                     TK_WX_ERR_STALE);
    /* Appid mismatch. */
    tk_strlcpy(wx.appid, "wxba5fad812f8e6fb9", sizeof(wx.appid));
    assert_int_equal(post(&wx, &q, D2_BODY, 1715943329, in),
                     TK_WX_ERR_APPID);
    /* No key configured at all. */
    tk_strlcpy(wx.appid, "wx134c8103faa5a59e", sizeof(wx.appid));
    wx.nkeys = 0;
    assert_int_equal(post(&wx, &q, D2_BODY, 1715943329, in),
                     TK_WX_ERR_NO_KEY);
}

static void
test_post_encrypt_detected_from_body(void **state)
{
    struct tk_wx wx;
    struct tk_wx_inbound *in = tk_arena_alloc(&arena, sizeof(*in));
    /* No encrypt_type, but the body carries Encrypt: still encrypted. */
    struct tk_wx_query q = {
        .signature = "cc0c594499c1634947d5b502f158ee518947db27",
        .timestamp = "1715943329",
        .nonce = "1590219412",
        .msg_signature = "6c12a4205838198b8fa631b3220723bb07f1015c",
    };

    (void)state;
    wx_make(&wx, "AAAAA", "wx134c8103faa5a59e", KEY_A, NULL);
    assert_int_equal(post(&wx, &q, D2_BODY, 1715943329, in), TK_WX_OK);
    assert_int_equal(in->mode, TK_WX_MODE_SAFE);
    /* require_encryption is satisfied by the body alone, too. */
    wx.require_encryption = true;
    assert_int_equal(post(&wx, &q, D2_BODY, 1715943329, in), TK_WX_OK);
    assert_int_equal(post(&wx, &q, TEXT_BODY, 1715943329, in),
                     TK_WX_ERR_PLAINTEXT);
    q.msg_signature = NULL;
    assert_int_equal(post(&wx, &q, D2_BODY, 1715943329, in),
                     TK_WX_ERR_MALFORMED);
}

static void
test_post_compat_mode(void **state)
{
    struct tk_wx wx;
    struct tk_wx_inbound *in = tk_arena_alloc(&arena, sizeof(*in));
    struct tk_wx_query q = {
        .signature = "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a", /* S7 */
        .timestamp = "1409735669",
        .nonce = "1320562132",
        .encrypt_type = "aes",
        .msg_signature = "5d197aaffba7e9b25a30732f161a50dee96bd5fa",
    };

    (void)state;
    wx_make(&wx, "spamtest", "wx2c2769f8efd9abc2", KEY_ABC, NULL);
    assert_int_equal(post(&wx, &q, D3_BODY, 1409735669, in), TK_WX_OK);
    assert_int_equal(in->mode, TK_WX_MODE_COMPAT);
    assert_string_equal(in->msg.content, "abcdteT");
    assert_string_equal(in->msg.msg_id, "6054768590064713728");
    assert_string_equal(in->msg.to_user, "gh_10f6c3c3ac5a");
    assert_int_equal(in->msg.create_time, 1409735668);
}

static void
test_post_d1_json_and_n8(void **state)
{
    struct tk_wx wx;
    struct tk_wx_inbound *in = tk_arena_alloc(&arena, sizeof(*in));
    struct tk_wx_query q = {
        .timestamp = "1714112445",
        .nonce = "415670741",
        .encrypt_type = "aes",
        .msg_signature = "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3",
    };
    const char *d1 = "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserN"
                     "ame><Encrypt><![CDATA[" D1_ENCRYPT "]]></Encrypt></xml>";
    const char *n8 = "<xml><Encrypt>" N8_ENCRYPT "</Encrypt></xml>";

    (void)state;
    wx_make(&wx, "AAAAA", "wxba5fad812f8e6fb9", KEY_A, NULL);
    /* D1 authenticates and decrypts, but JSON is not a message here. */
    assert_int_equal(post(&wx, &q, d1, 1714112445, in), TK_WX_ERR_MALFORMED);
    /* N8: signed, but the length prefix overflows: refused. */
    q.msg_signature = "0da3b14c452d81277f64018852d443c4da3ece38";
    assert_int_equal(post(&wx, &q, n8, 1714112445, in), TK_WX_ERR_DECRYPT);
}

static void
test_key_rotation(void **state)
{
    struct tk_wx wx;
    struct tk_wx_inbound *in = tk_arena_alloc(&arena, sizeof(*in));
    struct tk_wx_query q = {
        .timestamp = "1715943329",
        .nonce = "1590219412",
        .encrypt_type = "aes",
        .msg_signature = "6c12a4205838198b8fa631b3220723bb07f1015c",
    };
    static const unsigned char rnd[16] = "0123456789abcdef";
    struct tk_buf reply = TK_BUF_INIT, env = TK_BUF_INIT;
    struct tk_wx_msg *back = tk_arena_alloc(&arena, sizeof(*back));
    const char *msg;
    size_t n;
    char want[TK_SHA1_HEX_LEN + 1], *p, *e;

    (void)state;
    /* Current key is new; D2 was encrypted with the previous one. */
    wx_make(&wx, "AAAAA", "wx134c8103faa5a59e", KEY_ABC, KEY_A);
    assert_int_equal(post(&wx, &q, D2_BODY, 1715943329, in), TK_WX_OK);
    assert_int_equal(in->key_index, 1);
    /* The reply goes out under the key that worked. */
    assert_int_equal(tk_wx_reply_text(&reply, &in->msg, 1715943330, "hi"), 0);
    assert_int_equal(tk_wx_reply_seal(&wx, in, reply.data, reply.len,
                                      1715943330, rnd, &env),
                     0);
    assert_int_equal(tk_xml_parse(env.data, env.len, back, &arena), 0);
    assert_non_null(back->encrypt);
    assert_int_equal(decrypt(KEY_A, back->encrypt, "wx134c8103faa5a59e", &msg,
                             &n),
                     0);
    assert_memory_equal(msg, reply.data, reply.len);
    assert_int_not_equal(decrypt(KEY_ABC, back->encrypt,
                                 "wx134c8103faa5a59e", &msg, &n),
                         0);
    /* And its MsgSignature verifies with TimeStamp and the echoed Nonce. */
    {
        const char *parts[4] = {"AAAAA", "1715943330", "1590219412",
                                back->encrypt};

        tk_wx_signature(parts, 4, want);
    }
    p = strstr(env.data, "<MsgSignature><![CDATA[");
    assert_non_null(p);
    p += strlen("<MsgSignature><![CDATA[");
    e = strstr(p, "]]>");
    assert_int_equal(e - p, 40);
    assert_memory_equal(p, want, 40);
    assert_non_null(strstr(env.data, "<TimeStamp>1715943330</TimeStamp>"));
    assert_non_null(strstr(env.data, "<Nonce><![CDATA[1590219412]]></Nonce>"));
    /* Neither key works: decrypt error, not appid. */
    wx_make(&wx, "AAAAA", "wx134c8103faa5a59e", KEY_ABC,
            "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C");
    assert_int_equal(post(&wx, &q, D2_BODY, 1715943329, in),
                     TK_WX_ERR_DECRYPT);
    tk_buf_release(&reply);
    tk_buf_release(&env);
}

static void
test_envelope_e1(void **state)
{
    struct tk_wx wx;
    struct tk_buf b = TK_BUF_INIT;
    const char *msg = "{\"demo_resp\":\"good luck\"}";

    (void)state;
    wx_make(&wx, "AAAAA", "wxba5fad812f8e6fb9", KEY_A, NULL);
    assert_int_equal(tk_wx_envelope(&wx, 0, msg, strlen(msg), 1713424427,
                                    "415670741",
                                    (const unsigned char *)"707722b803182950",
                                    &b),
                     0);
    assert_string_equal(
        tk_buf_str(&b),
        "<xml><Encrypt><![CDATA[ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5"
        "sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ==]]></Encrypt><MsgSignat"
        "ure><![CDATA[1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1]]></MsgSignat"
        "ure><TimeStamp>1713424427</TimeStamp><Nonce><![CDATA[415670741]]></"
        "Nonce></xml>");
    /* A key index that is not configured. */
    assert_int_equal(tk_wx_envelope(&wx, 1, msg, strlen(msg), 1, "1", NULL,
                                    &b),
                     -EINVAL);
    tk_buf_release(&b);
}

static void
test_seal_plaintext_passes_through(void **state)
{
    struct tk_wx wx;
    struct tk_wx_inbound *in = tk_arena_calloc(&arena, sizeof(*in));
    struct tk_buf b = TK_BUF_INIT;

    (void)state;
    wx_make(&wx, "AAAAA", "wx1", NULL, NULL);
    in->mode = TK_WX_MODE_PLAIN;
    assert_int_equal(tk_wx_reply_seal(&wx, in, "<xml/>", 6, 1, NULL, &b), 0);
    assert_string_equal(tk_buf_str(&b), "<xml/>");
    tk_buf_release(&b);
}

static void
test_reply_text(void **state)
{
    struct tk_wx_msg *m = tk_arena_calloc(&arena, sizeof(*m));
    struct tk_wx_msg *back = tk_arena_alloc(&arena, sizeof(*back));
    struct tk_buf b = TK_BUF_INIT;

    (void)state;
    tk_strlcpy(m->to_user, "gh_acc", sizeof(m->to_user));
    tk_strlcpy(m->from_user, "oUser", sizeof(m->from_user));
    assert_int_equal(tk_wx_reply_text(&b, m, 1700000000, "你好"), 0);
    assert_string_equal(
        tk_buf_str(&b),
        "<xml><ToUserName><![CDATA[oUser]]></ToUserName><FromUserName><![CDA"
        "TA[gh_acc]]></FromUserName><CreateTime>1700000000</CreateTime><MsgT"
        "ype><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content></"
        "xml>");
    /* "]]>" is split across CDATA sections and survives a round trip. */
    tk_buf_reset(&b);
    assert_int_equal(tk_wx_reply_text(&b, m, 1, "a]]>b]]>]]>"), 0);
    assert_non_null(strstr(b.data, "<![CDATA[a]]]]><![CDATA[>b]]]]><![CDATA"
                                   "[>]]]]><![CDATA[>]]></Content>"));
    assert_int_equal(tk_xml_parse(b.data, b.len, back, &arena), 0);
    assert_string_equal(back->content, "a]]>b]]>]]>");
    assert_string_equal(back->to_user, "oUser");
    /* A CR the user sent (as &#xD;) reaches WeChat as LF: XML line-end
     * normalisation applies inside CDATA too. Found by fuzz_xml. */
    assert_int_equal(tk_xml_parse("<xml><Content>a&#xD;&#xA;b&#xD;</Content>"
                                  "</xml>", 47, back, &arena),
                     0);
    assert_string_equal(back->content, "a\r\nb\r");
    tk_buf_reset(&b);
    assert_int_equal(tk_wx_reply_text(&b, m, 1, back->content), 0);
    assert_int_equal(tk_xml_parse(b.data, b.len, back, &arena), 0);
    assert_string_equal(back->content, "a\nb\n");
    /* Invalid UTF-8 is refused and leaves out unchanged. */
    tk_buf_reset(&b);
    tk_buf_adds(&b, "keep");
    assert_int_equal(tk_wx_reply_text(&b, m, 1, "\xff"), -EINVAL);
    assert_string_equal(tk_buf_str(&b), "keep");
    tk_buf_release(&b);
}

static void
test_reply_truncates_on_utf8_boundary(void **state)
{
    struct tk_wx_msg *m = tk_arena_calloc(&arena, sizeof(*m));
    struct tk_wx_msg *back = tk_arena_alloc(&arena, sizeof(*back));
    struct tk_buf b = TK_BUF_INIT, c = TK_BUF_INIT;

    (void)state;
    tk_strlcpy(m->from_user, "oUser", sizeof(m->from_user));
    /* 1999 ASCII bytes then a 3-byte character straddling 2000. */
    for (int i = 0; i < 1999; i++) {
        tk_buf_addc(&c, 'x');
    }
    tk_buf_adds(&c, "中文");
    assert_int_equal(tk_wx_reply_text(&b, m, 1, c.data), 0);
    assert_int_equal(tk_xml_parse(b.data, b.len, back, &arena), 0);
    assert_int_equal(strlen(back->content), 1999);
    /* Exactly 2000 bytes of 2-byte characters stays whole. */
    tk_buf_reset(&c);
    tk_buf_reset(&b);
    for (int i = 0; i < 1001; i++) {
        tk_buf_adds(&c, "é");
    }
    assert_int_equal(tk_wx_reply_text(&b, m, 1, c.data), 0);
    assert_int_equal(tk_xml_parse(b.data, b.len, back, &arena), 0);
    assert_int_equal(strlen(back->content), 2000);
    assert_true(tk_utf8_is_valid(back->content, 2000));
    tk_buf_release(&b);
    tk_buf_release(&c);
}

static void
test_reply_news(void **state)
{
    struct tk_wx_msg *m = tk_arena_calloc(&arena, sizeof(*m));
    struct tk_wx_msg *back = tk_arena_alloc(&arena, sizeof(*back));
    struct tk_wx_article a[9];
    struct tk_buf b = TK_BUF_INIT, longurl = TK_BUF_INIT;

    (void)state;
    tk_strlcpy(m->to_user, "gh_acc", sizeof(m->to_user));
    tk_strlcpy(m->from_user, "oUser", sizeof(m->from_user));
    for (size_t i = 0; i < 9; i++) {
        a[i] = (struct tk_wx_article){"抢票使用指南", "desc ]]> x", NULL,
                                      "https://t.example.edu/u/help"};
    }
    assert_int_equal(tk_wx_reply_news(&b, m, 5, a, 1), 0);
    assert_string_equal(
        tk_buf_str(&b),
        "<xml><ToUserName><![CDATA[oUser]]></ToUserName><FromUserName><![CDA"
        "TA[gh_acc]]></FromUserName><CreateTime>5</CreateTime><MsgType><![C"
        "DATA[news]]></MsgType><ArticleCount>1</ArticleCount><Articles><ite"
        "m><Title><![CDATA[抢票使用指南]]></Title><Description><![CDATA[desc"
        " ]]]]><![CDATA[> x]]></Description><PicUrl><![CDATA[]]></PicUrl><Ur"
        "l><![CDATA[https://t.example.edu/u/help]]></Url></item></Articles></"
        "xml>");
    /* The nested Articles are ignored by our own parser. */
    assert_int_equal(tk_xml_parse(b.data, b.len, back, &arena), 0);
    assert_string_equal(back->msg_type, "news");
    tk_buf_reset(&b);
    assert_int_equal(tk_wx_reply_news(&b, m, 5, a, 8), 0);
    tk_buf_reset(&b);
    assert_int_equal(tk_wx_reply_news(&b, m, 5, a, 9), -EINVAL);
    assert_int_equal(tk_wx_reply_news(&b, m, 5, a, 0), -EINVAL);
    for (int i = 0; i <= TK_URL_MAX; i++) {
        tk_buf_addc(&longurl, 'u');
    }
    a[3].url = longurl.data;
    assert_int_equal(tk_wx_reply_news(&b, m, 5, a, 8), -EINVAL);
    assert_int_equal(b.len, 0);
    tk_buf_release(&b);
    tk_buf_release(&longurl);
}

/* key is prefix + the SHA-1 hex of raw. */
static void
assert_hashed_key(const char *key, char prefix, const char *raw)
{
    char want[TK_SHA1_HEX_LEN + 1];

    assert_int_equal(strlen(key), 1 + TK_SHA1_HEX_LEN);
    assert_int_equal(key[0], prefix);
    tk_sha1_hex(raw, strlen(raw), want);
    assert_string_equal(key + 1, want);
}

static void
test_dedupe_key(void **state)
{
    struct tk_wx_msg *m = tk_arena_calloc(&arena, sizeof(*m));
    char k1[TK_WX_DEDUPE_KEY_MAX + 1], k2[TK_WX_DEDUPE_KEY_MAX + 1];

    (void)state;
    /* Messages: FromUserName|MsgId, hashed. */
    tk_strlcpy(m->from_user, "oUser", sizeof(m->from_user));
    tk_strlcpy(m->msg_id, "6054768590064713728", sizeof(m->msg_id));
    assert_int_equal(tk_wx_dedupe_key(m, k1), 41);
    assert_hashed_key(k1, 'm', "oUser|6054768590064713728");
    /* The same MsgId from another user is another message. */
    tk_strlcpy(m->from_user, "oOther", sizeof(m->from_user));
    tk_wx_dedupe_key(m, k2);
    assert_string_not_equal(k1, k2);
    /* Any bytes in the MsgId are fine: only hex reaches the key. */
    tk_strlcpy(m->msg_id, "a b*{x}", sizeof(m->msg_id));
    assert_int_equal(tk_wx_dedupe_key(m, k1), 41);
    assert_int_equal(strspn(k1 + 1, "0123456789abcdef"), 40);
    /* Events: FromUserName|CreateTime|Event|EventKey, hashed. */
    m->msg_id[0] = '\0';
    tk_strlcpy(m->from_user, "oUser", sizeof(m->from_user));
    tk_strlcpy(m->create_time_str, "123456789", sizeof(m->create_time_str));
    tk_strlcpy(m->event, "CLICK", sizeof(m->event));
    tk_strlcpy(m->event_key, "BOOKING_ACTIVITY_1", sizeof(m->event_key));
    assert_int_equal(tk_wx_dedupe_key(m, k1), 41);
    assert_hashed_key(k1, 'e', "oUser|123456789|CLICK|BOOKING_ACTIVITY_1");
    /* A second tap in the same second on another button differs. */
    tk_strlcpy(m->event_key, "BOOKING_ACTIVITY_2", sizeof(m->event_key));
    tk_wx_dedupe_key(m, k2);
    assert_string_not_equal(k1, k2);
}

static void
test_init_from_conf(void **state)
{
    struct tk_conf c;
    struct tk_wx wx;
    unsigned char key[TK_WXCRYPT_KEY_LEN];

    (void)state;
    tk_conf_defaults(&c);
    free(c.wechat.token);
    c.wechat.token = tk_xstrdup("AAAAA");
    free(c.wechat.appid);
    c.wechat.appid = tk_xstrdup("wx134c8103faa5a59e");
    free(c.wechat.aes_key);
    c.wechat.aes_key = tk_xstrdup(KEY_ABC);
    free(c.wechat.aes_key_previous);
    c.wechat.aes_key_previous = tk_xstrdup(KEY_A);
    c.wechat.require_encryption = true;
    assert_int_equal(tk_wx_init(&wx, &c), 0);
    assert_int_equal(wx.nkeys, 2);
    assert_true(wx.require_encryption);
    assert_int_equal(wx.max_clock_skew, c.wechat.max_clock_skew);
    assert_int_equal(tk_wxcrypt_key_decode(KEY_ABC, 43, key), 0);
    assert_memory_equal(wx.keys[0], key, sizeof(key));
    tk_wx_release(&wx);
    assert_int_equal(wx.nkeys, 0);
    /* A key that does not decode is refused. */
    free(c.wechat.aes_key);
    c.wechat.aes_key = tk_xstrdup("short");
    assert_int_equal(tk_wx_init(&wx, &c), -EINVAL);
    tk_wx_release(NULL);
    tk_conf_release(&c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature_vectors),
        cmocka_unit_test(test_key_decode),
        cmocka_unit_test(test_decrypt_vectors),
        cmocka_unit_test(test_decrypt_rejects),
        cmocka_unit_test(test_unpack_bounds),
        cmocka_unit_test(test_encrypt_vectors),
        cmocka_unit_test(test_encrypt_round_trip),
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_post_plaintext),
        cmocka_unit_test(test_post_safe_mode),
        cmocka_unit_test(test_post_encrypt_detected_from_body),
        cmocka_unit_test(test_post_compat_mode),
        cmocka_unit_test(test_post_d1_json_and_n8),
        cmocka_unit_test(test_key_rotation),
        cmocka_unit_test(test_envelope_e1),
        cmocka_unit_test(test_seal_plaintext_passes_through),
        cmocka_unit_test(test_reply_text),
        cmocka_unit_test(test_reply_truncates_on_utf8_boundary),
        cmocka_unit_test(test_reply_news),
        cmocka_unit_test(test_dedupe_key),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_init_from_conf),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
