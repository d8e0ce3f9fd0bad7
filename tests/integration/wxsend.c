/*
 * wxsend: sends ONE signed WeChat message to the stack's /wechat through
 * nginx, as the WeChat servers would, and prints what came back, for the
 * shell tests.
 *
 *   wxsend [-c CONF] [--safe] [--openid O] [--msgid N] [--field NAME]
 *          (TEXT | --event EVENT [KEY] | --type TYPE)
 *
 * CONF defaults to $TK_DIR/ticketd.conf (token, appid, aes_key,
 * original_id, site.base_url). --safe encrypts the body (安全模式,
 * encrypt_type=aes, msg_signature) and decrypts the reply after checking
 * its MsgSignature. Prints the reply (decrypted) or, with --field NAME,
 * the text of every <NAME> element, one per line. A non-200 answer
 * prints "HTTP CODE" and exits 1; a reply that fails its checks exits 3.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "conf.h"
#include "crypto.h"
#include "util.h"
#include "wechat.h"

static void
usage(void)
{
    fprintf(stderr,
            "usage: wxsend [-c CONF] [--safe] [--openid O] [--msgid N] "
            "[--field NAME]\n"
            "              (TEXT | --event EVENT [KEY] | --type TYPE)\n");
    exit(2);
}

static void
die(const char *what)
{
    fprintf(stderr, "wxsend: %s\n", what);
    exit(3);
}

/* Appends <tag><![CDATA[v]]></tag>. */
static void
elem(struct tk_buf *b, const char *tag, const char *v)
{
    tk_buf_printf(b, "<%s><![CDATA[%s]]></%s>", tag, v, tag);
}

/* POSTs body to host:port path; returns the status, body in out. */
static int
post(const char *host, int port, const char *path, const struct tk_buf *body,
     struct tk_buf *out)
{
    struct sockaddr_in sa = {0};
    struct tk_buf req = TK_BUF_INIT;
    char tmp[16384];
    int fd, status = 0;
    ssize_t n;
    const char *p;

    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        die("site.base_url must name an IPv4 address");
    }
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        die("cannot connect to nginx");
    }
    tk_buf_printf(&req,
                  "POST %s HTTP/1.0\r\nHost: %s\r\nContent-Type: text/xml\r\n"
                  "Content-Length: %zu\r\n\r\n",
                  path, host, body->len);
    tk_buf_add(&req, body->data, body->len);
    for (size_t off = 0; off < req.len; off += (size_t)n) {
        n = write(fd, req.data + off, req.len - off);
        if (n <= 0) {
            die("write failed");
        }
    }
    tk_buf_release(&req);
    tk_buf_reset(out);
    while ((n = read(fd, tmp, sizeof(tmp))) > 0) {
        tk_buf_add(out, tmp, (size_t)n);
    }
    close(fd);
    if (sscanf(tk_buf_str(out), "HTTP/1.%*d %d", &status) != 1) {
        die("no HTTP status line");
    }
    p = strstr(tk_buf_str(out), "\r\n\r\n");
    if (p == NULL) {
        die("no end of headers");
    }
    p += 4;
    memmove(out->data, p, out->len - (size_t)(p - out->data));
    out->len -= (size_t)(p - out->data);
    out->data[out->len] = '\0';
    return status;
}

/* The text of the first <tag> at or after *from (CDATA or plain) into
 * val; advances *from. false when there is none. */
static bool
field(const char **from, const char *tag, struct tk_buf *val)
{
    char open[64], close[64];
    const char *s, *e;

    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    s = strstr(*from, open);
    if (s == NULL) {
        return false;
    }
    s += strlen(open);
    e = strstr(s, close);
    if (e == NULL) {
        return false;
    }
    *from = e + strlen(close);
    tk_buf_reset(val);
    /* CDATA sections, possibly split around "]]>". */
    while (s < e) {
        if (strncmp(s, "<![CDATA[", 9) == 0) {
            const char *end = strstr(s + 9, "]]>");

            if (end == NULL || end > e) {
                die("unterminated CDATA");
            }
            tk_buf_add(val, s + 9, (size_t)(end - s - 9));
            s = end + 3;
        } else {
            tk_buf_addc(val, *s++);
        }
    }
    return true;
}

int
main(int argc, char **argv)
{
    const char *conf_path = NULL, *openid = "owxsend0000001", *fname = NULL;
    const char *event = NULL, *event_key = NULL, *type = NULL, *text = NULL;
    char msgid[32] = "", ts[24], nonce[24], sig[TK_SHA1_HEX_LEN + 1];
    char msig[TK_SHA1_HEX_LEN + 1], host[64], path[1024];
    struct tk_buf body = TK_BUF_INIT, wire = TK_BUF_INIT;
    struct tk_buf reply = TK_BUF_INIT, val = TK_BUF_INIT;
    unsigned char key[TK_WXCRYPT_KEY_LEN];
    struct tk_conf conf;
    bool safe = false;
    int port = 80, status;
    uint64_t r;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "-c") == 0 && i + 1 < argc) {
            conf_path = argv[++i];
        } else if (strcmp(a, "--safe") == 0) {
            safe = true;
        } else if (strcmp(a, "--openid") == 0 && i + 1 < argc) {
            openid = argv[++i];
        } else if (strcmp(a, "--msgid") == 0 && i + 1 < argc) {
            tk_strlcpy(msgid, argv[++i], sizeof(msgid));
        } else if (strcmp(a, "--field") == 0 && i + 1 < argc) {
            fname = argv[++i];
        } else if (strcmp(a, "--event") == 0 && i + 1 < argc) {
            event = argv[++i];
            if (i + 1 < argc && argv[i + 1][0] != '-') {
                event_key = argv[++i];
            }
        } else if (strcmp(a, "--type") == 0 && i + 1 < argc) {
            type = argv[++i];
        } else if (a[0] != '-' && text == NULL) {
            text = a;
        } else {
            usage();
        }
    }
    if ((text != NULL) + (event != NULL) + (type != NULL) != 1) {
        usage();
    }
    if (conf_path == NULL) {
        const char *dir = getenv("TK_DIR");

        if (dir == NULL) {
            usage();
        }
        snprintf(path, sizeof(path), "%s/ticketd.conf", dir);
        conf_path = path;
    }
    if (tk_conf_load(&conf, conf_path, stderr) < 0) {
        die("cannot load the configuration");
    }
    if (sscanf(conf.site.base_url, "http://%63[^:/]:%d", host, &port) < 1) {
        die("site.base_url is not http://HOST[:PORT]");
    }
    if (msgid[0] == '\0') {
        tk_random_bytes(&r, sizeof(r));
        snprintf(msgid, sizeof(msgid), "%" PRIu64, r >> 2);
    }
    snprintf(ts, sizeof(ts), "%" PRId64, tk_now());
    tk_random_bytes(&r, sizeof(r));
    snprintf(nonce, sizeof(nonce), "%u", (unsigned)(r % 1000000000));

    tk_buf_adds(&body, "<xml>");
    elem(&body, "ToUserName", conf.wechat.original_id);
    elem(&body, "FromUserName", openid);
    tk_buf_printf(&body, "<CreateTime>%s</CreateTime>", ts);
    if (event != NULL) {
        elem(&body, "MsgType", "event");
        elem(&body, "Event", event);
        if (event_key != NULL) {
            elem(&body, "EventKey", event_key);
        }
    } else {
        elem(&body, "MsgType", text != NULL ? "text" : type);
        if (text != NULL) {
            elem(&body, "Content", text);
        }
        tk_buf_printf(&body, "<MsgId>%s</MsgId>", msgid);
    }
    tk_buf_adds(&body, "</xml>");
    {
        const char *p[3] = {conf.wechat.token, ts, nonce};

        tk_wx_signature(p, 3, sig);
    }
    if (safe) {
        struct tk_buf enc = TK_BUF_INIT;
        const char *p[4];

        if (tk_wxcrypt_key_decode(conf.wechat.aes_key,
                                  strlen(conf.wechat.aes_key), key) < 0) {
            die("wechat.aes_key does not decode");
        }
        tk_wxcrypt_encrypt(key, NULL, body.data, body.len, conf.wechat.appid,
                           &enc);
        p[0] = conf.wechat.token;
        p[1] = ts;
        p[2] = nonce;
        p[3] = enc.data;
        tk_wx_signature(p, 4, msig);
        tk_buf_adds(&wire, "<xml>");
        elem(&wire, "ToUserName", conf.wechat.original_id);
        elem(&wire, "Encrypt", enc.data);
        tk_buf_adds(&wire, "</xml>");
        tk_buf_release(&enc);
        snprintf(path, sizeof(path),
                 "/wechat?signature=%s&timestamp=%s&nonce=%s&openid=%s"
                 "&encrypt_type=aes&msg_signature=%s",
                 sig, ts, nonce, openid, msig);
    } else {
        tk_buf_add(&wire, body.data, body.len);
        snprintf(path, sizeof(path),
                 "/wechat?signature=%s&timestamp=%s&nonce=%s&openid=%s", sig,
                 ts, nonce, openid);
    }
    status = post(host, port, path, &wire, &reply);
    if (status != 200) {
        printf("HTTP %d\n", status);
        return 1;
    }
    if (safe && strstr(tk_buf_str(&reply), "<Encrypt>") != NULL) {
        const char *from = tk_buf_str(&reply), *msg;
        struct tk_buf e = TK_BUF_INIT, ms = TK_BUF_INIT, rts = TK_BUF_INIT;
        struct tk_buf rn = TK_BUF_INIT;
        unsigned char *plain;
        size_t mlen;
        const char *p[4];
        char want[TK_SHA1_HEX_LEN + 1];

        if (!field(&from, "Encrypt", &e)) {
            die("no Encrypt in the reply");
        }
        from = tk_buf_str(&reply);
        if (!field(&from, "MsgSignature", &ms) ||
            !field(&from, "TimeStamp", &rts) ||
            !field(&from, "Nonce", &rn)) {
            die("reply envelope incomplete");
        }
        if (strcmp(rn.data, nonce) != 0) {
            die("reply Nonce is not the request's");
        }
        p[0] = conf.wechat.token;
        p[1] = rts.data;
        p[2] = rn.data;
        p[3] = e.data;
        tk_wx_signature(p, 4, want);
        if (strcmp(want, ms.data) != 0) {
            die("reply MsgSignature does not verify");
        }
        plain = tk_xmalloc(TK_WXCRYPT_DECRYPT_SIZE(e.len));
        if (tk_wxcrypt_decrypt(key, e.data, e.len, conf.wechat.appid, plain,
                               TK_WXCRYPT_DECRYPT_SIZE(e.len), &msg,
                               &mlen) < 0) {
            die("reply does not decrypt");
        }
        tk_buf_reset(&reply);
        tk_buf_add(&reply, msg, mlen);
        free(plain);
        tk_buf_release(&e);
        tk_buf_release(&ms);
        tk_buf_release(&rts);
        tk_buf_release(&rn);
    } else if (safe && strcmp(tk_buf_str(&reply), "success") != 0) {
        die("safe mode reply is neither encrypted nor success");
    }
    if (fname == NULL) {
        printf("%s\n", tk_buf_str(&reply));
    } else {
        const char *from = tk_buf_str(&reply);

        while (field(&from, fname, &val)) {
            printf("%s\n", tk_buf_str(&val));
        }
    }
    tk_buf_release(&body);
    tk_buf_release(&wire);
    tk_buf_release(&reply);
    tk_buf_release(&val);
    tk_conf_release(&conf);
    tk_wipe(key, sizeof(key));
    return 0;
}
