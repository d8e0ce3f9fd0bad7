/*
 * The configuration: one libconfig file, one table of options (conf.c)
 * with type, bounds, default and a validator each. Strings are owned by the
 * struct and freed by tk_conf_release(); secrets are wiped.
 */
#ifndef TK_CONF_H
#define TK_CONF_H

#include <stdbool.h>
#include <stdio.h>

struct tk_conf {
    char *path; /* the file it came from */
    struct {
        char *token;
        char *appid;
        char *original_id; /* gh_...; "" accepts any ToUserName */
        char *aes_key;
        char *aes_key_previous;
        bool require_encryption;
        int max_clock_skew;  /* seconds; 0 disables the check */
        int dedupe_ttl_s;    /* how long a reply is kept for retries */
        int deadline_ms;     /* budget for one message before "busy" */
        char *api_base;      /* WeChat API base URL, for menu sync */
        char *appsecret;
    } wechat;
    struct {
        char *base_url;
        char *link_secret;
        char *upload_dir;
        char *upload_url; /* URL prefix under which nginx serves uploads */
        int upload_max_kb;
        int session_ttl_s;
        int login_max_failures; /* per username and per address, window */
        int login_window_s;
    } site;
    struct {
        char *listen;
        int socket_mode;
        int workers;
        int threads;
        int backlog;
        int shed_after_ms;
        int stop_timeout_ms;
        int max_body_kb;
        int watchdog_ms; /* 0: follow WATCHDOG_USEC */
    } fcgi;
    struct {
        char *host;
        int port;
        char *socket;
        char *password;
        int timeout_ms;
        int connect_timeout_ms;
        bool pipeline; /* request threads share one connection per worker */
        bool one_trip_grab; /* 抢票 by tk_grab_bound (not on Redis Cluster) */
    } redis;
    struct {
        char *host;
        int port;
        char *socket;
        char *user;
        char *password;
        char *database;
        int timeout_ms;
    } mysql;
    struct {
        int ttl_s;
        int null_ttl_s;
        int lock_ttl_ms;
        int lock_wait_ms;
        int local_ttl_ms;   /* worker-local activity cache */
        int soldout_ms;     /* worker-local sold-out short-circuit */
    } cache;
    struct {
        char *consumer;     /* "" = the host name */
        int batch_max;
        int batch_ms;
        int block_ms;
        int max_deliveries; /* then to the dead-letter stream */
        int claim_idle_ms;
        int backoff_max_ms;
    } persist;
    struct {
        char *level;
    } log;
};

/*
 * Loads and validates path into conf (zeroed first). Every error is
 * reported to err as "file:line: message", all of them, not just the
 * first. Returns 0, or -EINVAL on errors (conf then holds nothing),
 * or -errno when the file cannot be read.
 */
int tk_conf_load(struct tk_conf *conf, const char *path, FILE *err);

/* Fills conf with the defaults only (for tests). */
void tk_conf_defaults(struct tk_conf *conf);

void tk_conf_release(struct tk_conf *conf);

/* Writes every option with its value to out (secrets shown as ***). */
void tk_conf_dump(const struct tk_conf *conf, FILE *out);

#endif
