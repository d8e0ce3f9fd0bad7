#include "redis.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/futex.h>

#include <hiredis/hiredis.h>

#include "conf.h"
#include "crypto.h"
#include "keys.h"
#include "log.h"
#include "util.h"

/* Generated from src/functions.lua by the Makefile: tk_functions_lua[]. */
#include "functions_lua.h"

#define MSGKEY_MAX 160 /* what tk_key_dedupe() keeps without truncating */
#define DEDUPE_TTL_MAX (30 * 86400)

static bool mux_is_connected(struct tk_redis_mux *m);
static int mux_exchange(struct tk_redis *r, const struct tk_redis_command *cmds,
                        size_t n, redisReply **replies, bool retry);

struct tk_redis {
    redisContext *c;          /* NULL when not connected */
    struct tk_redis_mux *mux; /* a shared handle's connection, else NULL */
    char *host;
    char *socket;
    char *password;
    int port;
    int timeout_ms;
    int connect_timeout_ms;
    uint64_t round_trips;
    size_t unread; /* replies sent for by tk_redis_send*() not received */
};

static struct timeval
ms_to_tv(int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

    return tv;
}

/* hiredis 0.14 writes with write(2), so a connection the server closed
 * raises SIGPIPE: a process that left it at the default would die. */
static void
ignore_sigpipe(void)
{
    struct sigaction sa;

    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_IGN;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGPIPE, &sa, NULL);
    }
}

struct tk_redis *
tk_redis_new(const struct tk_conf *conf)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    struct tk_redis *r = tk_xcalloc(1, sizeof(*r));

    pthread_once(&once, ignore_sigpipe);

    r->host = tk_xstrdup(conf->redis.host);
    r->socket = tk_xstrdup(conf->redis.socket);
    r->password = tk_xstrdup(conf->redis.password);
    r->port = conf->redis.port;
    r->timeout_ms = conf->redis.timeout_ms;
    r->connect_timeout_ms = conf->redis.connect_timeout_ms;
    return r;
}

void
tk_redis_free(struct tk_redis *r)
{
    if (r == NULL) {
        return;
    }
    tk_redis_close(r);
    free(r->host);
    free(r->socket);
    tk_free_secret(r->password);
    free(r);
}

void
tk_redis_close(struct tk_redis *r)
{
    if (r->c != NULL) {
        redisFree(r->c);
        r->c = NULL;
    }
    r->unread = 0;
}

bool
tk_redis_is_connected(const struct tk_redis *r)
{
    if (r->mux != NULL) {
        return mux_is_connected(r->mux);
    }
    return r->c != NULL;
}

uint64_t
tk_redis_round_trips(const struct tk_redis *r)
{
    return r->round_trips;
}

size_t
tk_redis_unread(const struct tk_redis *r)
{
    return r->unread;
}

static const char *
target(const struct tk_redis *r, char *buf, size_t size)
{
    if (r->socket[0] != '\0') {
        return r->socket;
    }
    snprintf(buf, size, "%s:%d", r->host, r->port);
    return buf;
}

/* The errno for a context error; the context is dead afterwards. */
static int
context_error(const redisContext *c)
{
    switch (c->err) {
    case REDIS_ERR_IO:
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ETIMEDOUT) {
            return -ETIMEDOUT;
        }
        return errno > 0 ? -errno : -EIO;
    case REDIS_ERR_EOF:
        return -ECONNRESET;
    default:
        return -EIO;
    }
}

int
tk_redis_open(struct tk_redis *r)
{
    char where[300];
    struct timeval ctv = ms_to_tv(r->connect_timeout_ms);
    redisContext *c;
    redisReply *reply = NULL;
    int rc;

    if (r->mux != NULL) {
        return tk_redis_ping(r);
    }
    if (r->c != NULL) {
        return 0;
    }
    if (r->socket[0] != '\0') {
        c = redisConnectUnixWithTimeout(r->socket, ctv);
    } else {
        c = redisConnectWithTimeout(r->host, r->port, ctv);
    }
    if (c == NULL) {
        tk_err("cannot allocate a redis context for '%s'",
               target(r, where, sizeof(where)));
        return -ENOMEM;
    }
    if (c->err != 0) {
        rc = context_error(c);
        tk_err("cannot connect to redis '%s': %s",
               target(r, where, sizeof(where)), c->errstr);
        goto fail;
    }
    /* Every new context: hiredis 0.14 keeps neither across a reconnect. */
    if (redisSetTimeout(c, ms_to_tv(r->timeout_ms)) != REDIS_OK ||
        (r->socket[0] == '\0' && redisEnableKeepAlive(c) != REDIS_OK)) {
        rc = context_error(c);
        tk_err("cannot set redis timeouts for '%s': %s",
               target(r, where, sizeof(where)), c->errstr);
        goto fail;
    }
    if (r->password[0] != '\0') {
        const char *argv[] = { "AUTH", r->password };

        reply = redisCommandArgv(c, 2, argv, NULL);
        if (reply == NULL) {
            rc = context_error(c);
            tk_err("cannot authenticate to redis '%s': %s",
                   target(r, where, sizeof(where)), c->errstr);
            goto fail;
        }
        if (reply->type == REDIS_REPLY_ERROR) {
            rc = -EACCES;
            tk_err("redis refused the password: %s", reply->str);
            goto fail;
        }
        freeReplyObject(reply);
    }
    r->c = c;
    return 0;

fail:
    if (reply != NULL) {
        freeReplyObject(reply);
    }
    redisFree(c);
    return rc;
}

int
tk_redis_reconnect(struct tk_redis *r)
{
    tk_redis_close(r);
    return tk_redis_open(r);
}

/* Appends cmds to c's output buffer (nothing is written yet). */
static bool
append_commands(redisContext *c, const struct tk_redis_command *cmds,
                size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (redisAppendCommandArgv(c, cmds[i].argc,
                                   (const char **)cmds[i].argv,
                                   cmds[i].argvlen) != REDIS_OK) {
            return false;
        }
    }
    return true;
}

/*
 * Sends n commands and reads n replies (one round trip). On a connection
 * failure the context is dropped and, when retry is set and the context was
 * an old one (the server may have closed it while idle), the whole batch is
 * sent once more on a new connection. replies[] are set only on success.
 */
static int
exchange(struct tk_redis *r, const struct tk_redis_command *cmds, size_t n,
         redisReply **replies, bool retry)
{
    char where[300];
    size_t got = 0;
    bool fresh;
    int rc;

    if (r->mux != NULL) {
        return mux_exchange(r, cmds, n, replies, retry);
    }
    if (r->unread > 0) {
        /* Their replies come first: this exchange would read them. */
        tk_err("redis: %zu replies of sent commands not received yet",
               r->unread);
        return -EBUSY;
    }
again:
    fresh = r->c == NULL;
    rc = tk_redis_open(r);
    if (rc < 0) {
        return rc;
    }
    if (!append_commands(r->c, cmds, n)) {
        goto io_error;
    }
    r->round_trips++;
    for (got = 0; got < n; got++) {
        void *p = NULL;

        if (redisGetReply(r->c, &p) != REDIS_OK || p == NULL) {
            goto io_error;
        }
        replies[got] = p;
    }
    return 0;

io_error:
    rc = context_error(r->c);
    for (size_t i = 0; i < got; i++) {
        freeReplyObject(replies[i]);
        replies[i] = NULL;
    }
    if (retry && !fresh) {
        tk_notice("redis connection to '%s' failed (%s); reconnecting",
                  target(r, where, sizeof(where)), r->c->errstr);
        tk_redis_close(r);
        retry = false;
        goto again;
    }
    tk_err("redis command failed on '%s': %s",
           target(r, where, sizeof(where)), r->c->errstr);
    tk_redis_close(r);
    return rc;
}

/* --- shared connection ------------------------------------------------ */

enum { JOB_WAIT, JOB_LEAD, JOB_DONE };

/*
 * One caller's commands, waiting for the connection or travelling on it.
 * It lives on the caller's stack, and so do the commands it points to: the
 * caller sleeps until the job is done, so both outlive every use.
 *
 * The caller sleeps on state itself (a futex), not on a condition variable
 * under the queue's mutex: woken, it needs no lock, so the leader can wake
 * the jobs of a batch without holding the mutex and no woken caller queues
 * on it behind the leader (which cost a second sleep and wake-up per grab
 * under load). Once state is JOB_DONE the caller may return at any time,
 * and the wake-up that follows may reach a dead stack address: harmless,
 * FUTEX_WAKE on it wakes nobody, or only someone who checks and sleeps
 * again, as every futex waiter does.
 */
struct mux_job {
    const struct tk_redis_command *cmds;
    size_t n;
    redisReply **replies; /* the caller's; set only when rc == 0 */
    int rc;
    bool retry;  /* may go once more, on a new connection */
    bool resend; /* the batch failed and this one goes again */
    _Atomic uint32_t state; /* JOB_DONE: rc and replies are final */
    struct mux_job *next;
};

static void
job_wait(struct mux_job *j)
{
    while (atomic_load_explicit(&j->state, memory_order_acquire) ==
           JOB_WAIT) {
        /* Returns at once when state is no longer JOB_WAIT, on a signal
         * and spuriously: the loop checks again. */
        syscall(SYS_futex, &j->state, FUTEX_WAIT_PRIVATE, JOB_WAIT, NULL,
                NULL, 0);
    }
}

/* The last touch of j: its caller may return as soon as state is set. */
static void
job_set(struct mux_job *j, uint32_t state)
{
    atomic_store_explicit(&j->state, state, memory_order_release);
    syscall(SYS_futex, &j->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/*
 * The connection and the queue of jobs waiting for it. No thread of its
 * own: the caller that finds the connection idle sends every queued job
 * as one batch (one write, one pass of the server, one fsync for all
 * their writes), reads the replies in order and hands them out; then it
 * makes the first job queued meanwhile the next leader and returns.
 */
struct tk_redis_mux {
    pthread_mutex_t mu;
    struct tk_redis *conn;       /* used by the leader only */
    struct mux_job *head, *tail; /* under mu */
    bool busy;                   /* under mu: a leader holds conn */
    bool connected;              /* under mu: conn->c != NULL */
    uint64_t batches, jobs;      /* under mu */
    tk_redis_batch_fn *on_batch; /* may be NULL */
    void *on_batch_arg;
};

struct tk_redis_mux *
tk_redis_mux_new(const struct tk_conf *conf, tk_redis_batch_fn *on_batch,
                 void *arg)
{
    struct tk_redis_mux *m = tk_xcalloc(1, sizeof(*m));

    pthread_mutex_init(&m->mu, NULL);
    m->conn = tk_redis_new(conf);
    m->on_batch = on_batch;
    m->on_batch_arg = arg;
    return m;
}

void
tk_redis_mux_free(struct tk_redis_mux *m)
{
    if (m == NULL) {
        return;
    }
    tk_redis_free(m->conn);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void
tk_redis_mux_stats(struct tk_redis_mux *m, uint64_t *batches, uint64_t *jobs)
{
    pthread_mutex_lock(&m->mu);
    *batches = m->batches;
    *jobs = m->jobs;
    pthread_mutex_unlock(&m->mu);
}

struct tk_redis *
tk_redis_new_shared(struct tk_redis_mux *m)
{
    struct tk_redis *r = tk_xcalloc(1, sizeof(*r));

    r->mux = m;
    r->host = tk_xstrdup(m->conn->host);
    r->socket = tk_xstrdup(m->conn->socket);
    r->password = tk_xstrdup("");
    r->port = m->conn->port;
    r->timeout_ms = m->conn->timeout_ms;
    r->connect_timeout_ms = m->conn->connect_timeout_ms;
    return r;
}

static bool
mux_is_connected(struct tk_redis_mux *m)
{
    bool up;

    pthread_mutex_lock(&m->mu);
    up = m->connected;
    pthread_mutex_unlock(&m->mu);
    return up;
}

/*
 * Without mu: sends the batch (a list of jobs) in one write and reads
 * every reply in order. Each job gets rc and, on success, its replies.
 * When the connection fails, the jobs not yet answered fail with it;
 * those allowed a retry on a connection that was not new are marked
 * resend instead (as exchange() does for a single caller).
 */
static void
mux_send(struct tk_redis_mux *m, struct mux_job *batch)
{
    struct tk_redis *c = m->conn;
    char where[300];
    struct mux_job *j = batch;
    size_t got = 0;
    bool fresh = c->c == NULL, again = false;
    int rc = tk_redis_open(c);

    if (rc < 0) {
        for (j = batch; j != NULL; j = j->next) {
            j->rc = rc;
        }
        return;
    }
    for (j = batch; j != NULL; j = j->next) {
        if (!append_commands(c->c, j->cmds, j->n)) {
            j = batch; /* nothing was sent */
            goto io_error;
        }
    }
    c->round_trips++;
    for (j = batch; j != NULL; j = j->next) {
        for (got = 0; got < j->n; got++) {
            void *p = NULL;

            if (redisGetReply(c->c, &p) != REDIS_OK || p == NULL) {
                goto io_error;
            }
            j->replies[got] = p;
        }
        j->rc = 0;
    }
    return;

io_error:
    rc = context_error(c->c);
    for (size_t i = 0; i < got; i++) {
        freeReplyObject(j->replies[i]);
        j->replies[i] = NULL;
    }
    for (; j != NULL; j = j->next) {
        j->rc = rc;
        if (j->retry && !fresh) {
            j->retry = false;
            j->resend = true;
            again = true;
        }
    }
    if (again) {
        tk_notice("redis connection to '%s' failed (%s); reconnecting",
                  target(c, where, sizeof(where)), c->c->errstr);
    } else {
        tk_err("redis command failed on '%s': %s",
               target(c, where, sizeof(where)), c->c->errstr);
    }
    tk_redis_close(c);
}

/*
 * As the leader, mu not held: sends batches until self's is answered, then
 * passes the connection to the first job still queued, or leaves it idle.
 * A batch, once taken off the queue, is the leader's alone until each job
 * in it is set done (or queued again to be resent).
 */
static void
mux_lead(struct tk_redis_mux *m, struct mux_job *self)
{
    struct mux_job *next_leader;
    bool answered = false;

    pthread_mutex_lock(&m->mu);
    while (!answered) {
        struct mux_job *batch = m->head, *resend = NULL, *rlast = NULL;
        size_t n = 0;

        m->head = m->tail = NULL;
        pthread_mutex_unlock(&m->mu);
        mux_send(m, batch);
        for (struct mux_job *j = batch, *next; j != NULL; j = next) {
            next = j->next;
            n++;
            if (j->resend) {
                j->resend = false;
                j->next = NULL;
                if (rlast != NULL) {
                    rlast->next = j;
                } else {
                    resend = j;
                }
                rlast = j;
            } else if (j == self) {
                answered = true;
            } else {
                job_set(j, JOB_DONE);
            }
        }
        pthread_mutex_lock(&m->mu);
        m->connected = m->conn->c != NULL;
        m->batches++;
        m->jobs += n;
        if (m->on_batch != NULL) {
            m->on_batch(m->on_batch_arg, n);
        }
        if (resend != NULL) { /* they go first, in their order */
            rlast->next = m->head;
            if (m->head == NULL) {
                m->tail = rlast;
            }
            m->head = resend;
        }
    }
    next_leader = m->head;
    if (next_leader == NULL) {
        m->busy = false;
    }
    pthread_mutex_unlock(&m->mu);
    if (next_leader != NULL) {
        /* Still queued, so still waiting: not done before it has led. */
        job_set(next_leader, JOB_LEAD);
    }
}

static int
mux_exchange(struct tk_redis *r, const struct tk_redis_command *cmds, size_t n,
             redisReply **replies, bool retry)
{
    struct tk_redis_mux *m = r->mux;
    struct mux_job job = {
        .cmds = cmds, .n = n, .replies = replies, .retry = retry,
    };
    bool lead = false;

    atomic_init(&job.state, JOB_WAIT);
    pthread_mutex_lock(&m->mu);
    if (m->tail != NULL) {
        m->tail->next = &job;
    } else {
        m->head = &job;
    }
    m->tail = &job;
    if (!m->busy) {
        m->busy = true;
        lead = true;
    }
    pthread_mutex_unlock(&m->mu);
    if (!lead) {
        job_wait(&job);
        lead = atomic_load_explicit(&job.state, memory_order_acquire) ==
               JOB_LEAD;
    }
    if (lead) {
        mux_lead(m, &job);
    }
    r->round_trips++;
    return job.rc;
}

/* One command given as strings. */
static int
call(struct tk_redis *r, redisReply **reply, bool retry, int argc,
     const char *const *argv, const size_t *argvlen)
{
    struct tk_redis_command cmd = { argc, argv, argvlen };

    return exchange(r, &cmd, 1, reply, retry);
}

/* An error reply, or one of an unexpected type: logged, -EPROTO. */
static int
unexpected(const char *what, const redisReply *reply)
{
    if (reply->type == REDIS_REPLY_ERROR) {
        tk_err("redis refused %s: %s", what, reply->str);
    } else {
        tk_err("unexpected redis reply to %s (type %d)", what, reply->type);
    }
    return -EPROTO;
}

int
tk_redis_ping(struct tk_redis *r)
{
    const char *argv[] = { "PING" };
    redisReply *reply;
    int rc = call(r, &reply, true, 1, argv, NULL);

    if (rc < 0) {
        return rc;
    }
    if (reply->type != REDIS_REPLY_STATUS) {
        rc = unexpected("PING", reply);
    }
    freeReplyObject(reply);
    return rc;
}

/* --- functions library ------------------------------------------------- */

const char *
tk_redis_functions_source(void)
{
    return tk_functions_lua;
}

int
tk_redis_functions_version(void)
{
    static const char marker[] = "\nlocal VERSION = ";
    const char *p = strstr(tk_functions_lua, marker);
    int64_t v;
    char digits[16];
    size_t n = 0;

    if (p == NULL) {
        return -1;
    }
    p += sizeof(marker) - 1;
    while (n < sizeof(digits) - 1 && p[n] >= '0' && p[n] <= '9') {
        digits[n] = p[n];
        n++;
    }
    digits[n] = '\0';
    if (tk_parse_i64(digits, &v) < 0 || v < 1 || v > 1000000) {
        return -1;
    }
    return (int)v;
}

static bool
is_missing_function(const redisReply *reply)
{
    return reply->type == REDIS_REPLY_ERROR &&
           strstr(reply->str, "Function not found") != NULL;
}

int
tk_redis_functions_ensure(struct tk_redis *r, bool *loaded)
{
    const char *ver[] = { "FCALL", "tk_version", "0" };
    const char *load[] = { "FUNCTION", "LOAD", "REPLACE", tk_functions_lua };
    int want = tk_redis_functions_version();
    redisReply *reply;
    int rc;

    if (loaded != NULL) {
        *loaded = false;
    }
    rc = call(r, &reply, true, 3, ver, NULL);
    if (rc < 0) {
        return rc;
    }
    if (reply->type == REDIS_REPLY_INTEGER && reply->integer >= want) {
        if (reply->integer > want) {
            tk_notice("redis has functions library version %lld, newer "
                      "than %d; keeping it", reply->integer, want);
        }
        freeReplyObject(reply);
        return 0;
    }
    if (reply->type != REDIS_REPLY_INTEGER && !is_missing_function(reply)) {
        rc = unexpected("FCALL tk_version", reply);
        freeReplyObject(reply);
        return rc;
    }
    freeReplyObject(reply);
    rc = call(r, &reply, true, 4, load, NULL);
    if (rc < 0) {
        return rc;
    }
    if (reply->type != REDIS_REPLY_STRING &&
        reply->type != REDIS_REPLY_STATUS) {
        rc = unexpected("FUNCTION LOAD", reply);
    } else {
        tk_info("loaded redis functions library 'ticketd' version %d", want);
        if (loaded != NULL) {
            *loaded = true;
        }
    }
    freeReplyObject(reply);
    return rc;
}

/*
 * An FCALL; when the server lost the library (FUNCTION FLUSH), loads it
 * and calls once more. The reply is the caller's, error replies included.
 */
static int
fcall(struct tk_redis *r, redisReply **reply, bool retry, int argc,
      const char *const *argv, const size_t *argvlen)
{
    int rc = call(r, reply, retry, argc, argv, argvlen);

    if (rc < 0 || !is_missing_function(*reply)) {
        return rc;
    }
    freeReplyObject(*reply);
    *reply = NULL;
    tk_warn("redis lost function '%s'; loading the library again", argv[1]);
    rc = tk_redis_functions_ensure(r, NULL);
    if (rc < 0) {
        return rc;
    }
    return call(r, reply, retry, argc, argv, argvlen);
}

/* --- plain keys ---------------------------------------------------------- */

int
tk_redis_get(struct tk_redis *r, const char *key, struct tk_buf *value)
{
    const char *argv[] = { "GET", key };
    redisReply *reply;
    int rc = call(r, &reply, true, 2, argv, NULL);

    if (rc < 0) {
        return rc;
    }
    tk_buf_reset(value);
    if (reply->type == REDIS_REPLY_STRING) {
        tk_buf_add(value, reply->str, reply->len);
        rc = 1;
    } else if (reply->type != REDIS_REPLY_NIL) {
        rc = unexpected("GET", reply);
    }
    freeReplyObject(reply);
    return rc;
}

int
tk_redis_set(struct tk_redis *r, const char *key, const void *value,
             size_t len, int64_t ttl_ms)
{
    char ttl[24];
    const char *argv[] = { "SET", key, value, "PX", ttl };
    size_t argvlen[] = { 3, strlen(key), len, 2, 0 };
    redisReply *reply;
    int rc;

    argvlen[4] = (size_t)snprintf(ttl, sizeof(ttl), "%" PRId64, ttl_ms);
    rc = call(r, &reply, true, ttl_ms > 0 ? 5 : 3, argv, argvlen);
    if (rc < 0) {
        return rc;
    }
    if (reply->type != REDIS_REPLY_STATUS) {
        rc = unexpected("SET", reply);
    }
    freeReplyObject(reply);
    return rc;
}

/* A command answered by an integer (0 or 1 here). */
static int
integer_command(struct tk_redis *r, const char *what, int argc,
                const char *const *argv)
{
    redisReply *reply;
    int rc = call(r, &reply, true, argc, argv, NULL);

    if (rc < 0) {
        return rc;
    }
    if (reply->type == REDIS_REPLY_INTEGER) {
        rc = reply->integer > 0;
    } else {
        rc = unexpected(what, reply);
    }
    freeReplyObject(reply);
    return rc;
}

int
tk_redis_del(struct tk_redis *r, const char *key)
{
    const char *argv[] = { "DEL", key };

    return integer_command(r, "DEL", 2, argv);
}

int
tk_redis_exists(struct tk_redis *r, const char *key)
{
    const char *argv[] = { "EXISTS", key };

    return integer_command(r, "EXISTS", 2, argv);
}

int
tk_redis_mget(struct tk_redis *r, const char *const *keys, size_t n,
              struct tk_buf *values, int *found)
{
    struct tk_redis_command *cmds;
    const char **argv;
    redisReply **replies;
    int rc;

    if (n == 0) {
        return 0;
    }
    cmds = tk_xcalloc(n, sizeof(*cmds));
    argv = tk_xcalloc(2 * n, sizeof(*argv));
    replies = tk_xcalloc(n, sizeof(*replies));
    for (size_t i = 0; i < n; i++) {
        argv[2 * i] = "GET";
        argv[2 * i + 1] = keys[i];
        cmds[i].argc = 2;
        cmds[i].argv = &argv[2 * i];
    }
    rc = exchange(r, cmds, n, replies, true);
    if (rc < 0) {
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        tk_buf_reset(&values[i]);
        found[i] = 0;
        if (replies[i]->type == REDIS_REPLY_STRING) {
            tk_buf_add(&values[i], replies[i]->str, replies[i]->len);
            found[i] = 1;
        } else if (replies[i]->type != REDIS_REPLY_NIL && rc == 0) {
            rc = unexpected("GET", replies[i]);
        }
        freeReplyObject(replies[i]);
    }

out:
    free(replies);
    free(argv);
    free(cmds);
    return rc;
}

int
tk_redis_lock(struct tk_redis *r, const char *lock_key, int64_t ttl_ms,
              char token[TK_REDIS_TOKEN_LEN + 1])
{
    char ttl[24];
    const char *argv[] = { "SET", lock_key, token, "NX", "PX", ttl };
    redisReply *reply;
    int rc;

    tk_random_hex(token, TK_REDIS_TOKEN_LEN / 2);
    snprintf(ttl, sizeof(ttl), "%" PRId64, ttl_ms > 0 ? ttl_ms : 1);
    /* No retry: a lost reply may have taken the lock; it expires. */
    rc = call(r, &reply, false, 6, argv, NULL);
    if (rc < 0) {
        return rc;
    }
    if (reply->type == REDIS_REPLY_STATUS) {
        rc = 1;
    } else if (reply->type != REDIS_REPLY_NIL) {
        rc = unexpected("SET NX", reply);
    }
    freeReplyObject(reply);
    return rc;
}

int
tk_redis_unlock(struct tk_redis *r, const char *lock_key, const char *token)
{
    const char *argv[] = { "FCALL", "tk_unlock", "1", lock_key, token };
    redisReply *reply;
    int rc = fcall(r, &reply, true, 5, argv, NULL);

    if (rc < 0) {
        return rc;
    }
    if (reply->type == REDIS_REPLY_INTEGER) {
        rc = reply->integer > 0;
    } else {
        rc = unexpected("FCALL tk_unlock", reply);
    }
    freeReplyObject(reply);
    return rc;
}

void
tk_redis_pairs_release(struct tk_redis_pairs *pairs)
{
    if (pairs == NULL) {
        return;
    }
    for (size_t i = 0; i < pairs->n; i++) {
        free(pairs->items[i].field);
        free(pairs->items[i].value);
    }
    free(pairs->items);
    pairs->items = NULL;
    pairs->n = 0;
}

int
tk_redis_hgetall(struct tk_redis *r, const char *key,
                 struct tk_redis_pairs *pairs)
{
    const char *argv[] = { "HGETALL", key };
    redisReply *reply;
    int rc;

    tk_redis_pairs_release(pairs);
    rc = call(r, &reply, true, 2, argv, NULL);
    if (rc < 0) {
        return rc;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2 != 0) {
        rc = unexpected("HGETALL", reply);
        goto out;
    }
    for (size_t i = 0; i < reply->elements; i++) {
        if (reply->element[i]->type != REDIS_REPLY_STRING) {
            rc = unexpected("HGETALL", reply->element[i]);
            goto out;
        }
    }
    pairs->n = reply->elements / 2;
    pairs->items = tk_xcalloc(pairs->n + 1, sizeof(*pairs->items));
    for (size_t i = 0; i < pairs->n; i++) {
        const redisReply *f = reply->element[2 * i];
        const redisReply *v = reply->element[2 * i + 1];

        pairs->items[i].field = tk_xstrndup(f->str, f->len);
        pairs->items[i].field_len = f->len;
        pairs->items[i].value = tk_xstrndup(v->str, v->len);
        pairs->items[i].value_len = v->len;
    }
    rc = pairs->n > 0;

out:
    freeReplyObject(reply);
    return rc;
}

/* --- activity functions ------------------------------------------------ */

/* A decimal integer held in a bulk string or an integer reply. */
static bool
reply_i64(const redisReply *reply, int64_t *out)
{
    if (reply->type == REDIS_REPLY_INTEGER) {
        *out = reply->integer;
        return true;
    }
    return reply->type == REDIS_REPLY_STRING &&
           tk_parse_i64(reply->str, out) == 0;
}

int
tk_redis_stock(struct tk_redis *r, int64_t act, struct tk_redis_stock *stock)
{
    char key[TK_KEY_BUF];
    const char *argv[] = { "HMGET", key, "total", "remain", "sold" };
    redisReply *reply;
    int rc;

    tk_key_stock(key, act);
    rc = call(r, &reply, true, 5, argv, NULL);
    if (rc < 0) {
        return rc;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) {
        rc = unexpected("HMGET stock", reply);
    } else if (reply->element[0]->type == REDIS_REPLY_NIL) {
        rc = 0;
    } else if (reply_i64(reply->element[0], &stock->total) &&
               reply_i64(reply->element[1], &stock->remain) &&
               reply_i64(reply->element[2], &stock->sold)) {
        rc = 1;
    } else {
        tk_err("bad stock hash '%s'", key);
        rc = -EPROTO;
    }
    freeReplyObject(reply);
    return rc;
}

static bool
sid_is_valid(const char *sid)
{
    size_t n = sid != NULL ? strlen(sid) : 0;

    if (n < 1 || n > TK_SID_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)sid[i] < 0x20 || sid[i] == 0x7f) {
            return false;
        }
    }
    return true;
}

static bool
tid_is_valid(const char *tid)
{
    if (strlen(tid) != 16) {
        return false;
    }
    for (size_t i = 0; i < 16; i++) {
        if (!((tid[i] >= '0' && tid[i] <= '9') ||
              (tid[i] >= 'a' && tid[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

/* Copies a bulk string reply into a fixed field; false when it is not one
 * or does not fit. */
static bool
reply_copy(const redisReply *reply, char *dst, size_t size)
{
    if (reply->type != REDIS_REPLY_STRING || reply->len >= size) {
        return false;
    }
    memcpy(dst, reply->str, reply->len);
    dst[reply->len] = '\0';
    return true;
}

/* The replies of the order functions: {outcome, tid, then these}. */
enum result_shape {
    RESULT_REMAIN,     /* remain: tk_grab, tk_refund */
    RESULT_SID,        /* sid: tk_checkin */
    RESULT_REMAIN_SID, /* remain, sid (may be ""): tk_grab_bound */
};

static int
parse_result(const char *what, const redisReply *reply,
             enum result_shape shape, struct tk_redis_result *res)
{
    size_t n = shape == RESULT_REMAIN_SID ? 4 : 3;
    int64_t max = shape == RESULT_REMAIN_SID ? TK_GRAB_UNBOUND : 3;
    int64_t outcome;

    memset(res, 0, sizeof(*res));
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != n ||
        !reply_i64(reply->element[0], &outcome) || outcome < 0 ||
        outcome > max ||
        !reply_copy(reply->element[1], res->ticket_id,
                    sizeof(res->ticket_id))) {
        return unexpected(what, reply);
    }
    if (shape == RESULT_SID ? !reply_copy(reply->element[2], res->student_id,
                                          sizeof(res->student_id))
                            : !reply_i64(reply->element[2], &res->remain)) {
        return unexpected(what, reply);
    }
    if (shape == RESULT_REMAIN_SID &&
        (!reply_copy(reply->element[3], res->student_id,
                     sizeof(res->student_id)) ||
         (res->student_id[0] != '\0' && !sid_is_valid(res->student_id)))) {
        return unexpected(what, reply);
    }
    res->outcome = (int)outcome;
    return 0;
}

/*
 * tk_grab and tk_refund: KEYS stock holders tickets events [dedupe], ARGV
 * sid [tid] [ttl]; tk_grab_bound (openid instead of sid): KEYS stock
 * holders tickets events dedupe binding, ARGV tid ttl.
 */
static int
order_call(struct tk_redis *r, const char *fn, int64_t act, const char *sid,
           const char *openid, const char *tid, const char *msgkey,
           int dedupe_ttl_s, struct tk_redis_result *res)
{
    char keys[6][TK_KEY_BUF];
    char ttl[16];
    const char *argv[12];
    bool dedupe = msgkey != NULL && msgkey[0] != '\0';
    int nkeys = openid != NULL ? 6 : dedupe ? 5 : 4;
    int argc = 0;
    redisReply *reply;
    int rc;

    if (openid != NULL ? !dedupe || openid[0] == '\0' ||
                             strlen(openid) > TK_OPENID_MAX
                       : !sid_is_valid(sid)) {
        tk_err("%s: bad %s", fn, openid != NULL ? "openid or no dedupe key"
                                                : "student id");
        return -EINVAL;
    }
    if (dedupe && (strlen(msgkey) > MSGKEY_MAX || dedupe_ttl_s < 1 ||
                   dedupe_ttl_s > DEDUPE_TTL_MAX)) {
        tk_err("%s: bad dedupe key or ttl", fn);
        return -EINVAL;
    }
    tk_key_stock(keys[0], act);
    tk_key_holders(keys[1], act);
    tk_key_tickets(keys[2], act);
    tk_key_events(keys[3], act);
    if (dedupe) {
        tk_key_dedupe(keys[4], act, msgkey);
    }
    if (openid != NULL) {
        tk_key_binding(keys[5], openid);
    }
    argv[argc++] = "FCALL";
    argv[argc++] = fn;
    argv[argc++] = nkeys == 6 ? "6" : nkeys == 5 ? "5" : "4";
    for (int i = 0; i < nkeys; i++) {
        argv[argc++] = keys[i];
    }
    if (openid == NULL) {
        argv[argc++] = sid;
    }
    if (tid != NULL) {
        argv[argc++] = tid;
    }
    if (dedupe) {
        snprintf(ttl, sizeof(ttl), "%d", dedupe_ttl_s);
        argv[argc++] = ttl;
    }
    rc = fcall(r, &reply, dedupe, argc, argv, NULL);
    if (rc < 0) {
        return rc;
    }
    rc = parse_result(fn, reply,
                      openid != NULL ? RESULT_REMAIN_SID : RESULT_REMAIN, res);
    freeReplyObject(reply);
    return rc;
}

/* tk_grab (sid) or tk_grab_bound (openid), with a new random ticket id. */
static int
grab_call(struct tk_redis *r, int64_t act, const char *sid,
          const char *openid, const char *msgkey, int dedupe_ttl_s,
          struct tk_redis_result *res)
{
    char tid[TK_TICKET_ID_MAX + 1];

    tk_random_hex(tid, 8);
    return order_call(r, openid != NULL ? "tk_grab_bound" : "tk_grab", act,
                      sid, openid, tid, msgkey, dedupe_ttl_s, res);
}

int
tk_redis_grab(struct tk_redis *r, int64_t act, const char *sid,
              const char *msgkey, int dedupe_ttl_s,
              struct tk_redis_result *res)
{
    return grab_call(r, act, sid, NULL, msgkey, dedupe_ttl_s, res);
}

int
tk_redis_grab_bound(struct tk_redis *r, int64_t act, const char *openid,
                    const char *msgkey, int dedupe_ttl_s,
                    struct tk_redis_result *res)
{
    return grab_call(r, act, NULL, openid, msgkey, dedupe_ttl_s, res);
}

int
tk_redis_refund(struct tk_redis *r, int64_t act, const char *sid,
                const char *msgkey, int dedupe_ttl_s,
                struct tk_redis_result *res)
{
    return order_call(r, "tk_refund", act, sid, NULL, NULL, msgkey,
                      dedupe_ttl_s, res);
}

int
tk_redis_checkin(struct tk_redis *r, int64_t act, const char *ticket_id,
                 const char *sid, struct tk_redis_result *res)
{
    char keys[4][TK_KEY_BUF];
    const char *tid = ticket_id != NULL ? ticket_id : "";
    const char *argv[9];
    redisReply *reply;
    int rc;

    sid = sid != NULL ? sid : "";
    if ((tid[0] == '\0' && sid[0] == '\0') ||
        (tid[0] != '\0' && !tid_is_valid(tid)) ||
        (sid[0] != '\0' && !sid_is_valid(sid))) {
        tk_err("tk_checkin: bad ticket id or student id");
        return -EINVAL;
    }
    tk_key_stock(keys[0], act);
    tk_key_holders(keys[1], act);
    tk_key_tickets(keys[2], act);
    tk_key_events(keys[3], act);
    argv[0] = "FCALL";
    argv[1] = "tk_checkin";
    argv[2] = "4";
    for (int i = 0; i < 4; i++) {
        argv[3 + i] = keys[i];
    }
    argv[7] = tid;
    argv[8] = sid;
    /* Safe to repeat: a second call reports the ticket used. */
    rc = fcall(r, &reply, true, 9, argv, NULL);
    if (rc < 0) {
        return rc;
    }
    rc = parse_result("tk_checkin", reply, RESULT_SID, res);
    freeReplyObject(reply);
    return rc;
}

int
tk_redis_load(struct tk_redis *r, int64_t act, bool reset, int64_t total,
              const struct tk_ticket *tickets, size_t n, bool *loaded,
              struct tk_redis_stock *stock)
{
    static const char *const status[] = { "0", "1", "2" };
    char keys[3][TK_KEY_BUF];
    char id[24], tot[24];
    const char *sadd[] = { "SADD", TK_KEYS_STREAMS, id };
    size_t argc = 8 + 3 * n;
    const char **argv = tk_xcalloc(argc, sizeof(*argv));
    redisReply *reply = NULL;
    int64_t v[4];
    int rc;

    for (size_t i = 0; i < n; i++) {
        if (tickets[i].status < TK_TICKET_CANCELLED ||
            tickets[i].status > TK_TICKET_USED ||
            !sid_is_valid(tickets[i].student_id) ||
            !tid_is_valid(tickets[i].unique_id)) {
            tk_err("cannot load activity %" PRId64 ": bad ticket '%s'", act,
                   tickets[i].unique_id);
            rc = -EINVAL;
            goto out;
        }
    }
    snprintf(id, sizeof(id), "%" PRId64, act);
    snprintf(tot, sizeof(tot), "%" PRId64, total);
    rc = call(r, &reply, true, 3, sadd, NULL);
    if (rc < 0) {
        goto out;
    }
    if (reply->type != REDIS_REPLY_INTEGER) {
        rc = unexpected("SADD tk:streams", reply);
        goto out;
    }
    freeReplyObject(reply);
    reply = NULL;
    tk_key_stock(keys[0], act);
    tk_key_holders(keys[1], act);
    tk_key_tickets(keys[2], act);
    argv[0] = "FCALL";
    argv[1] = "tk_load";
    argv[2] = "3";
    argv[3] = keys[0];
    argv[4] = keys[1];
    argv[5] = keys[2];
    argv[6] = reset ? "reset" : "init";
    argv[7] = tot;
    for (size_t i = 0; i < n; i++) {
        argv[8 + 3 * i] = tickets[i].student_id;
        argv[9 + 3 * i] = tickets[i].unique_id;
        argv[10 + 3 * i] = status[tickets[i].status];
    }
    rc = fcall(r, &reply, true, (int)argc, argv, NULL);
    if (rc < 0) {
        goto out;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
        rc = unexpected("tk_load", reply);
        goto out;
    }
    for (size_t i = 0; i < 4; i++) {
        if (!reply_i64(reply->element[i], &v[i])) {
            rc = unexpected("tk_load", reply);
            goto out;
        }
    }
    if (loaded != NULL) {
        *loaded = v[0] == 1;
    }
    if (stock != NULL) {
        stock->total = v[1];
        stock->remain = v[2];
        stock->sold = v[3];
    }

out:
    if (reply != NULL) {
        freeReplyObject(reply);
    }
    free(argv);
    return rc;
}

/* --- generic commands -------------------------------------------------- */

void
tk_redis_reply_free(struct tk_redis_reply *reply)
{
    if (reply == NULL) {
        return;
    }
    for (size_t i = 0; i < reply->elements; i++) {
        tk_redis_reply_free(reply->element[i]);
    }
    free(reply->element);
    free(reply->str);
    free(reply);
}

static struct tk_redis_reply *
convert(const redisReply *in)
{
    struct tk_redis_reply *out = tk_xcalloc(1, sizeof(*out));

    switch (in->type) {
    case REDIS_REPLY_INTEGER:
        out->type = TK_REDIS_INTEGER;
        out->integer = in->integer;
        break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        out->type = in->type == REDIS_REPLY_STRING   ? TK_REDIS_STRING
                    : in->type == REDIS_REPLY_STATUS ? TK_REDIS_STATUS
                                                     : TK_REDIS_ERROR;
        out->str = tk_xstrndup(in->str, in->len);
        out->len = in->len;
        break;
    case REDIS_REPLY_ARRAY:
        out->type = TK_REDIS_ARRAY;
        out->elements = in->elements;
        out->element = tk_xcalloc(in->elements + 1, sizeof(*out->element));
        for (size_t i = 0; i < in->elements; i++) {
            out->element[i] = convert(in->element[i]);
        }
        break;
    default:
        out->type = TK_REDIS_NIL;
        break;
    }
    return out;
}

int
tk_redis_pipeline(struct tk_redis *r, const struct tk_redis_command *cmds,
                  size_t n, struct tk_redis_reply **replies)
{
    redisReply **raw;
    int rc;

    for (size_t i = 0; i < n; i++) {
        replies[i] = NULL;
    }
    if (n == 0) {
        return 0;
    }
    raw = tk_xcalloc(n, sizeof(*raw));
    /* Admin commands may write: never sent twice. */
    rc = exchange(r, cmds, n, raw, false);
    if (rc == 0) {
        for (size_t i = 0; i < n; i++) {
            replies[i] = convert(raw[i]);
            freeReplyObject(raw[i]);
        }
    }
    free(raw);
    return rc;
}

int
tk_redis_command(struct tk_redis *r, int argc, const char *const *argv,
                 const size_t *argvlen, struct tk_redis_reply **reply)
{
    struct tk_redis_command cmd = { argc, argv, argvlen };

    return tk_redis_pipeline(r, &cmd, 1, reply);
}

int
tk_redis_cmd(struct tk_redis *r, struct tk_redis_reply **reply, ...)
{
    const char *argv[64];
    int argc = 0;
    const char *s;
    va_list ap;

    va_start(ap, reply);
    while ((s = va_arg(ap, const char *)) != NULL) {
        if (argc == (int)TK_ARRAY_SIZE(argv)) {
            va_end(ap);
            tk_err("tk_redis_cmd: more than %d arguments", argc);
            *reply = NULL;
            return -E2BIG;
        }
        argv[argc++] = s;
    }
    va_end(ap);
    return tk_redis_command(r, argc, argv, NULL, reply);
}

int
tk_redis_send_many(struct tk_redis *r, const struct tk_redis_command *cmds,
                   size_t n)
{
    char where[300];
    int done = 0;
    int rc;

    if (r->mux != NULL) {
        tk_err("tk_redis_send: not on a shared connection");
        return -ENOTSUP;
    }
    rc = tk_redis_open(r);
    if (rc < 0) {
        return rc;
    }
    if (!append_commands(r->c, cmds, n)) {
        goto io_error;
    }
    while (!done) {
        if (redisBufferWrite(r->c, &done) != REDIS_OK) {
            goto io_error;
        }
    }
    r->unread += n;
    r->round_trips++;
    return 0;

io_error:
    rc = context_error(r->c);
    tk_err("redis command failed on '%s': %s",
           target(r, where, sizeof(where)), r->c->errstr);
    tk_redis_close(r);
    return rc;
}

int
tk_redis_send(struct tk_redis *r, int argc, const char *const *argv,
              const size_t *argvlen)
{
    struct tk_redis_command cmd = { argc, argv, argvlen };

    return tk_redis_send_many(r, &cmd, 1);
}

int
tk_redis_receive(struct tk_redis *r, struct tk_redis_reply **reply)
{
    char where[300];
    void *p = NULL;
    int rc;

    *reply = NULL;
    if (r->c == NULL) {
        return -ENOTCONN;
    }
    if (r->unread == 0) {
        tk_err("tk_redis_receive: no reply is awaited");
        return -EINVAL;
    }
    if (redisGetReply(r->c, &p) != REDIS_OK || p == NULL) {
        rc = context_error(r->c);
        tk_err("redis command failed on '%s': %s",
               target(r, where, sizeof(where)), r->c->errstr);
        tk_redis_close(r);
        return rc;
    }
    r->unread--;
    *reply = convert(p);
    freeReplyObject(p);
    return 0;
}
