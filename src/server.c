/*
 * The master process: listen socket, workers, signals, reload. It is single
 * threaded and waits for signals synchronously (sigtimedwait), so no code
 * runs in a signal handler anywhere in ticketd.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "util.h"

/* How often an idle worker thread comes back from accept() to look for a
 * stop request (the listen socket's SO_RCVTIMEO). */
#define LISTEN_TIMEOUT_MS 250
/* A worker that dies younger than this is respawned with backoff. */
#define YOUNG_MS 5000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 10000

struct slot {
    pid_t pid; /* 0: none running */
    int64_t started_ms;
    int64_t respawn_at_ms;
    int64_t backoff_ms;
};

struct master {
    char *path; /* owned copy: reloads outlive the first configuration */
    struct tk_conf *conf;
    const struct tk_hooks *hooks;
    struct tk_metrics *metrics;
    int listen_fd;
    char *sock_path; /* our own unix socket, unlinked at stop */
    bool own_socket;
    struct slot slots[TK_METRICS_SLOTS];
    pid_t *retiring; /* old generations still finishing */
    size_t n_retiring;
    bool stopping;
    int64_t stop_deadline_ms;
    int64_t watchdog_ms;
    int64_t next_watchdog_ms;
};

static int
env_int(const char *name)
{
    const char *v = getenv(name);
    int64_t x;

    if (v == NULL || tk_parse_i64(v, &x) < 0 || x > 1 << 30) {
        return -1;
    }
    return (int)x;
}

static bool
is_listening(int fd)
{
    int v = 0;
    socklen_t len = sizeof(v);

    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 && v;
}

static int
open_unix(struct master *m, const char *path)
{
    struct sockaddr_un sa;
    int fd;
    mode_t old;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        tk_err("socket path too long: '%s'", path);
        return -ENAMETOOLONG;
    }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        tk_err("socket failed: %s", strerror(errno));
        return -errno;
    }
    /* A live server on the path is an error; a stale file is replaced. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        tk_err("address in use: another server listens on '%s'", path);
        close(fd);
        return -EADDRINUSE;
    }
    close(fd);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        tk_err("socket failed: %s", strerror(errno));
        return -errno;
    }
    (void)unlink(path);
    old = umask(0177);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;

        umask(old);
        tk_err("bind failed: %s: '%s'", strerror(e), path);
        close(fd);
        return -e;
    }
    umask(old);
    if (chmod(path, (mode_t)m->conf->fcgi.socket_mode) < 0) {
        tk_warn("chmod failed: %s: '%s'", strerror(errno), path);
    }
    m->sock_path = tk_xstrdup(path);
    return fd;
}

static int
open_tcp(const char *listen)
{
    const char *colon = strrchr(listen, ':');
    char *host = tk_xstrndup(listen, (size_t)(colon - listen));
    struct addrinfo hints, *res = NULL;
    int fd = -1, one = 1, rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    /* Unlike FCGX_OpenSocket, bind the host given, not INADDR_ANY. */
    rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0) {
        tk_err("getaddrinfo failed: %s: '%s'", gai_strerror(rc), listen);
        fd = -EINVAL;
        goto out;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fd = -errno;
        tk_err("socket failed: %s", strerror(-fd));
        goto out;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0) {
        int e = errno;

        tk_err("bind failed: %s: '%s'", strerror(e), listen);
        close(fd);
        fd = -e;
    }
out:
    if (res != NULL) {
        freeaddrinfo(res);
    }
    free(host);
    return fd;
}

static int
listen_open(struct master *m)
{
    const char *listen_at = m->conf->fcgi.listen;
    struct timeval tv = {0, LISTEN_TIMEOUT_MS * 1000};
    int fd;

    if (env_int("LISTEN_PID") == (int)getpid() && env_int("LISTEN_FDS") >= 1) {
        fd = 3; /* SD_LISTEN_FDS_START */
        unsetenv("LISTEN_PID");
        unsetenv("LISTEN_FDS");
        unsetenv("LISTEN_FDNAMES");
        tk_info("listening on the socket passed by systemd");
    } else if (is_listening(0)) {
        fd = 0;
        tk_info("listening on the socket passed as standard input");
    } else {
        fd = listen_at[0] == '/' ? open_unix(m, listen_at)
                                 : open_tcp(listen_at);
        if (fd < 0) {
            return fd;
        }
        if (listen(fd, m->conf->fcgi.backlog) < 0) {
            int e = errno;

            tk_err("listen failed: %s: '%s'", strerror(e), listen_at);
            close(fd);
            return -e;
        }
        m->own_socket = true;
        tk_info("listening on '%s'", listen_at);
    }
    if (!is_listening(fd)) {
        tk_err("not a listening socket: fd %d", fd);
        return -ENOTSOCK;
    }
    /* The receive timeout bounds how long accept() blocks: it is what
     * lets idle worker threads notice a stop (worker.c). */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
        tk_err("setsockopt SO_RCVTIMEO failed: %s", strerror(errno));
        return -errno;
    }
    m->listen_fd = fd;
    return 0;
}

static void
apply_log_level(const struct tk_conf *conf)
{
    int level = tk_log_level_from_name(conf->log.level);

    if (level >= 0) {
        tk_log_set_level((enum tk_log_level)level);
    }
}

static void
spawn(struct master *m, int i)
{
    struct slot *s = &m->slots[i];
    struct tk_worker_args args = {
        .conf = m->conf,
        .hooks = m->hooks,
        .metrics = m->metrics,
        .listen_fd = m->listen_fd,
        .slot = i,
        .master_pid = (int)getpid(),
    };
    pid_t pid;

    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        tk_err("fork failed: %s: worker %d", strerror(errno), i);
        s->respawn_at_ms = tk_mono_ms() + BACKOFF_MAX_MS;
        return;
    }
    if (pid == 0) {
        tk_worker_main(&args);
    }
    s->pid = pid;
    s->started_ms = tk_mono_ms();
    s->respawn_at_ms = 0;
}

static void
retire_add(struct master *m, pid_t pid)
{
    m->retiring = tk_xrealloc(m->retiring,
                              (m->n_retiring + 1) * sizeof(*m->retiring));
    m->retiring[m->n_retiring++] = pid;
}

static bool
retire_remove(struct master *m, pid_t pid)
{
    for (size_t i = 0; i < m->n_retiring; i++) {
        if (m->retiring[i] == pid) {
            m->retiring[i] = m->retiring[--m->n_retiring];
            return true;
        }
    }
    return false;
}

static void
describe_exit(int status, char *out, size_t n)
{
    if (WIFSIGNALED(status)) {
        snprintf(out, n, "killed by signal %d", WTERMSIG(status));
    } else {
        snprintf(out, n, "exit status %d", WEXITSTATUS(status));
    }
}

static void
reap(struct master *m)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        char why[48];

        if (retire_remove(m, pid)) {
            continue;
        }
        for (int i = 0; i < TK_METRICS_SLOTS; i++) {
            struct slot *s = &m->slots[i];
            int64_t now = tk_mono_ms();

            if (s->pid != pid) {
                continue;
            }
            s->pid = 0;
            if (m->stopping) {
                break;
            }
            describe_exit(status, why, sizeof(why));
            if (now - s->started_ms >= YOUNG_MS) {
                s->backoff_ms = 0;
            } else {
                s->backoff_ms = TK_MIN(TK_MAX(s->backoff_ms * 2,
                                              (int64_t)BACKOFF_MIN_MS),
                                       (int64_t)BACKOFF_MAX_MS);
            }
            s->respawn_at_ms = now + s->backoff_ms;
            tk_warn("worker died: %s: worker %d (pid %d), respawn in %lld ms",
                    why, i, (int)pid, (long long)s->backoff_ms);
            tk_metrics_worker_restart(m->metrics);
            break;
        }
    }
}

static void
signal_all(struct master *m, int sig)
{
    for (int i = 0; i < TK_METRICS_SLOTS; i++) {
        if (m->slots[i].pid > 0) {
            kill(m->slots[i].pid, sig);
        }
    }
    for (size_t i = 0; i < m->n_retiring; i++) {
        kill(m->retiring[i], sig);
    }
}

static int
alive_count(const struct master *m)
{
    int n = (int)m->n_retiring;

    for (int i = 0; i < TK_METRICS_SLOTS; i++) {
        n += m->slots[i].pid > 0;
    }
    return n;
}

static void
stop(struct master *m)
{
    if (m->stopping) {
        return;
    }
    m->stopping = true;
    tk_notify_stopping();
    tk_info("stopping: finishing requests in flight");
    if (m->own_socket && m->sock_path != NULL) {
        /* New connections now fail at once (nginx answers 502) while the
         * workers drain what the kernel already queued. */
        (void)unlink(m->sock_path);
        signal_all(m, SIGTERM);
    } else {
        /* A socket we did not make (systemd, spawn-fcgi, TCP) keeps its
         * queue for whoever listens next: stop accepting at once. */
        signal_all(m, SIGQUIT);
    }
    m->stop_deadline_ms = tk_mono_ms() + m->conf->fcgi.stop_timeout_ms + 500;
}

static void
reload(struct master *m)
{
    struct tk_conf *next = tk_xcalloc(1, sizeof(*next));
    int old_workers = m->conf->fcgi.workers;

    tk_notify_reloading();
    if (tk_conf_load(next, m->path, stderr) < 0) {
        tk_err("reload refused: configuration '%s' has errors; keeping the "
               "running one",
               m->path);
        free(next);
        tk_notify_ready();
        return;
    }
    if (strcmp(next->fcgi.listen, m->conf->fcgi.listen) != 0) {
        tk_warn("fcgi.listen changed to '%s': takes effect at restart",
                next->fcgi.listen);
    }
    tk_conf_release(m->conf);
    free(m->conf);
    m->conf = next;
    apply_log_level(next);
    for (int i = 0; i < TK_METRICS_SLOTS; i++) {
        struct slot *s = &m->slots[i];

        if (s->pid > 0) {
            retire_add(m, s->pid);
        }
        memset(s, 0, sizeof(*s));
    }
    /* The new generation accepts before the old one stops, so the queue
     * always has takers. */
    for (int i = 0; i < next->fcgi.workers; i++) {
        spawn(m, i);
    }
    for (size_t i = 0; i < m->n_retiring; i++) {
        kill(m->retiring[i], SIGQUIT);
    }
    tk_metrics_reload(m->metrics);
    tk_metrics_set_workers(m->metrics, next->fcgi.workers);
    tk_info("reloaded '%s': %d workers replaced by %d of %d threads", m->path,
            old_workers, next->fcgi.workers, next->fcgi.threads);
    tk_notify_ready();
}

static void
respawn_due(struct master *m)
{
    int64_t now = tk_mono_ms();

    for (int i = 0; i < m->conf->fcgi.workers; i++) {
        struct slot *s = &m->slots[i];

        if (s->pid == 0 && s->respawn_at_ms <= now) {
            spawn(m, i);
        }
    }
}

/* Milliseconds until the next thing the master must do by itself. */
static int64_t
next_timeout(const struct master *m)
{
    int64_t now = tk_mono_ms();
    int64_t t = 1000;

    if (m->stopping) {
        return TK_MAX(TK_MIN(t, m->stop_deadline_ms - now), 1);
    }
    for (int i = 0; i < m->conf->fcgi.workers; i++) {
        if (m->slots[i].pid == 0) {
            t = TK_MIN(t, m->slots[i].respawn_at_ms - now);
        }
    }
    if (m->watchdog_ms > 0) {
        t = TK_MIN(t, m->next_watchdog_ms - now);
    }
    return TK_MAX(t, 0);
}

static void
watchdog(struct master *m)
{
    int64_t now = tk_mono_ms();

    if (m->watchdog_ms > 0 && now >= m->next_watchdog_ms) {
        tk_notify_watchdog();
        m->next_watchdog_ms = now + m->watchdog_ms / 2;
    }
}

static void
master_release(struct master *m)
{
    if (m->listen_fd >= 0) {
        close(m->listen_fd);
    }
    free(m->sock_path);
    free(m->path);
    free(m->retiring);
    tk_metrics_destroy(m->metrics);
    tk_conf_release(m->conf);
    free(m->conf);
}

int
tk_server_run(const char *path, struct tk_conf *conf,
              const struct tk_hooks *hooks)
{
    struct master m;
    sigset_t set;
    int rc = 0;

    memset(&m, 0, sizeof(m));
    m.path = tk_xstrdup(path);
    m.conf = tk_xmalloc(sizeof(*m.conf));
    *m.conf = *conf; /* taken over */
    memset(conf, 0, sizeof(*conf));
    m.hooks = hooks;
    m.listen_fd = -1;
    apply_log_level(m.conf);

    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGQUIT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (listen_open(&m) < 0) {
        rc = 1;
        goto out;
    }
    m.metrics = tk_metrics_create();
    tk_metrics_set_workers(m.metrics, m.conf->fcgi.workers);
    m.watchdog_ms = m.conf->fcgi.watchdog_ms > 0 ? m.conf->fcgi.watchdog_ms
                                                  : tk_notify_watchdog_ms();
    for (int i = 0; i < m.conf->fcgi.workers; i++) {
        spawn(&m, i);
    }
    tk_info("started %d workers of %d threads", m.conf->fcgi.workers,
            m.conf->fcgi.threads);
    tk_notify_ready();

    for (;;) {
        int64_t ms = next_timeout(&m);
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
        int sig = sigtimedwait(&set, NULL, &ts);

        switch (sig) {
        case SIGTERM:
        case SIGINT:
        case SIGQUIT:
            stop(&m);
            break;
        case SIGHUP:
            if (!m.stopping) {
                reload(&m);
            }
            break;
        default: /* SIGCHLD, or a timeout */
            break;
        }
        reap(&m);
        if (m.stopping) {
            if (alive_count(&m) == 0) {
                break;
            }
            if (tk_mono_ms() >= m.stop_deadline_ms) {
                tk_warn("stop timed out: killing %d workers",
                        alive_count(&m));
                signal_all(&m, SIGKILL);
                while (wait(NULL) > 0) {
                }
                rc = 1;
                break;
            }
            continue;
        }
        respawn_due(&m);
        watchdog(&m);
    }
    tk_info("stopped");
out:
    master_release(&m);
    return rc;
}
