/*
 * The WeChat official-account callback protocol (WECHAT.md), without any
 * I/O: URL verification, authentication and decryption of pushed
 * messages, reply building and the retry dedupe key. The HTTP layer parses
 * the query string and reads the body, calls these, and maps a
 * tk_wx_status to an HTTP status with tk_wx_status_http().
 *
 * Order of checks for a POST (WECHAT.md 6.3): signature, timestamp window,
 * decryption with the current then the previous key, appid, inner XML,
 * ToUserName. Nothing is logged here; the caller logs one line per refused
 * request with tk_wx_status_name().
 */
#ifndef TK_WECHAT_H
#define TK_WECHAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "xml.h"

struct tk_arena;
struct tk_buf;
struct tk_conf;

#define TK_WX_TOKEN_MAX 32
#define TK_WX_APPID_MAX 32
#define TK_WX_PARAM_MAX 128    /* timestamp, nonce, echostr... */
#define TK_WX_CONTENT_REPLY_MAX 2000 /* reply Content, UTF-8 bytes */
#define TK_WX_NEWS_MAX 8       /* articles in one news reply */
#define TK_WX_TITLE_MAX 192    /* article Title, bytes (truncated) */
#define TK_WX_DESC_MAX 1024    /* article Description, bytes (truncated) */
#define TK_WX_REPLY_MAX 32768  /* a whole plaintext reply, bytes */
#define TK_WX_DEDUPE_KEY_MAX 48 /* tk_wx_dedupe_key output, without NUL */

/* The literal body meaning "received, no reply" (needs no encryption). */
#define TK_WX_SUCCESS "success"

/* Immutable per-process protocol settings, built once from the config. */
struct tk_wx {
    char token[TK_WX_TOKEN_MAX + 1];
    char appid[TK_WX_APPID_MAX + 1];
    char original_id[TK_WX_USER_MAX + 1]; /* "" accepts any ToUserName */
    unsigned char keys[2][TK_WXCRYPT_KEY_LEN]; /* current, previous */
    int nkeys;                /* 0 (no aes_key), 1 or 2 */
    bool require_encryption;
    int max_clock_skew;       /* seconds; 0 disables the check */
};

/*
 * Fills wx from conf->wechat (token, appid, original_id, aes_key,
 * aes_key_previous, require_encryption, max_clock_skew). Returns 0, or
 * -EINVAL (logged, naming the option) when a value does not fit or an
 * EncodingAESKey does not decode. wx holds secrets: tk_wx_release().
 */
int tk_wx_init(struct tk_wx *wx, const struct tk_conf *conf);

/* Wipes the secrets in wx. NULL is fine. */
void tk_wx_release(struct tk_wx *wx);

/* Percent-decoded query parameters; NULL when absent. Borrowed. */
struct tk_wx_query {
    const char *signature;
    const char *timestamp;
    const char *nonce;
    const char *echostr;
    const char *encrypt_type;
    const char *msg_signature;
};

/* The verdict on a request. */
enum tk_wx_status {
    TK_WX_OK = 0,
    TK_WX_ERR_MALFORMED,  /* 400: parameter missing or invalid, bad XML,
                           * bad base64 or ciphertext length */
    TK_WX_ERR_TOO_LARGE,  /* 413: body over TK_XML_INPUT_MAX */
    TK_WX_ERR_SIGNATURE,  /* 403: signature / msg_signature mismatch */
    TK_WX_ERR_STALE,      /* 403: timestamp outside max_clock_skew */
    TK_WX_ERR_PLAINTEXT,  /* 403: plaintext POST, require_encryption set */
    TK_WX_ERR_NO_KEY,     /* 403: encrypted POST but no aes_key configured */
    TK_WX_ERR_DECRYPT,    /* 403: no configured key decrypts the message */
    TK_WX_ERR_APPID,      /* 403: decrypted, but for another appid */
    TK_WX_ERR_RECIPIENT,  /* 403: ToUserName is not wechat.original_id */
};

/* "ok", "malformed", "too_large", "signature", ... for logs and metrics. */
const char *tk_wx_status_name(enum tk_wx_status st);

/* The HTTP status to answer with: 200, 400, 403 or 413. */
int tk_wx_status_http(enum tk_wx_status st);

/*
 * URL verification (GET): needs signature, timestamp, nonce and echostr;
 * checks sha1(sorted token, timestamp, nonce) in constant time and the
 * timestamp window against now. TK_WX_OK means: answer 200 with exactly
 * the echostr bytes (text/plain).
 */
enum tk_wx_status tk_wx_verify_get(const struct tk_wx *wx,
                                   const struct tk_wx_query *q, int64_t now);

enum tk_wx_mode {
    TK_WX_MODE_PLAIN = 0,  /* 明文: signature only, body not covered */
    TK_WX_MODE_COMPAT = 1, /* 兼容: plaintext fields plus Encrypt */
    TK_WX_MODE_SAFE = 2,   /* 安全: Encrypt only */
};

/* An authenticated message and how to answer it. */
struct tk_wx_inbound {
    struct tk_wx_msg msg; /* the decrypted message in encrypted modes */
    enum tk_wx_mode mode;
    int key_index;        /* the key that decrypted it: reply with it */
    char nonce[TK_WX_PARAM_MAX + 1]; /* the request's nonce, for replies */
};

/*
 * A pushed message (POST). Mode: encrypted iff encrypt_type=aes or the
 * body has <Encrypt>; encrypt_type other than aes/raw is malformed.
 * Plaintext: needs signature (3 values, checked before the body is
 * parsed), refused when require_encryption.
 * Encrypted: needs msg_signature over (token, timestamp, nonce, Encrypt),
 * then tries the current key and the previous one. Both: the timestamp
 * window against now, and ToUserName when original_id is set.
 * arena receives transient copies (Encrypt text, decrypted bytes, wiped
 * before return); in->msg does not point into it except msg.encrypt.
 * Returns TK_WX_OK with *in filled, or the reason for refusing (*in is
 * then unspecified).
 */
enum tk_wx_status tk_wx_verify_post(const struct tk_wx *wx,
                                    const struct tk_wx_query *q,
                                    const char *body, size_t len,
                                    int64_t now, struct tk_arena *arena,
                                    struct tk_wx_inbound *in);

/* One article of a news reply; NULL fields are sent empty. Borrowed. */
struct tk_wx_article {
    const char *title;       /* truncated to TK_WX_TITLE_MAX bytes */
    const char *description; /* truncated to TK_WX_DESC_MAX bytes */
    const char *pic_url;     /* at most TK_URL_MAX bytes */
    const char *url;         /* at most TK_URL_MAX bytes */
};

/*
 * Appends a plaintext text reply to msg (To/From swapped) to out, with
 * CreateTime now. content is cut to TK_WX_CONTENT_REPLY_MAX bytes on a
 * UTF-8 boundary; "]]>" in any text is split across CDATA sections.
 * Returns 0 or -EINVAL (content not valid UTF-8; out unchanged).
 */
int tk_wx_reply_text(struct tk_buf *out, const struct tk_wx_msg *msg,
                     int64_t now, const char *content);

/*
 * Appends a news reply with n articles (1..TK_WX_NEWS_MAX) to out.
 * Returns 0, or -EINVAL (n out of range, a URL too long, text not UTF-8)
 * or -E2BIG (over TK_WX_REPLY_MAX); out is unchanged on error.
 */
int tk_wx_reply_news(struct tk_buf *out, const struct tk_wx_msg *msg,
                     int64_t now, const struct tk_wx_article *items,
                     size_t n);

/*
 * Appends the body to send for the plaintext reply xml (len bytes): xml
 * itself in plaintext mode, otherwise the envelope
 *   <xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>
 * encrypted with in->key_index, TimeStamp now and the request's nonce.
 * random: 16 bytes for the envelope, NULL for fresh ones (tests fix it).
 * Not for "success" or an empty body, which go out as they are.
 * Returns 0 or -E2BIG (xml over TK_WX_REPLY_MAX; out unchanged).
 */
int tk_wx_reply_seal(const struct tk_wx *wx, const struct tk_wx_inbound *in,
                     const char *xml, size_t len, int64_t now,
                     const unsigned char *random, struct tk_buf *out);

/*
 * Low-level: the encrypted envelope for xml with key index key, timestamp
 * and nonce (bounded by TK_WX_PARAM_MAX). Appends to out. Returns 0,
 * -EINVAL (key index not configured, nonce too long) or -E2BIG.
 */
int tk_wx_envelope(const struct tk_wx *wx, int key, const char *xml,
                   size_t len, int64_t timestamp, const char *nonce,
                   const unsigned char *random, struct tk_buf *out);

/*
 * The retry dedupe key of msg into out (TK_WX_DEDUPE_KEY_MAX + 1 bytes):
 * "m" + SHA-1 hex of FromUserName|MsgId, or "e" + SHA-1 hex of
 * FromUserName|CreateTime|Event|EventKey for events: a WeChat retry of a
 * message maps to its key, another user's message never does. Always
 * safe inside a Redis key. Returns the length.
 */
size_t tk_wx_dedupe_key(const struct tk_wx_msg *msg,
                        char out[TK_WX_DEDUPE_KEY_MAX + 1]);

/* sha1(sort(parts)) as lowercase hex: the signature of n (<= 4) strings. */
void tk_wx_signature(const char *const *parts, size_t n,
                     char out[TK_SHA1_HEX_LEN + 1]);

#endif
