/*
 * tkload: the load generator of the benchmarks and of the load-bearing
 * tests. One thread, epoll, keep-alive HTTP/1.1 connections to nginx.
 *
 *   tkload -u http://127.0.0.1:8080 -c 64 -n 10000 get /healthz
 *   tkload ... grab KEY      users send "抢票 KEY" (signed, plaintext mode)
 *   tkload ... query         users send "查票"
 *
 * With --aes-key K --appid A every body goes out in safe mode (安全模式:
 * Encrypt only, msg_signature, encrypt_type=aes) and every encrypted
 * reply is decrypted before it is classified.
 *
 * The load generator shares a CPU with nginx in the benchmarks, so what
 * it spends per request is taken from the figures it measures. Requests
 * are made before the clock starts where that is cheap enough: a GET is
 * the same bytes every time; a plaintext message is one template with
 * the openid's digits and the MsgId written in place; safe-mode requests
 * (each one encrypted with its own random IV) are all encrypted up front
 * with -n, and one at a time with -d.
 *
 * Users are openids PREFIX + zero-padded index, index from --first for
 * --users (each request takes the next user, wrapping). Every WeChat reply
 * is classified by its key phrase (success, duplicate, sold out, busy,
 * other); success replies' ticket ids are written to --tickets-out as
 * "openid ticket". Prints a summary and, with -o, JSON results including a
 * per-second series of throughput and p99.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "crypto.h"
#include "util.h"
#include "wechat.h"

enum mode { MODE_GET, MODE_GRAB, MODE_QUERY, MODE_REFUND };

enum kind {
    K_SUCCESS,   /* 抢票成功 / 退票成功 / a 200 for GET */
    K_DUPLICATE, /* 您已经抢到票了 */
    K_SOLDOUT,   /* 票已经被抢光 */
    K_BUSY,      /* 系统繁忙 */
    K_OTHER,     /* any other 200 reply */
    K_HTTP,      /* non-2xx */
    K_TIMEOUT,
    K_CONN,      /* connect or I/O failure */
    K_KINDS
};

static const char *const kind_names[K_KINDS] = {
    "success", "duplicate", "soldout", "busy",
    "other",   "http_error", "timeout", "conn_error"};

struct conn {
    int fd;
    bool busy;          /* a request is outstanding */
    int64_t start_ns;
    struct tk_buf own;  /* this connection's request, when made here */
    const char *out;    /* the request being sent: own, or a shared one */
    size_t out_len;
    size_t out_off;
    struct tk_buf in;
    uint64_t user;      /* user index of the outstanding request */
};

struct sample {
    uint32_t us;
    uint32_t sec;
};

static struct {
    const char *host;
    int port;
    int conns;
    long requests;
    double duration;
    enum mode mode;
    const char *path;   /* GET path */
    const char *key;    /* activity key */
    const char *prefix;
    uint64_t first;
    uint64_t users;
    const char *token;
    const char *to;
    const char *json_out;
    const char *tickets_out;
    const char *aes_key; /* safe mode when set */
    const char *appid;
    int timeout_ms;
    bool quiet;
} opt = {
    .host = "127.0.0.1", .port = 8080, .conns = 64, .requests = 10000,
    .path = "/healthz", .prefix = "obench", .users = 100000,
    .token = "ticketdtesttoken", .to = "gh_ticketdtest", .timeout_ms = 5000,
};

static struct sample *samples;
static long nsamples, capsamples;
static long counts[K_KINDS];
static long sent, done;
static uint64_t next_user;
static uint64_t msgid_base;
static int64_t t0_ns;
static char sig_query[256];
static char sig_ts[32], sig_nonce[32];
static unsigned char aes_key[TK_WXCRYPT_KEY_LEN];
static struct tk_buf enc_buf, plain_buf;
/* The request every GET sends; or a plaintext message with the openid's
 * index and the MsgId as placeholders of fixed width (tpl_user_at,
 * tpl_msgid_at), tpl.len == 0 when the users' indexes do not all have
 * the same width or an argument holds a placeholder byte. */
static struct tk_buf tpl;
static size_t tpl_user_at, tpl_msgid_at;
/* Safe mode with -n: every request, encrypted before the clock starts. */
static struct tk_buf pre;
static size_t *pre_off; /* request k is pre.data[pre_off[k]..pre_off[k+1]) */
static long busy_conns;
static FILE *tickets_fp;
static struct sockaddr_in addr;
static volatile sig_atomic_t interrupted;

static int64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
usage(void)
{
    fprintf(stderr,
            "usage: tkload [-u URL] [-c CONNS] [-n REQUESTS] [-d SECONDS]\n"
            "              [--users N] [--first I] [--prefix P] [--token T]\n"
            "              [--to GH_ID] [--timeout-ms MS] [-o RESULTS.json]\n"
            "              [--tickets-out FILE] [--aes-key K --appid A] [-q]\n"
            "              get PATH | grab KEY | refund KEY | query\n");
    exit(2);
}

/* The plaintext-mode signature covers token, timestamp and nonce only, so
 * one valid triple serves every body of the run (WECHAT.md 6.1: which is
 * why production should require safe mode). */
static void
make_signature(void)
{
    char ts[32], nonce[32], sig[TK_SHA1_HEX_LEN + 1];
    const char *v[3];
    struct tk_buf cat = TK_BUF_INIT;

    snprintf(ts, sizeof(ts), "%" PRId64, tk_now());
    snprintf(nonce, sizeof(nonce), "%u", (unsigned)(now_ns() % 1000000000));
    memcpy(sig_ts, ts, sizeof(sig_ts));
    memcpy(sig_nonce, nonce, sizeof(sig_nonce));
    v[0] = opt.token;
    v[1] = ts;
    v[2] = nonce;
    for (int i = 0; i < 3; i++) {
        for (int j = i + 1; j < 3; j++) {
            if (strcmp(v[j], v[i]) < 0) {
                const char *t = v[i];

                v[i] = v[j];
                v[j] = t;
            }
        }
    }
    for (int i = 0; i < 3; i++) {
        tk_buf_adds(&cat, v[i]);
    }
    tk_sha1_hex(cat.data, cat.len, sig);
    tk_buf_release(&cat);
    snprintf(sig_query, sizeof(sig_query),
             "/wechat?signature=%s&timestamp=%s&nonce=%s", sig, ts, nonce);
}

/* Fixed widths of the two fields a template patches: the openid's index
 * (PREFIX%07u: all indexes below 10^7) and the MsgId (19 digits: the base
 * is drawn from [10^18, 9 x 10^18)). */
#define USER_DIGITS 7
#define USER_LIMIT 10000000ULL
#define MSGID_DIGITS 19
#define MSGID_MIN 1000000000000000000ULL
/* Safe mode precomputes at most this many requests (about 1 KiB each). */
#define PRE_MAX 2000000L

/* Writes v as exactly width decimal digits at p (v < 10^width). */
static void
put_digits(char *p, int width, uint64_t v)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

/*
 * Appends the request of the message from user (its openid's digits) with
 * message id msgid to out. Both are strings so that the template can pass
 * placeholders of the same width.
 */
static void
format_message(struct tk_buf *out, const char *user, const char *msgid)
{
    struct tk_buf body = TK_BUF_INIT;
    const char *content = opt.mode == MODE_QUERY ? "查票" : NULL;

    tk_buf_printf(&body,
                  "<xml><ToUserName><![CDATA[%s]]></ToUserName>"
                  "<FromUserName><![CDATA[%s%s]]></FromUserName>"
                  "<CreateTime>%" PRId64 "</CreateTime>"
                  "<MsgType><![CDATA[text]]></MsgType>"
                  "<Content><![CDATA[",
                  opt.to, opt.prefix, user, tk_now());
    if (content != NULL) {
        tk_buf_adds(&body, content);
    } else {
        tk_buf_printf(&body, "%s %s", opt.mode == MODE_GRAB ? "抢票" : "退票",
                      opt.key);
    }
    tk_buf_printf(&body, "]]></Content><MsgId>%s</MsgId></xml>", msgid);
    if (opt.aes_key != NULL) {
        /* Safe mode: the body is the envelope, msg_signature covers it. */
        char msig[TK_SHA1_HEX_LEN + 1];
        const char *p[4] = {opt.token, sig_ts, sig_nonce, NULL};

        tk_buf_reset(&enc_buf);
        tk_wxcrypt_encrypt(aes_key, NULL, body.data, body.len, opt.appid,
                           &enc_buf);
        p[3] = enc_buf.data;
        tk_wx_signature(p, 4, msig);
        tk_buf_reset(&body);
        tk_buf_printf(&body,
                      "<xml><ToUserName><![CDATA[%s]]></ToUserName>"
                      "<Encrypt><![CDATA[%s]]></Encrypt></xml>",
                      opt.to, enc_buf.data);
        tk_buf_printf(out,
                      "POST %s&encrypt_type=aes&msg_signature=%s HTTP/1.1\r\n"
                      "Host: %s\r\nUser-Agent: tkload\r\n"
                      "Content-Type: text/xml\r\nContent-Length: %zu\r\n"
                      "\r\n",
                      sig_query, msig, opt.host, body.len);
    } else {
        tk_buf_printf(out,
                      "POST %s HTTP/1.1\r\nHost: %s\r\n"
                      "User-Agent: tkload\r\n"
                      "Content-Type: text/xml\r\nContent-Length: %zu\r\n"
                      "\r\n",
                      sig_query, opt.host, body.len);
    }
    tk_buf_add(out, body.data, body.len);
    tk_buf_release(&body);
}

/* The user index of request k (each request takes the next, wrapping). */
static uint64_t
user_of(uint64_t k)
{
    return opt.first + k % opt.users;
}

/* Request k's message, appended to out. */
static void
make_message(struct tk_buf *out, uint64_t k)
{
    char digits[32], msgid[32];

    snprintf(digits, sizeof(digits), "%0*" PRIu64, USER_DIGITS, user_of(k));
    snprintf(msgid, sizeof(msgid), "%" PRIu64, msgid_base + k);
    format_message(out, digits, msgid);
}

/* Whether the template's only bytes c are the width of them at at. */
static bool
placeholder_at(size_t at, char c, size_t width)
{
    size_t n = 0;

    for (size_t i = 0; i < tpl.len; i++) {
        n += tpl.data[i] == c;
    }
    if (n != width || at + width > tpl.len) {
        return false;
    }
    for (size_t i = 0; i < width; i++) {
        if (tpl.data[at + i] != c) {
            return false;
        }
    }
    return true;
}

/* Prepares what can be made before the clock starts (see the top). */
static void
prepare_requests(void)
{
    if (opt.mode == MODE_GET) {
        tk_buf_printf(&tpl,
                      "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: tkload\r\n"
                      "\r\n",
                      opt.path, opt.host);
        return;
    }
    if (opt.aes_key != NULL) {
        if (opt.duration > 0 || opt.requests > PRE_MAX) {
            return;
        }
        pre_off = tk_xmalloc(((size_t)opt.requests + 1) * sizeof(*pre_off));
        for (long k = 0; k < opt.requests; k++) {
            pre_off[k] = pre.len;
            make_message(&pre, (uint64_t)k);
        }
        pre_off[opt.requests] = pre.len;
        return;
    }
    if (opt.first + opt.users > USER_LIMIT) {
        return; /* indexes of different widths: printf each one */
    }
    char user[USER_DIGITS + 1], msgid[MSGID_DIGITS + 1];
    const char *at;

    memset(user, '\001', USER_DIGITS);
    user[USER_DIGITS] = '\0';
    memset(msgid, '\002', MSGID_DIGITS);
    msgid[MSGID_DIGITS] = '\0';
    format_message(&tpl, user, msgid);
    at = memchr(tpl.data, '\001', tpl.len);
    tpl_user_at = (size_t)(at - tpl.data);
    at = memchr(tpl.data, '\002', tpl.len);
    tpl_msgid_at = (size_t)(at - tpl.data);
    /* A control byte in an argument would be taken for a placeholder. */
    if (!placeholder_at(tpl_user_at, '\001', USER_DIGITS) ||
        !placeholder_at(tpl_msgid_at, '\002', MSGID_DIGITS)) {
        tk_buf_reset(&tpl);
    }
}

/* Points c at its next request. */
static void
build_request(struct conn *c)
{
    uint64_t k = next_user++;

    c->out_off = 0;
    if (opt.mode == MODE_GET) {
        c->out = tpl.data;
        c->out_len = tpl.len;
        return;
    }
    c->user = user_of(k);
    if (pre_off != NULL) {
        c->out = pre.data + pre_off[k];
        c->out_len = pre_off[k + 1] - pre_off[k];
        return;
    }
    tk_buf_reset(&c->own);
    if (tpl.len > 0) {
        tk_buf_add(&c->own, tpl.data, tpl.len);
        put_digits(c->own.data + tpl_user_at, USER_DIGITS, c->user);
        put_digits(c->own.data + tpl_msgid_at, MSGID_DIGITS, msgid_base + k);
    } else {
        make_message(&c->own, k);
    }
    c->out = c->own.data;
    c->out_len = c->own.len;
}

/* The plaintext of an encrypted reply (NUL-terminated, in plain_buf), or
 * NULL when it is not a well-formed envelope for our key and appid. */
static const char *
decrypt_reply(const char *body)
{
    const char *s = strstr(body, "<Encrypt><![CDATA["), *e, *msg;
    unsigned char *out;
    size_t n, size, mlen;

    if (s == NULL) {
        return NULL;
    }
    s += 18;
    e = strstr(s, "]]>");
    if (e == NULL) {
        return NULL;
    }
    n = (size_t)(e - s);
    size = TK_WXCRYPT_DECRYPT_SIZE(n);
    tk_buf_reset(&plain_buf);
    tk_buf_grow(&plain_buf, size);
    out = (unsigned char *)plain_buf.data;
    if (tk_wxcrypt_decrypt(aes_key, s, n, opt.appid, out, size, &msg,
                           &mlen) < 0) {
        return NULL;
    }
    return msg;
}

static enum kind
classify(int status, const char *body, size_t len, struct conn *c)
{
    (void)len;
    if (status < 200 || status > 299) {
        return K_HTTP;
    }
    if (opt.mode == MODE_GET) {
        return K_SUCCESS;
    }
    if (opt.aes_key != NULL && strcmp(body, "success") != 0) {
        body = decrypt_reply(body);
        if (body == NULL) {
            return K_OTHER; /* safe mode replies must be encrypted */
        }
    }
    if (strstr(body, "系统繁忙") != NULL) {
        return K_BUSY;
    }
    if (opt.mode == MODE_QUERY) {
        return strstr(body, "<xml>") != NULL ? K_SUCCESS : K_OTHER;
    }
    if (opt.mode == MODE_REFUND) {
        return strstr(body, "退票成功") != NULL ? K_SUCCESS : K_OTHER;
    }
    if (strstr(body, "票已经被抢光") != NULL) {
        return K_SOLDOUT;
    }
    bool dup = strstr(body, "您已经抢到票了") != NULL;

    if (dup || strstr(body, "抢票成功") != NULL) {
        const char *t = strstr(body, "ticket=");
        size_t n = t != NULL ? strspn(t + 7, "0123456789abcdef") : 0;

        if (n != 16) {
            return K_OTHER; /* a ticket reply must carry its link */
        }
        if (!dup && tickets_fp != NULL) {
            fprintf(tickets_fp, "%s%07" PRIu64 " %.*s\n", opt.prefix,
                    c->user, (int)n, t + 7);
        }
        return dup ? K_DUPLICATE : K_SUCCESS;
    }
    return K_OTHER;
}

static void
record(enum kind k, int64_t start_ns)
{
    int64_t end = now_ns();

    counts[k]++;
    done++;
    if (nsamples == capsamples) {
        capsamples = capsamples ? capsamples * 2 : 1 << 16;
        samples = tk_xrealloc(samples, (size_t)capsamples * sizeof(*samples));
    }
    samples[nsamples].us = (uint32_t)TK_MIN((end - start_ns) / 1000,
                                            (int64_t)UINT32_MAX);
    samples[nsamples].sec = (uint32_t)((end - t0_ns) / 1000000000);
    nsamples++;
}

static bool
finished(void)
{
    if (interrupted) {
        return true;
    }
    if (opt.duration > 0) {
        return (double)(now_ns() - t0_ns) / 1e9 >= opt.duration;
    }
    return sent >= opt.requests;
}

static int
conn_open(int ep, struct conn *c)
{
    struct epoll_event ev = {0};
    int one = 1;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        return -errno;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 &&
        errno != EINPROGRESS) {
        int e = errno;

        close(c->fd);
        c->fd = -1;
        return -e;
    }
    ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
    ev.data.ptr = c;
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    return 0;
}

static void
conn_close(struct conn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    tk_buf_reset(&c->in);
}

static void
conn_start(int ep, struct conn *c)
{
    if (finished()) {
        return;
    }
    if (c->fd < 0 && conn_open(ep, c) < 0) {
        record(K_CONN, now_ns());
        sent++;
        return;
    }
    build_request(c);
    sent++;
    c->busy = true;
    busy_conns++;
    c->start_ns = now_ns();
    tk_buf_reset(&c->in);
}

static void
conn_fail(int ep, struct conn *c, enum kind k)
{
    if (c->busy) {
        record(k, c->start_ns);
        c->busy = false;
        busy_conns--;
    }
    conn_close(c);
    conn_start(ep, c);
}

/* Returns 1 when a whole response is in c->in, 0 when more is needed,
 * -1 on a malformed response. */
static int
parse_response(struct conn *c, int *status, const char **body,
               size_t *blen, bool *close_after)
{
    const char *d = tk_buf_str(&c->in);
    const char *eoh = strstr(d, "\r\n\r\n");
    long clen = -1;

    if (eoh == NULL) {
        return c->in.len > 65536 ? -1 : 0;
    }
    if (sscanf(d, "HTTP/1.%*d %d", status) != 1) {
        return -1;
    }
    *close_after = false;
    for (const char *h = strstr(d, "\r\n") + 2; h < eoh;
         h = strstr(h, "\r\n") + 2) {
        if (strncasecmp(h, "Content-Length:", 15) == 0) {
            clen = strtol(h + 15, NULL, 10);
        } else if (strncasecmp(h, "Connection: close", 17) == 0) {
            *close_after = true;
        } else if (strncasecmp(h, "Transfer-Encoding: chunked", 26) == 0) {
            return -1; /* nginx sends lengths to fastcgi responses here */
        }
    }
    if (clen < 0) {
        return -1;
    }
    size_t hlen = (size_t)(eoh + 4 - d);

    if (c->in.len < hlen + (size_t)clen) {
        return 0;
    }
    *body = d + hlen;
    *blen = (size_t)clen;
    return 1;
}

static void
on_event(int ep, struct conn *c, uint32_t events)
{
    if (events & (EPOLLERR | EPOLLHUP)) {
        if (!(events & EPOLLIN)) {
            conn_fail(ep, c, K_CONN);
            return;
        }
    }
    if (c->busy && c->out_off < c->out_len) {
        for (;;) {
            ssize_t n = write(c->fd, c->out + c->out_off,
                              c->out_len - c->out_off);

            if (n > 0) {
                c->out_off += (size_t)n;
                if (c->out_off == c->out_len) {
                    break;
                }
            } else if (n < 0 && errno == EAGAIN) {
                break;
            } else {
                conn_fail(ep, c, K_CONN);
                return;
            }
        }
    }
    bool eof = false;

    for (;;) {
        char tmp[16384];
        ssize_t n = read(c->fd, tmp, sizeof(tmp));

        if (n > 0) {
            tk_buf_add(&c->in, tmp, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            break;
        }
        /* EOF or error. nginx sends the last response of a connection
         * (keepalive_requests, "Connection: close") and its FIN together:
         * a whole response in the buffer still counts. */
        eof = true;
        break;
    }
    if (!c->busy) {
        if (eof) {
            conn_close(c);
            conn_start(ep, c);
        }
        return;
    }
    int status;
    const char *body;
    size_t blen;
    bool close_after;
    int r = parse_response(c, &status, &body, &blen, &close_after);

    if (r < 0) {
        conn_fail(ep, c, K_HTTP);
        return;
    }
    if (r == 0) {
        if (eof) {
            conn_fail(ep, c, K_CONN);
        }
        return;
    }
    close_after = close_after || eof;
    enum kind k = classify(status, body, blen, c);

    record(k, c->start_ns);
    c->busy = false;
    busy_conns--;
    if (close_after) {
        conn_close(c);
    }
    conn_start(ep, c);
    if (c->busy && c->fd >= 0) {
        /* Edge-triggered: try the write now; EPOLLOUT may not fire again
         * on a socket that stayed writable. */
        on_event(ep, c, EPOLLOUT);
    }
}

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

static double
pct(uint32_t *v, long n, double p)
{
    if (n == 0) {
        return 0;
    }
    long i = (long)(p * (double)(n - 1) + 0.5);

    return v[i] / 1000.0;
}

static void
on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void
parse_url(const char *url)
{
    static char host[256];
    const char *p = url;

    if (strncmp(p, "http://", 7) == 0) {
        p += 7;
    }
    size_t n = strcspn(p, ":/");

    if (n == 0 || n >= sizeof(host)) {
        usage();
    }
    memcpy(host, p, n);
    host[n] = '\0';
    opt.host = host;
    if (p[n] == ':') {
        opt.port = atoi(p + n + 1);
    }
}

/*
 * The host's CPU time by CPU (/proc/stat, in ticks): the work each CPU did
 * (user, nice, system, irq, softirq), the time the hypervisor gave to
 * other guests (steal) and all of its time, read when the clock starts
 * and when it stops: which CPU was the bottleneck, and how much of the
 * machine the run did not get. Nothing when /proc/stat cannot be read.
 */
#define CPUS_MAX 64

struct cpu_times {
    int n;
    unsigned long long work[CPUS_MAX], steal[CPUS_MAX], all[CPUS_MAX];
};

static void
cpu_times(struct cpu_times *c)
{
    FILE *f = fopen("/proc/stat", "r");
    char line[512];

    memset(c, 0, sizeof(*c));
    if (f == NULL) {
        return;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned long long v[8] = {0};
        unsigned k;

        /* "cpuN ...": the per-CPU lines, not the "cpu " total */
        if (strncmp(line, "cpu", 3) != 0 || line[3] < '0' || line[3] > '9' ||
            sscanf(line + 3, "%u %llu %llu %llu %llu %llu %llu %llu %llu", &k,
                   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                   &v[7]) != 9 ||
            k >= CPUS_MAX) {
            continue;
        }
        /* user nice system idle iowait irq softirq steal */
        c->work[k] = v[0] + v[1] + v[2] + v[5] + v[6];
        c->steal[k] = v[7];
        c->all[k] = c->work[k] + v[3] + v[4] + v[7];
        c->n = TK_MAX(c->n, (int)k + 1);
    }
    fclose(f);
}

/* This process's CPU time (user and system), in seconds. */
static double
self_cpu_s(void)
{
    struct rusage ru;

    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        return 0;
    }
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int
main(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

#define VAL() (v ? (i++, v) : (usage(), ""))
        if (strcmp(a, "-u") == 0) {
            parse_url(VAL());
        } else if (strcmp(a, "-c") == 0) {
            opt.conns = atoi(VAL());
        } else if (strcmp(a, "-n") == 0) {
            opt.requests = atol(VAL());
        } else if (strcmp(a, "-d") == 0) {
            opt.duration = atof(VAL());
        } else if (strcmp(a, "--users") == 0) {
            opt.users = strtoull(VAL(), NULL, 10);
        } else if (strcmp(a, "--first") == 0) {
            opt.first = strtoull(VAL(), NULL, 10);
        } else if (strcmp(a, "--prefix") == 0) {
            opt.prefix = VAL();
        } else if (strcmp(a, "--token") == 0) {
            opt.token = VAL();
        } else if (strcmp(a, "--to") == 0) {
            opt.to = VAL();
        } else if (strcmp(a, "--timeout-ms") == 0) {
            opt.timeout_ms = atoi(VAL());
        } else if (strcmp(a, "-o") == 0) {
            opt.json_out = VAL();
        } else if (strcmp(a, "--tickets-out") == 0) {
            opt.tickets_out = VAL();
        } else if (strcmp(a, "--aes-key") == 0) {
            opt.aes_key = VAL();
        } else if (strcmp(a, "--appid") == 0) {
            opt.appid = VAL();
        } else if (strcmp(a, "-q") == 0) {
            opt.quiet = true;
        } else {
            usage();
        }
#undef VAL
    }
    if (i >= argc) {
        usage();
    }
    if (strcmp(argv[i], "get") == 0 && i + 1 < argc) {
        opt.mode = MODE_GET;
        opt.path = argv[i + 1];
    } else if (strcmp(argv[i], "grab") == 0 && i + 1 < argc) {
        opt.mode = MODE_GRAB;
        opt.key = argv[i + 1];
    } else if (strcmp(argv[i], "refund") == 0 && i + 1 < argc) {
        opt.mode = MODE_REFUND;
        opt.key = argv[i + 1];
    } else if (strcmp(argv[i], "query") == 0) {
        opt.mode = MODE_QUERY;
    } else {
        usage();
    }
    if (opt.conns < 1 || opt.conns > 10000 || opt.users < 1 ||
        (opt.requests < 1 && opt.duration <= 0)) {
        usage();
    }
    if ((opt.aes_key != NULL) != (opt.appid != NULL) ||
        (opt.aes_key != NULL &&
         tk_wxcrypt_key_decode(opt.aes_key, strlen(opt.aes_key), aes_key) <
             0)) {
        fprintf(stderr, "tkload: --aes-key needs --appid and 43 base64 "
                        "characters\n");
        return 2;
    }
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)opt.port);
    if (inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1) {
        fprintf(stderr, "tkload: host must be an IPv4 address: %s\n",
                opt.host);
        return 2;
    }
    if (opt.tickets_out != NULL) {
        tickets_fp = fopen(opt.tickets_out, "w");
        if (tickets_fp == NULL) {
            perror(opt.tickets_out);
            return 1;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    make_signature();
    /* Unique message ids per run: WeChat retries are deduplicated by
     * MsgId, and a rerun must not be mistaken for a retry. */
    {
        uint64_t r;

        tk_random_bytes(&r, sizeof(r));
        /* 19 digits, the low 32 bits free for the request's number. */
        msgid_base = (MSGID_MIN + r % (8 * MSGID_MIN)) & ~(uint64_t)0xffffffff;
        if (msgid_base < MSGID_MIN) {
            msgid_base += (uint64_t)1 << 32;
        }
    }
    prepare_requests();

    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct conn *cs = tk_xcalloc((size_t)opt.conns, sizeof(*cs));

    struct cpu_times cpu0, cpu1;
    double self0 = self_cpu_s();

    cpu_times(&cpu0);
    t0_ns = now_ns();
    for (int k = 0; k < opt.conns; k++) {
        cs[k].fd = -1;
        conn_start(ep, &cs[k]);
    }
    struct epoll_event evs[256];

    int64_t scanned = t0_ns;

    for (;;) {
        if (busy_conns == 0 && finished()) {
            break;
        }
        int n = epoll_wait(ep, evs, 256, 100);

        for (int k = 0; k < n; k++) {
            on_event(ep, evs[k].data.ptr, evs[k].events);
        }
        int64_t now = now_ns();

        /* Timeouts and reconnections: every 10 ms is soon enough, and a
         * pass over every connection after each wake-up is not free. */
        if (now - scanned < 10 * 1000000 && n > 0) {
            continue;
        }
        scanned = now;
        for (int k = 0; k < opt.conns; k++) {
            if (cs[k].busy &&
                now - cs[k].start_ns > (int64_t)opt.timeout_ms * 1000000) {
                conn_fail(ep, &cs[k], K_TIMEOUT);
            } else if (!cs[k].busy && cs[k].fd < 0 && !finished()) {
                conn_start(ep, &cs[k]);
            }
        }
    }
    double secs = (double)(now_ns() - t0_ns) / 1e9;
    double self = self_cpu_s() - self0;

    cpu_times(&cpu1);
    if (tickets_fp != NULL) {
        fclose(tickets_fp);
    }

    /* Summary */
    uint32_t *lat = tk_xmalloc((size_t)(nsamples ? nsamples : 1) *
                               sizeof(uint32_t));
    uint32_t maxsec = 0;

    for (long k = 0; k < nsamples; k++) {
        lat[k] = samples[k].us;
        maxsec = TK_MAX(maxsec, samples[k].sec);
    }
    qsort(lat, (size_t)nsamples, sizeof(uint32_t), cmp_u32);
    double rps = secs > 0 ? (double)done / secs : 0;
    long errors = counts[K_HTTP] + counts[K_TIMEOUT] + counts[K_CONN] +
                  (opt.mode == MODE_GET ? 0 : counts[K_OTHER]);

    if (!opt.quiet) {
        printf("requests %ld in %.2f s: %.0f req/s; latency ms p50 %.2f "
               "p90 %.2f p99 %.2f max %.2f\n",
               done, secs, rps, pct(lat, nsamples, 0.5),
               pct(lat, nsamples, 0.9), pct(lat, nsamples, 0.99),
               nsamples ? lat[nsamples - 1] / 1000.0 : 0.0);
        printf("replies:");
        for (int k = 0; k < K_KINDS; k++) {
            printf(" %s %ld", kind_names[k], counts[k]);
        }
        printf("\n");
    }
    if (opt.json_out != NULL) {
        FILE *f = fopen(opt.json_out, "w");

        if (f == NULL) {
            perror(opt.json_out);
            return 1;
        }
        fprintf(f,
                "{\"requests\": %ld, \"seconds\": %.3f, \"rps\": %.1f, "
                "\"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, "
                "\"max_ms\": %.3f, \"errors\": %ld, \"connections\": %d",
                done, secs, rps, pct(lat, nsamples, 0.5),
                pct(lat, nsamples, 0.9), pct(lat, nsamples, 0.99),
                nsamples ? lat[nsamples - 1] / 1000.0 : 0.0, errors,
                opt.conns);
        for (int k = 0; k < K_KINDS; k++) {
            fprintf(f, ", \"%s\": %ld", kind_names[k], counts[k]);
        }
        /* Where the CPU time went: each CPU's share spent working, the
         * machine's share stolen, and tkload's own time (it shares a CPU
         * with the web server when the bench pins). */
        unsigned long long stolen = 0, all = 0;

        fprintf(f, ", \"cpu_busy_pct\": [");
        for (int k = 0; k < TK_MIN(cpu0.n, cpu1.n); k++) {
            unsigned long long a = cpu1.all[k] - cpu0.all[k];

            fprintf(f, "%s%.1f", k ? ", " : "",
                    a ? 100.0 * (double)(cpu1.work[k] - cpu0.work[k]) /
                            (double)a
                      : 0.0);
            stolen += cpu1.steal[k] - cpu0.steal[k];
            all += a;
        }
        fprintf(f, "], \"steal_pct\": %.1f, \"self_cpu_s\": %.3f",
                all ? 100.0 * (double)stolen / (double)all : 0.0, self);
        /* Per-second series: completions and p99 of each second. */
        fprintf(f, ", \"series\": [");
        uint32_t *sec = tk_xmalloc((size_t)(nsamples ? nsamples : 1) *
                                   sizeof(uint32_t));

        for (uint32_t s = 0; s <= maxsec && nsamples > 0; s++) {
            long m = 0;

            for (long k = 0; k < nsamples; k++) {
                if (samples[k].sec == s) {
                    sec[m++] = samples[k].us;
                }
            }
            qsort(sec, (size_t)m, sizeof(uint32_t), cmp_u32);
            fprintf(f, "%s[%u, %ld, %.3f]", s ? ", " : "", s, m,
                    pct(sec, m, 0.99));
        }
        fprintf(f, "]}\n");
        free(sec);
        fclose(f);
    }
    free(lat);
    free(samples);
    for (int k = 0; k < opt.conns; k++) {
        conn_close(&cs[k]);
        tk_buf_release(&cs[k].in);
        tk_buf_release(&cs[k].own);
    }
    free(cs);
    free(pre_off);
    tk_buf_release(&pre);
    tk_buf_release(&tpl);
    close(ep);
    return errors > 0 ? 1 : 0;
}
