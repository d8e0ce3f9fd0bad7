#include "wechat.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "conf.h"
#include "log.h"
#include "util.h"

static int
copy_opt(char *dst, size_t size, const char *src, const char *name)
{
    if (src == NULL) {
        src = "";
    }
    if (tk_strlcpy(dst, src, size) >= size) {
        tk_err("%s too long: at most %zu bytes", name, size - 1);
        return -EINVAL;
    }
    return 0;
}

static int
add_key(struct tk_wx *wx, const char *encoded, const char *name)
{
    if (encoded == NULL || encoded[0] == '\0') {
        return 0;
    }
    if (tk_wxcrypt_key_decode(encoded, strlen(encoded),
                              wx->keys[wx->nkeys]) < 0) {
        tk_err("invalid EncodingAESKey '%s': not 43 base64 letters and "
               "digits", name);
        return -EINVAL;
    }
    wx->nkeys++;
    return 0;
}

int
tk_wx_init(struct tk_wx *wx, const struct tk_conf *conf)
{
    int rc = 0;

    memset(wx, 0, sizeof(*wx));
    if (conf->wechat.token == NULL || conf->wechat.token[0] == '\0') {
        tk_err("wechat.token is empty: signatures would prove nothing");
        rc = -EINVAL;
        goto out;
    }
    if (copy_opt(wx->token, sizeof(wx->token), conf->wechat.token,
                 "wechat.token") < 0 ||
        copy_opt(wx->appid, sizeof(wx->appid), conf->wechat.appid,
                 "wechat.appid") < 0 ||
        copy_opt(wx->original_id, sizeof(wx->original_id),
                 conf->wechat.original_id, "wechat.original_id") < 0) {
        rc = -EINVAL;
        goto out;
    }
    if (conf->wechat.aes_key == NULL || conf->wechat.aes_key[0] == '\0') {
        if (conf->wechat.aes_key_previous != NULL &&
            conf->wechat.aes_key_previous[0] != '\0') {
            tk_err("wechat.aes_key_previous set without wechat.aes_key");
            rc = -EINVAL;
            goto out;
        }
    } else if (add_key(wx, conf->wechat.aes_key, "wechat.aes_key") < 0 ||
               add_key(wx, conf->wechat.aes_key_previous,
                       "wechat.aes_key_previous") < 0) {
        rc = -EINVAL;
        goto out;
    }
    wx->require_encryption = conf->wechat.require_encryption;
    wx->max_clock_skew = conf->wechat.max_clock_skew;
out:
    if (rc < 0) {
        tk_wx_release(wx);
    }
    return rc;
}

void
tk_wx_release(struct tk_wx *wx)
{
    tk_wipe(wx, wx != NULL ? sizeof(*wx) : 0);
}

const char *
tk_wx_status_name(enum tk_wx_status st)
{
    static const char *const names[] = {
        [TK_WX_OK] = "ok",
        [TK_WX_ERR_MALFORMED] = "malformed",
        [TK_WX_ERR_TOO_LARGE] = "too_large",
        [TK_WX_ERR_SIGNATURE] = "signature",
        [TK_WX_ERR_STALE] = "stale",
        [TK_WX_ERR_PLAINTEXT] = "plaintext",
        [TK_WX_ERR_NO_KEY] = "no_key",
        [TK_WX_ERR_DECRYPT] = "decrypt",
        [TK_WX_ERR_APPID] = "appid",
        [TK_WX_ERR_RECIPIENT] = "recipient",
    };

    if ((unsigned)st < TK_ARRAY_SIZE(names)) {
        return names[st];
    }
    return "unknown";
}

int
tk_wx_status_http(enum tk_wx_status st)
{
    switch (st) {
    case TK_WX_OK:
        return 200;
    case TK_WX_ERR_MALFORMED:
        return 400;
    case TK_WX_ERR_TOO_LARGE:
        return 413;
    default:
        return 403;
    }
}

/* Bytewise order of counted strings, as WeChat's 字典序. */
static int
bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, TK_MIN(an, bn));

    if (c != 0) {
        return c;
    }
    return an < bn ? -1 : an > bn;
}

static void
signature_n(const char *p[], size_t len[], size_t n,
            char out[TK_SHA1_HEX_LEN + 1])
{
    struct iovec iov[4];

    /* Insertion sort: n is 3 or 4. */
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0 &&
                           bytes_cmp(p[j - 1], len[j - 1], p[j], len[j]) > 0;
             j--) {
            const char *tp = p[j];
            size_t tl = len[j];

            p[j] = p[j - 1], len[j] = len[j - 1];
            p[j - 1] = tp, len[j - 1] = tl;
        }
    }
    for (size_t i = 0; i < n; i++) {
        iov[i].iov_base = (void *)p[i];
        iov[i].iov_len = len[i];
    }
    tk_sha1_hexv(iov, n, out);
}

void
tk_wx_signature(const char *const *parts, size_t n,
                char out[TK_SHA1_HEX_LEN + 1])
{
    const char *p[4];
    size_t len[4];

    n = TK_MIN(n, TK_ARRAY_SIZE(p));
    for (size_t i = 0; i < n; i++) {
        p[i] = parts[i];
        len[i] = strlen(parts[i]);
    }
    signature_n(p, len, n, out);
}

/* Constant-time check of a received hex signature (case-insensitive). */
static bool
signature_ok(const char *got, const char *want)
{
    char low[TK_SHA1_HEX_LEN];

    if (got == NULL || strnlen(got, TK_SHA1_HEX_LEN + 1) != TK_SHA1_HEX_LEN) {
        return false;
    }
    for (size_t i = 0; i < TK_SHA1_HEX_LEN; i++) {
        char c = got[i];

        low[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    return tk_ct_equal(low, sizeof(low), want, TK_SHA1_HEX_LEN);
}

static bool
param_ok(const char *s)
{
    return s != NULL && s[0] != '\0' &&
           strnlen(s, TK_WX_PARAM_MAX + 1) <= TK_WX_PARAM_MAX;
}

/* Checks the parameters every request carries. */
static enum tk_wx_status
check_common(const struct tk_wx_query *q, int64_t *ts)
{
    if (!param_ok(q->timestamp) || !param_ok(q->nonce) ||
        strspn(q->timestamp, "0123456789") != strlen(q->timestamp) ||
        tk_parse_i64(q->timestamp, ts) < 0) {
        return TK_WX_ERR_MALFORMED;
    }
    return TK_WX_OK;
}

static enum tk_wx_status
check_window(const struct tk_wx *wx, int64_t ts, int64_t now)
{
    int64_t d = now - ts;

    if (wx->max_clock_skew > 0 &&
        (d > wx->max_clock_skew || d < -(int64_t)wx->max_clock_skew)) {
        return TK_WX_ERR_STALE;
    }
    return TK_WX_OK;
}

/* The 3-value signature of GET and of plaintext POSTs. */
static bool
plain_signature_ok(const struct tk_wx *wx, const struct tk_wx_query *q)
{
    const char *p[3] = {wx->token, q->timestamp, q->nonce};
    size_t len[3] = {strlen(wx->token), strlen(q->timestamp),
                     strlen(q->nonce)};
    char want[TK_SHA1_HEX_LEN + 1];

    signature_n(p, len, 3, want);
    return signature_ok(q->signature, want);
}

enum tk_wx_status
tk_wx_verify_get(const struct tk_wx *wx, const struct tk_wx_query *q,
                 int64_t now)
{
    enum tk_wx_status st;
    int64_t ts;

    st = check_common(q, &ts);
    if (st != TK_WX_OK) {
        return st;
    }
    if (q->signature == NULL || !param_ok(q->echostr)) {
        return TK_WX_ERR_MALFORMED;
    }
    if (!plain_signature_ok(wx, q)) {
        return TK_WX_ERR_SIGNATURE;
    }
    return check_window(wx, ts, now);
}

static enum tk_wx_status
decrypt_inner(const struct tk_wx *wx, const char *enc, size_t enc_len,
              struct tk_arena *arena, struct tk_wx_inbound *in)
{
    size_t size = TK_WXCRYPT_DECRYPT_SIZE(enc_len);
    unsigned char *plain = tk_arena_alloc(arena, size);
    enum tk_wx_status st = TK_WX_ERR_DECRYPT;
    const char *msg = NULL;
    size_t msg_len = 0;
    int rc;

    /* WeChat's FAQ: try the current key, then the previous one; the key
     * that worked encrypts the reply. */
    for (int k = 0; k < wx->nkeys; k++) {
        rc = tk_wxcrypt_decrypt(wx->keys[k], enc, enc_len, wx->appid, plain,
                                size, &msg, &msg_len);
        if (rc == 0) {
            in->key_index = k;
            st = TK_WX_OK;
            break;
        }
        if (rc == -EINVAL) {
            st = TK_WX_ERR_MALFORMED; /* key-independent */
            break;
        }
        if (rc == -EACCES) {
            st = TK_WX_ERR_APPID;
        }
    }
    if (st == TK_WX_OK && tk_xml_parse(msg, msg_len, &in->msg, arena) < 0) {
        st = TK_WX_ERR_MALFORMED;
    }
    tk_wipe(plain, size);
    return st;
}

enum tk_wx_status
tk_wx_verify_post(const struct tk_wx *wx, const struct tk_wx_query *q,
                  const char *body, size_t len, int64_t now,
                  struct tk_arena *arena, struct tk_wx_inbound *in)
{
    enum tk_wx_status st;
    const char *enc;
    size_t enc_len;
    bool aes = false;
    int64_t ts;
    int rc;

    in->mode = TK_WX_MODE_PLAIN;
    in->key_index = 0;
    in->nonce[0] = '\0';
    if (len > TK_XML_INPUT_MAX) {
        return TK_WX_ERR_TOO_LARGE;
    }
    st = check_common(q, &ts);
    if (st != TK_WX_OK) {
        return st;
    }
    if (q->encrypt_type != NULL) {
        if (strcmp(q->encrypt_type, "aes") == 0) {
            aes = true;
        } else if (strcmp(q->encrypt_type, "raw") != 0) {
            return TK_WX_ERR_MALFORMED;
        }
    }
    if (!aes) {
        /* Plaintext by the query: check before looking at the body. */
        if (q->signature == NULL) {
            return TK_WX_ERR_MALFORMED;
        }
        if (!plain_signature_ok(wx, q)) {
            return TK_WX_ERR_SIGNATURE;
        }
    }
    rc = tk_xml_parse(body, len, &in->msg, arena);
    if (rc < 0) {
        return rc == TK_XML_TOO_LARGE ? TK_WX_ERR_TOO_LARGE
                                      : TK_WX_ERR_MALFORMED;
    }
    tk_strlcpy(in->nonce, q->nonce, sizeof(in->nonce));
    if (in->msg.encrypt == NULL) {
        if (aes) {
            return TK_WX_ERR_MALFORMED;
        }
        /* The signature above does not cover the body: anyone who saw
         * one signed URL could post anything (WECHAT.md 6.1). */
        if (wx->require_encryption) {
            return TK_WX_ERR_PLAINTEXT;
        }
        st = check_window(wx, ts, now);
        goto recipient;
    }

    /* Encrypted (by encrypt_type or by the body): only msg_signature over
     * the Encrypt text authenticates anything. */
    enc = in->msg.encrypt;
    enc_len = in->msg.encrypt_len;
    in->mode = in->msg.from_user[0] != '\0' || in->msg.msg_type[0] != '\0'
                   ? TK_WX_MODE_COMPAT
                   : TK_WX_MODE_SAFE;
    {
        const char *p[4] = {wx->token, q->timestamp, q->nonce, enc};
        size_t plen[4] = {strlen(wx->token), strlen(q->timestamp),
                          strlen(q->nonce), enc_len};
        char want[TK_SHA1_HEX_LEN + 1];

        if (q->msg_signature == NULL) {
            return TK_WX_ERR_MALFORMED;
        }
        signature_n(p, plen, 4, want);
        if (!signature_ok(q->msg_signature, want)) {
            return TK_WX_ERR_SIGNATURE;
        }
    }
    st = check_window(wx, ts, now);
    if (st != TK_WX_OK) {
        return st;
    }
    if (wx->nkeys == 0) {
        return TK_WX_ERR_NO_KEY;
    }
    st = decrypt_inner(wx, enc, enc_len, arena, in);
recipient:
    if (st == TK_WX_OK && wx->original_id[0] != '\0' &&
        strcmp(in->msg.to_user, wx->original_id) != 0) {
        st = TK_WX_ERR_RECIPIENT;
    }
    return st;
}

/* Appends s as CDATA, splitting any "]]>" across two sections. */
static void
add_cdata(struct tk_buf *out, const char *s, size_t n)
{
    const char *end = s + n, *p;

    tk_buf_adds(out, "<![CDATA[");
    while ((p = memmem(s, (size_t)(end - s), "]]>", 3)) != NULL) {
        tk_buf_add(out, s, (size_t)(p - s) + 2);
        tk_buf_adds(out, "]]><![CDATA[>");
        s = p + 3;
    }
    tk_buf_add(out, s, (size_t)(end - s));
    tk_buf_adds(out, "]]>");
}

static void
add_elem(struct tk_buf *out, const char *tag, const char *s, size_t n)
{
    tk_buf_printf(out, "<%s>", tag);
    add_cdata(out, s, n);
    tk_buf_printf(out, "</%s>", tag);
}

static void
add_header(struct tk_buf *out, const struct tk_wx_msg *msg, int64_t now,
           const char *type)
{
    tk_buf_adds(out, "<xml>");
    add_elem(out, "ToUserName", msg->from_user, strlen(msg->from_user));
    add_elem(out, "FromUserName", msg->to_user, strlen(msg->to_user));
    tk_buf_printf(out, "<CreateTime>%" PRId64 "</CreateTime>", now);
    add_elem(out, "MsgType", type, strlen(type));
}

/* Appends text cut to max bytes on a UTF-8 boundary; false if invalid. */
static bool
add_text_elem(struct tk_buf *out, const char *tag, const char *s, size_t max)
{
    size_t n;

    if (s == NULL) {
        s = "";
    }
    n = strlen(s);
    if (!tk_utf8_is_valid(s, n)) {
        return false;
    }
    add_elem(out, tag, s, tk_utf8_truncate(s, n, max));
    return true;
}

int
tk_wx_reply_text(struct tk_buf *out, const struct tk_wx_msg *msg,
                 int64_t now, const char *content)
{
    size_t start = out->len;

    add_header(out, msg, now, "text");
    if (!add_text_elem(out, "Content", content, TK_WX_CONTENT_REPLY_MAX)) {
        out->len = start;
        tk_buf_add(out, "", 0);
        return -EINVAL;
    }
    tk_buf_adds(out, "</xml>");
    return 0;
}

int
tk_wx_reply_news(struct tk_buf *out, const struct tk_wx_msg *msg,
                 int64_t now, const struct tk_wx_article *items, size_t n)
{
    size_t start = out->len;
    int rc = 0;

    if (n < 1 || n > TK_WX_NEWS_MAX) {
        return -EINVAL;
    }
    add_header(out, msg, now, "news");
    tk_buf_printf(out, "<ArticleCount>%zu</ArticleCount><Articles>", n);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct tk_wx_article *a = &items[i];

        tk_buf_adds(out, "<item>");
        if (!add_text_elem(out, "Title", a->title, TK_WX_TITLE_MAX) ||
            !add_text_elem(out, "Description", a->description,
                           TK_WX_DESC_MAX) ||
            (a->pic_url != NULL && strlen(a->pic_url) > TK_URL_MAX) ||
            (a->url != NULL && strlen(a->url) > TK_URL_MAX) ||
            !add_text_elem(out, "PicUrl", a->pic_url, TK_URL_MAX) ||
            !add_text_elem(out, "Url", a->url, TK_URL_MAX)) {
            rc = -EINVAL;
        }
        tk_buf_adds(out, "</item>");
    }
    tk_buf_adds(out, "</Articles></xml>");
    if (rc == 0 && out->len - start > TK_WX_REPLY_MAX) {
        rc = -E2BIG;
    }
    if (rc < 0) {
        out->len = start;
        tk_buf_add(out, "", 0);
    }
    return rc;
}

int
tk_wx_envelope(const struct tk_wx *wx, int key, const char *xml, size_t len,
               int64_t timestamp, const char *nonce,
               const unsigned char *random, struct tk_buf *out)
{
    char ts[24], sig[TK_SHA1_HEX_LEN + 1];
    size_t start = out->len, enc;
    int rc;

    if (key < 0 || key >= wx->nkeys || nonce == NULL ||
        strnlen(nonce, TK_WX_PARAM_MAX + 1) > TK_WX_PARAM_MAX) {
        return -EINVAL;
    }
    if (len > TK_WX_REPLY_MAX) {
        return -E2BIG;
    }
    snprintf(ts, sizeof(ts), "%" PRId64, timestamp);
    tk_buf_adds(out, "<xml><Encrypt><![CDATA[");
    enc = out->len;
    rc = tk_wxcrypt_encrypt(wx->keys[key], random, xml, len, wx->appid, out);
    if (rc < 0) {
        out->len = start;
        tk_buf_add(out, "", 0);
        return rc;
    }
    {
        const char *p[4] = {wx->token, ts, nonce, out->data + enc};
        size_t plen[4] = {strlen(wx->token), strlen(ts), strlen(nonce),
                          out->len - enc};

        signature_n(p, plen, 4, sig);
    }
    /* Base64 holds no "]]>", so the Encrypt text needs no splitting. */
    tk_buf_adds(out, "]]></Encrypt>");
    add_elem(out, "MsgSignature", sig, TK_SHA1_HEX_LEN);
    tk_buf_printf(out, "<TimeStamp>%s</TimeStamp>", ts);
    add_elem(out, "Nonce", nonce, strlen(nonce));
    tk_buf_adds(out, "</xml>");
    return 0;
}

int
tk_wx_reply_seal(const struct tk_wx *wx, const struct tk_wx_inbound *in,
                 const char *xml, size_t len, int64_t now,
                 const unsigned char *random, struct tk_buf *out)
{
    if (len > TK_WX_REPLY_MAX) {
        return -E2BIG;
    }
    if (in->mode == TK_WX_MODE_PLAIN) {
        tk_buf_add(out, xml, len);
        return 0;
    }
    return tk_wx_envelope(wx, in->key_index, xml, len, now, in->nonce,
                          random, out);
}

size_t
tk_wx_dedupe_key(const struct tk_wx_msg *msg,
                 char out[TK_WX_DEDUPE_KEY_MAX + 1])
{
    /* Messages: FromUserName|MsgId (the sender too: a stored outcome must
     * never answer another user's message, whatever MsgId it carries).
     * Events: FromUserName|CreateTime|Event|EventKey (CreateTime has a
     * one-second resolution, so Event and EventKey tell two taps in the
     * same second apart). */
    struct iovec iov[7] = {
        {(void *)msg->from_user, strlen(msg->from_user)},
        {(void *)"|", 1},
    };
    size_t n = 2;

    if (msg->msg_id[0] != '\0') {
        out[0] = 'm';
        iov[n++] = (struct iovec){(void *)msg->msg_id, strlen(msg->msg_id)};
    } else {
        out[0] = 'e';
        iov[n++] = (struct iovec){(void *)msg->create_time_str,
                                  strlen(msg->create_time_str)};
        iov[n++] = (struct iovec){(void *)"|", 1};
        iov[n++] = (struct iovec){(void *)msg->event, strlen(msg->event)};
        iov[n++] = (struct iovec){(void *)"|", 1};
        iov[n++] = (struct iovec){(void *)msg->event_key,
                                  strlen(msg->event_key)};
    }
    tk_sha1_hexv(iov, n, out + 1);
    return 1 + TK_SHA1_HEX_LEN;
}
