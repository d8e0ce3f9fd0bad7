#include "it.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

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

pid_t
it_persistd_pause(void)
{
    const char *dir = getenv("TK_DIR");
    char path[512];
    long pid = 0;
    FILE *f;

    if (dir == NULL) {
        return 0;
    }
    snprintf(path, sizeof(path), "%s/persistd.pid", dir);
    f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    if (fscanf(f, "%ld", &pid) != 1 || pid <= 1 ||
        kill((pid_t)pid, SIGSTOP) != 0) {
        pid = 0;
    }
    fclose(f);
    /* Let a statement or command it already sent finish. */
    usleep(200 * 1000);
    return (pid_t)pid;
}

void
it_persistd_resume(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGCONT);
    }
}
