#include "it.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

void
it_conf(struct tk_conf *conf)
{
    const char *dir = getenv("TK_DIR");
    char path[4096];

    if (dir == NULL || dir[0] == '\0') {
        fprintf(stderr, "it: TK_DIR must name a running stack\n");
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/ticketd.conf", dir);
    if (tk_conf_load(conf, path, stderr) != 0) {
        fprintf(stderr, "it: cannot load '%s'\n", path);
        exit(1);
    }
}

struct tk_redis *
it_redis(const struct tk_conf *conf)
{
    struct tk_redis *r = tk_redis_new(conf);

    assert_int_equal(tk_redis_open(r), 0);
    return r;
}

void
it_flush(struct tk_redis *r)
{
    struct tk_redis_reply *reply;

    assert_int_equal(tk_redis_cmd(r, &reply, "FLUSHALL", NULL), 0);
    assert_int_equal(reply->type, TK_REDIS_STATUS);
    tk_redis_reply_free(reply);
    assert_int_equal(tk_redis_functions_ensure(r, NULL), 0);
}

long long
it_int(struct tk_redis *r, ...)
{
    const char *argv[16];
    struct tk_redis_reply *reply;
    const char *s;
    int argc = 0;
    long long v;
    va_list ap;

    va_start(ap, r);
    while ((s = va_arg(ap, const char *)) != NULL && argc < 16) {
        argv[argc++] = s;
    }
    va_end(ap);
    assert_int_equal(tk_redis_command(r, argc, argv, NULL, &reply), 0);
    if (reply->type != TK_REDIS_INTEGER) {
        fail_msg("%s: not an integer reply: %s", argv[0],
                 reply->str != NULL ? reply->str : "(nil)");
    }
    v = reply->integer;
    tk_redis_reply_free(reply);
    return v;
}
