/*
 * The only user of libconfig. Options are declared once, in the table
 * below; loading walks the table for values and the file for unknown names,
 * collecting every error before giving up.
 */
#include "conf.h"

#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "util.h"

enum opt_type { OPT_STR, OPT_INT, OPT_BOOL, OPT_MODE };

#define OPT_SECRET 0x1u  /* wiped on release, hidden in dumps */
#define OPT_NONEMPTY 0x2u

struct opt {
    const char *name; /* "section.option" */
    enum opt_type type;
    size_t off;
    const char *def_str; /* OPT_STR, OPT_MODE */
    long long def_int;   /* OPT_INT, OPT_BOOL */
    long long min, max;  /* OPT_INT bounds; OPT_STR max length */
    unsigned flags;
    /* Returns NULL or a message for a bad value. */
    const char *(*check)(const char *value);
};

#define O(f) offsetof(struct tk_conf, f)
#define STR(n, f, d, maxlen, fl, chk) {n, OPT_STR, O(f), d, 0, 0, maxlen, fl, chk}
#define INT(n, f, d, lo, hi) {n, OPT_INT, O(f), NULL, d, lo, hi, 0, NULL}
#define BOOL(n, f, d) {n, OPT_BOOL, O(f), NULL, d, 0, 1, 0, NULL}

static const char *check_aes_key(const char *v);
static const char *check_url(const char *v);
static const char *check_listen(const char *v);
static const char *check_level(const char *v);
static const char *check_secret(const char *v);

static const struct opt opts[] = {
    STR("wechat.token", wechat.token, "", 32, OPT_SECRET | OPT_NONEMPTY, NULL),
    STR("wechat.appid", wechat.appid, "", 32, 0, NULL),
    STR("wechat.original_id", wechat.original_id, "", 64, 0, NULL),
    STR("wechat.aes_key", wechat.aes_key, "", 43, OPT_SECRET, check_aes_key),
    STR("wechat.aes_key_previous", wechat.aes_key_previous, "", 43,
        OPT_SECRET, check_aes_key),
    BOOL("wechat.require_encryption", wechat.require_encryption, 0),
    INT("wechat.max_clock_skew", wechat.max_clock_skew, 300, 0, 86400),
    INT("wechat.dedupe_ttl_s", wechat.dedupe_ttl_s, 600, 30, 7 * 86400),
    INT("wechat.deadline_ms", wechat.deadline_ms, 3000, 100, 4500),
    STR("wechat.api_base", wechat.api_base, "https://api.weixin.qq.com", 256,
        0, check_url),
    STR("wechat.appsecret", wechat.appsecret, "", 64, OPT_SECRET, NULL),

    STR("site.base_url", site.base_url, "http://127.0.0.1:8080", 256,
        OPT_NONEMPTY, check_url),
    STR("site.link_secret", site.link_secret, "", 256,
        OPT_SECRET | OPT_NONEMPTY, check_secret),
    STR("site.upload_dir", site.upload_dir, "/var/lib/ticketd/uploads", 1024,
        OPT_NONEMPTY, NULL),
    STR("site.upload_url", site.upload_url, "/uploads", 256, OPT_NONEMPTY,
        NULL),
    INT("site.upload_max_kb", site.upload_max_kb, 2048, 1, 65536),
    INT("site.session_ttl_s", site.session_ttl_s, 8 * 3600, 60, 30 * 86400),
    INT("site.login_max_failures", site.login_max_failures, 5, 1, 1000),
    INT("site.login_window_s", site.login_window_s, 900, 10, 86400),

    STR("fcgi.listen", fcgi.listen, "/run/ticketd/ticketd.sock", 107,
        OPT_NONEMPTY, check_listen),
    {"fcgi.socket_mode", OPT_MODE, O(fcgi.socket_mode), "0660", 0, 0, 0777, 0,
     NULL},
    INT("fcgi.workers", fcgi.workers, 2, 1, 256),
    INT("fcgi.threads", fcgi.threads, 32, 1, 1024),
    INT("fcgi.backlog", fcgi.backlog, 1024, 1, 65535),
    INT("fcgi.shed_after_ms", fcgi.shed_after_ms, 2000, 0, 4500),
    INT("fcgi.stop_timeout_ms", fcgi.stop_timeout_ms, 10000, 100, 600000),
    INT("fcgi.max_body_kb", fcgi.max_body_kb, 64, 1, 65536),
    INT("fcgi.watchdog_ms", fcgi.watchdog_ms, 0, 0, 3600000),

    STR("redis.host", redis.host, "127.0.0.1", 255, 0, NULL),
    INT("redis.port", redis.port, 6379, 1, 65535),
    STR("redis.socket", redis.socket, "", 107, 0, NULL),
    STR("redis.password", redis.password, "", 256, OPT_SECRET, NULL),
    INT("redis.timeout_ms", redis.timeout_ms, 500, 10, 60000),
    INT("redis.connect_timeout_ms", redis.connect_timeout_ms, 500, 10, 60000),
    BOOL("redis.pipeline", redis.pipeline, 1),
    BOOL("redis.one_trip_grab", redis.one_trip_grab, 1),

    STR("mysql.host", mysql.host, "127.0.0.1", 255, 0, NULL),
    INT("mysql.port", mysql.port, 3306, 1, 65535),
    STR("mysql.socket", mysql.socket, "", 107, 0, NULL),
    STR("mysql.user", mysql.user, "ticketd", 80, OPT_NONEMPTY, NULL),
    STR("mysql.password", mysql.password, "", 256, OPT_SECRET, NULL),
    STR("mysql.database", mysql.database, "ticketd", 64, OPT_NONEMPTY, NULL),
    INT("mysql.timeout_ms", mysql.timeout_ms, 3000, 100, 600000),

    INT("cache.ttl_s", cache.ttl_s, 300, 1, 86400 * 30),
    INT("cache.null_ttl_s", cache.null_ttl_s, 30, 1, 86400),
    INT("cache.lock_ttl_ms", cache.lock_ttl_ms, 3000, 10, 60000),
    INT("cache.lock_wait_ms", cache.lock_wait_ms, 200, 1, 10000),
    INT("cache.local_ttl_ms", cache.local_ttl_ms, 2000, 0, 600000),
    INT("cache.soldout_ms", cache.soldout_ms, 500, 0, 60000),

    STR("persist.consumer", persist.consumer, "", 64, 0, NULL),
    INT("persist.batch_max", persist.batch_max, 1000, 1, 100000),
    INT("persist.batch_ms", persist.batch_ms, 50, 1, 60000),
    INT("persist.block_ms", persist.block_ms, 200, 1, 60000),
    INT("persist.max_deliveries", persist.max_deliveries, 5, 1, 1000),
    INT("persist.claim_idle_ms", persist.claim_idle_ms, 30000, 100, 3600000),
    INT("persist.backoff_max_ms", persist.backoff_max_ms, 5000, 10, 600000),

    STR("log.level", log.level, "info", 16, 0, check_level),
};

static const char *
check_aes_key(const char *v)
{
    size_t n = strlen(v);

    if (n == 0) {
        return NULL;
    }
    if (n != 43) {
        return "must be 43 characters (EncodingAESKey)";
    }
    for (size_t i = 0; i < n; i++) {
        char c = v[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9'))) {
            return "must consist of the characters a-z, A-Z and 0-9";
        }
    }
    return NULL;
}

static const char *
check_url(const char *v)
{
    if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0) {
        return "must start with http:// or https://";
    }
    if (v[strlen(v) - 1] == '/') {
        return "must not end with '/'";
    }
    return NULL;
}

static const char *
check_listen(const char *v)
{
    if (v[0] == '/') {
        return NULL;
    }
    const char *colon = strrchr(v, ':');

    if (colon == NULL || colon == v) {
        return "must be an absolute socket path or host:port";
    }
    int64_t port;

    if (tk_parse_i64(colon + 1, &port) < 0 || port < 1 || port > 65535) {
        return "port must be between 1 and 65535";
    }
    return NULL;
}

static const char *
check_level(const char *v)
{
    if (tk_log_level_from_name(v) < 0) {
        return "must be one of err, warning, notice, info, debug";
    }
    return NULL;
}

static const char *
check_secret(const char *v)
{
    if (strlen(v) < 16) {
        return "must be at least 16 characters";
    }
    return NULL;
}

static char **
opt_str(struct tk_conf *c, const struct opt *o)
{
    return (char **)((char *)c + o->off);
}

static int *
opt_int(struct tk_conf *c, const struct opt *o)
{
    return (int *)((char *)c + o->off);
}

static bool *
opt_bool(struct tk_conf *c, const struct opt *o)
{
    return (bool *)((char *)c + o->off);
}

static int
parse_mode(const char *s, int *mode)
{
    char *end;
    long v;

    if (s[0] != '0' || strlen(s) > 4) {
        return -EINVAL;
    }
    v = strtol(s, &end, 8);
    if (*end != '\0' || v < 0 || v > 0777) {
        return -EINVAL;
    }
    *mode = (int)v;
    return 0;
}

void
tk_conf_defaults(struct tk_conf *conf)
{
    memset(conf, 0, sizeof(*conf));
    for (size_t i = 0; i < TK_ARRAY_SIZE(opts); i++) {
        const struct opt *o = &opts[i];

        switch (o->type) {
        case OPT_STR:
            *opt_str(conf, o) = tk_xstrdup(o->def_str);
            break;
        case OPT_INT:
            *opt_int(conf, o) = (int)o->def_int;
            break;
        case OPT_BOOL:
            *opt_bool(conf, o) = o->def_int != 0;
            break;
        case OPT_MODE:
            (void)parse_mode(o->def_str, opt_int(conf, o));
            break;
        }
    }
}

void
tk_conf_release(struct tk_conf *conf)
{
    if (conf == NULL) {
        return;
    }
    for (size_t i = 0; i < TK_ARRAY_SIZE(opts); i++) {
        const struct opt *o = &opts[i];

        if (o->type == OPT_STR) {
            char **p = opt_str(conf, o);

            if (o->flags & OPT_SECRET) {
                tk_free_secret(*p);
            } else {
                free(*p);
            }
            *p = NULL;
        }
    }
    free(conf->path);
    conf->path = NULL;
}

struct loader {
    const char *file;
    FILE *err;
    int errors;
};

static void TK_PRINTF(3, 4)
report(struct loader *l, int line, const char *fmt, ...)
{
    va_list ap;

    fprintf(l->err, "%s:%d: ", l->file, line);
    va_start(ap, fmt);
    vfprintf(l->err, fmt, ap);
    va_end(ap);
    fputc('\n', l->err);
    l->errors++;
}

static const struct opt *
find_opt(const char *section, const char *name)
{
    size_t sl = strlen(section);

    for (size_t i = 0; i < TK_ARRAY_SIZE(opts); i++) {
        const char *n = opts[i].name;

        if (strncmp(n, section, sl) == 0 && n[sl] == '.' &&
            strcmp(n + sl + 1, name) == 0) {
            return &opts[i];
        }
    }
    return NULL;
}

static bool
is_section(const char *name)
{
    size_t nl = strlen(name);

    for (size_t i = 0; i < TK_ARRAY_SIZE(opts); i++) {
        if (strncmp(opts[i].name, name, nl) == 0 && opts[i].name[nl] == '.') {
            return true;
        }
    }
    return false;
}

static void
load_setting(struct loader *l, struct tk_conf *conf, const struct opt *o,
             config_setting_t *s)
{
    int line = (int)config_setting_source_line(s);
    int type = config_setting_type(s);

    switch (o->type) {
    case OPT_STR:
    case OPT_MODE: {
        if (type != CONFIG_TYPE_STRING) {
            report(l, line, "%s: expected a string in double quotes",
                   o->name);
            return;
        }
        const char *v = config_setting_get_string(s);
        size_t n = strlen(v);

        if (o->type == OPT_MODE) {
            if (parse_mode(v, opt_int(conf, o)) < 0) {
                report(l, line, "%s: expected an octal mode such as \"0660\"",
                       o->name);
            }
            return;
        }
        if ((long long)n > o->max) {
            report(l, line, "%s: longer than %lld bytes", o->name, o->max);
            return;
        }
        if (!tk_utf8_is_valid(v, n)) {
            report(l, line, "%s: not valid UTF-8", o->name);
            return;
        }
        if ((o->flags & OPT_NONEMPTY) && n == 0) {
            report(l, line, "%s: must not be empty", o->name);
            return;
        }
        const char *msg = o->check != NULL && n > 0 ? o->check(v) : NULL;

        if (msg != NULL) {
            report(l, line, "%s: %s", o->name, msg);
            return;
        }
        char **p = opt_str(conf, o);

        if (o->flags & OPT_SECRET) {
            tk_free_secret(*p);
        } else {
            free(*p);
        }
        *p = tk_xstrdup(v);
        return;
    }
    case OPT_INT: {
        long long v;

        if (type == CONFIG_TYPE_INT) {
            v = config_setting_get_int(s);
        } else if (type == CONFIG_TYPE_INT64) {
            v = config_setting_get_int64(s);
        } else {
            report(l, line, "%s: expected an integer", o->name);
            return;
        }
        if (v < o->min || v > o->max) {
            report(l, line, "%s: %lld is out of range %lld..%lld", o->name, v,
                   o->min, o->max);
            return;
        }
        *opt_int(conf, o) = (int)v;
        return;
    }
    case OPT_BOOL:
        if (type != CONFIG_TYPE_BOOL) {
            report(l, line, "%s: expected true or false", o->name);
            return;
        }
        *opt_bool(conf, o) = config_setting_get_bool(s) != 0;
        return;
    }
}

/* Options that depend on each other. Reported against the file's line of
 * the option in question, or 1 when it was not set. */
static void
check_combinations(struct loader *l, struct tk_conf *conf, config_t *cfg)
{
    config_setting_t *s;

    for (size_t i = 0; i < TK_ARRAY_SIZE(opts); i++) {
        const struct opt *o = &opts[i];

        if (o->type == OPT_STR && (o->flags & OPT_NONEMPTY) &&
            **opt_str(conf, o) == '\0' && config_lookup(cfg, o->name) == NULL) {
            report(l, 1, "%s: required but not set", o->name);
        }
    }
    if (conf->wechat.require_encryption && conf->wechat.aes_key[0] == '\0') {
        s = config_lookup(cfg, "wechat.require_encryption");
        report(l, s ? (int)config_setting_source_line(s) : 1,
               "wechat.require_encryption: needs wechat.aes_key");
    }
    if (conf->wechat.aes_key[0] != '\0' && conf->wechat.appid[0] == '\0') {
        s = config_lookup(cfg, "wechat.aes_key");
        report(l, s ? (int)config_setting_source_line(s) : 1,
               "wechat.aes_key: needs wechat.appid (checked after decryption)");
    }
}

static bool
has_secret(struct tk_conf *conf)
{
    for (size_t i = 0; i < TK_ARRAY_SIZE(opts); i++) {
        if ((opts[i].flags & OPT_SECRET) && opts[i].type == OPT_STR &&
            **opt_str(conf, &opts[i]) != '\0') {
            return true;
        }
    }
    return false;
}

int
tk_conf_load(struct tk_conf *conf, const char *path, FILE *err)
{
    struct loader l = {path, err, 0};
    config_t cfg;
    struct stat st;
    FILE *fp;

    tk_conf_defaults(conf);
    fp = fopen(path, "r");
    if (fp == NULL) {
        int e = errno;

        fprintf(err, "%s: cannot open: %s\n", path, strerror(e));
        tk_conf_release(conf);
        return -e;
    }
    if (fstat(fileno(fp), &st) < 0 || !S_ISREG(st.st_mode)) {
        fprintf(err, "%s: not a regular file\n", path);
        fclose(fp);
        tk_conf_release(conf);
        return -EINVAL;
    }
    config_init(&cfg);
    if (config_read(&cfg, fp) != CONFIG_TRUE) {
        report(&l, config_error_line(&cfg), "syntax error: %s",
               config_error_text(&cfg));
        goto failed;
    }

    config_setting_t *root = config_root_setting(&cfg);
    int nsec = config_setting_length(root);

    for (int i = 0; i < nsec; i++) {
        config_setting_t *sec = config_setting_get_elem(root, (unsigned)i);
        const char *sname = config_setting_name(sec);
        int sline = (int)config_setting_source_line(sec);

        if (!is_section(sname)) {
            report(&l, sline, "%s: unknown section", sname);
            continue;
        }
        if (config_setting_type(sec) != CONFIG_TYPE_GROUP) {
            report(&l, sline, "%s: expected a group { ... }", sname);
            continue;
        }
        int n = config_setting_length(sec);

        for (int j = 0; j < n; j++) {
            config_setting_t *s = config_setting_get_elem(sec, (unsigned)j);
            const struct opt *o = find_opt(sname, config_setting_name(s));

            if (o == NULL) {
                report(&l, (int)config_setting_source_line(s),
                       "%s.%s: unknown option", sname, config_setting_name(s));
                continue;
            }
            load_setting(&l, conf, o, s);
        }
    }
    check_combinations(&l, conf, &cfg);
    if (has_secret(conf) && (st.st_mode & 0077) != 0) {
        report(&l, 1,
               "holds secrets but is accessible by group or others "
               "(mode %04o; chmod 600)",
               (unsigned)(st.st_mode & 07777));
    }
    if (l.errors > 0) {
        goto failed;
    }
    config_destroy(&cfg);
    fclose(fp);
    conf->path = tk_xstrdup(path);
    return 0;

failed:
    config_destroy(&cfg);
    fclose(fp);
    tk_conf_release(conf);
    return -EINVAL;
}

void
tk_conf_dump(const struct tk_conf *conf, FILE *out)
{
    struct tk_conf *c = (struct tk_conf *)conf;

    for (size_t i = 0; i < TK_ARRAY_SIZE(opts); i++) {
        const struct opt *o = &opts[i];

        switch (o->type) {
        case OPT_STR:
            fprintf(out, "%s = \"%s\"\n", o->name,
                    (o->flags & OPT_SECRET) && **opt_str(c, o) != '\0'
                        ? "***"
                        : *opt_str(c, o));
            break;
        case OPT_INT:
            fprintf(out, "%s = %d\n", o->name, *opt_int(c, o));
            break;
        case OPT_BOOL:
            fprintf(out, "%s = %s\n", o->name,
                    *opt_bool(c, o) ? "true" : "false");
            break;
        case OPT_MODE:
            fprintf(out, "%s = \"%04o\"\n", o->name, (unsigned)*opt_int(c, o));
            break;
        }
    }
}
