/* ticketctl user: the roster (import) and WeChat bindings. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "crypto.h"
#include "redis.h"
#include "roster_csv.h"
#include "store.h"
#include "ticketctl.h"

/* Password hashing dominates an import; it runs on this many threads. */
#define HASH_THREADS 2

struct batch {
    struct tk_roster_row rows[TK_STORE_BATCH_MAX];
    char hash[TK_STORE_BATCH_MAX][TK_PW_HASH_MAX];
    struct tk_store_student_row out[TK_STORE_BATCH_MAX];
    size_t n;
};

struct hash_job {
    struct batch *b;
    size_t from, to;
};

static void *
hash_range(void *arg)
{
    struct hash_job *j = arg;

    for (size_t i = j->from; i < j->to; i++) {
        tk_password_hash(j->b->rows[i].password, TK_PW_ITER_ROSTER,
                         j->b->hash[i]);
        tk_roster_row_wipe(&j->b->rows[i]);
    }
    return NULL;
}

/* The passwords of a batch being hashed on HASH_THREADS threads. */
struct hashing {
    struct hash_job jobs[HASH_THREADS];
    pthread_t th[HASH_THREADS];
    bool started[HASH_THREADS];
};

/* Starts hashing b; a thread that cannot start does its share here. */
static void
hash_start(struct hashing *h, struct batch *b)
{
    size_t per = (b->n + HASH_THREADS - 1) / HASH_THREADS;

    for (int t = 0; t < HASH_THREADS; t++) {
        h->jobs[t].b = b;
        h->jobs[t].from = TK_MIN(b->n, (size_t)t * per);
        h->jobs[t].to = TK_MIN(b->n, (size_t)(t + 1) * per);
        h->started[t] =
            pthread_create(&h->th[t], NULL, hash_range, &h->jobs[t]) == 0;
        if (!h->started[t]) {
            hash_range(&h->jobs[t]);
        }
    }
}

static void
hash_join(struct hashing *h)
{
    struct batch *b = h->jobs[0].b;

    for (int t = 0; t < HASH_THREADS; t++) {
        if (h->started[t]) {
            pthread_join(h->th[t], NULL);
        }
    }
    for (size_t i = 0; i < b->n; i++) {
        b->out[i].student_id = b->rows[i].student_id;
        b->out[i].name = b->rows[i].name;
        b->out[i].password_hash = b->hash[i];
        b->out[i].openid = b->rows[i].openid;
    }
}

/* Reads up to a batch of rows; returns < 0 when the file turned bad
 * since the first pass. */
static int
read_batch(struct tk_roster *r, struct batch *b)
{
    int rc = 1;

    b->n = 0;
    while (b->n < TK_STORE_BATCH_MAX &&
           (rc = tk_roster_next(r, &b->rows[b->n])) == 1) {
        b->n++;
    }
    return rc < 0 ? rc : 0;
}

static void
progress(size_t done, size_t total, int64_t start_ms, bool last)
{
    int64_t ms = TK_MAX(tk_mono_ms() - start_ms, (int64_t)1);

    fprintf(stderr, "imported %zu/%zu rows (%lld rows/s)%s", done, total,
            (long long)((int64_t)done * 1000 / ms),
            isatty(2) && !last ? "\r" : "\n");
}

/*
 * The second pass: every row, in batches, in one transaction so that a
 * failure (a binding taken in the database) leaves nothing behind. The
 * passwords of the next batch are hashed while the database inserts the
 * current one.
 */
static int
import_rows(struct tk_store *s, const char *path, FILE *f, size_t total,
            bool quiet)
{
    struct batch *b[2] = {tk_xcalloc(1, sizeof(struct batch)),
                          tk_xcalloc(1, sizeof(struct batch))};
    struct hashing h;
    struct tk_roster r;
    int64_t start = tk_mono_ms(), last = start;
    size_t done = 0;
    int cur = 0, rc;

    rc = tk_roster_open(&r, path, f, stderr) > 0 ? -EINVAL : 0;
    if (rc == 0) {
        rc = tk_store_begin(s);
    }
    if (rc == 0) {
        rc = read_batch(&r, b[cur]);
    }
    if (rc == 0) {
        hash_start(&h, b[cur]);
        hash_join(&h);
    }
    while (rc == 0 && b[cur]->n > 0) {
        struct batch *next = b[!cur];

        rc = read_batch(&r, next);
        if (rc == 0 && next->n > 0) {
            hash_start(&h, next);
        }
        if (rc == 0) {
            rc = tk_store_student_insert_batch(s, b[cur]->out, b[cur]->n);
            if (next->n > 0) {
                hash_join(&h);
            }
        }
        if (rc < 0) {
            break;
        }
        done += b[cur]->n;
        cur = !cur;
        if (!quiet && tk_mono_ms() - last >= 1000) {
            last = tk_mono_ms();
            progress(done, total, start, false);
        }
    }
    if (rc == 0) {
        rc = tk_store_commit(s);
    }
    if (rc < 0) {
        tk_store_rollback(s);
    } else if (!quiet) {
        progress(done, total, start, true);
    }
    for (int i = 0; i < 2; i++) {
        tk_wipe(b[i], sizeof(*b[i]));
        free(b[i]);
    }
    return rc < 0 ? rc : (int)TK_MIN(done, (size_t)0x7fffffff);
}

static int
user_import(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd self = {"import", user_import,
                                           "user import FILE.csv", ""};
    struct tk_store *s;
    size_t rows;
    FILE *f;
    int rc, n;

    if (tk_ctl_getopt(ctl, argc, argv, "") != -1 || optind + 1 != argc) {
        return tk_ctl_usage(&self);
    }
    f = fopen(argv[optind], "r");
    if (f == NULL) {
        fprintf(stderr, "%s: cannot open: %s\n", argv[optind],
                strerror(errno));
        return EX_NOINPUT;
    }
    /* First pass: the whole file is checked before anything is written. */
    n = tk_roster_check(argv[optind], f, stderr, &rows);
    if (n > 0) {
        fprintf(stderr, "%s: %d error%s; nothing imported\n", argv[optind],
                n, n == 1 ? "" : "s");
        rc = EX_DATAERR;
        goto out;
    }
    rc = tk_ctl_store(ctl, &s);
    if (rc != 0) {
        goto out;
    }
    rewind(f);
    n = import_rows(s, argv[optind], f, rows, ctl->quiet);
    if (n == -EEXIST) {
        fprintf(stderr, "%s: an openid or student of the file is already "
                        "bound in the database; nothing imported\n",
                argv[optind]);
        rc = EX_DATAERR;
    } else if (n < 0) {
        fprintf(stderr, "%s: import failed; nothing imported\n",
                argv[optind]);
        rc = n == -EINVAL ? EX_DATAERR : EX_UNAVAILABLE;
    } else {
        printf("imported %d rows\n", n);
    }
out:
    fclose(f);
    return rc;
}

/*
 * A binding changed in MariaDB: drop the cached one, so ticketd sees the
 * change now and not when the entry expires (preheat keeps them until the
 * end of the sale). MariaDB is the record, so a failure here only warns.
 */
static void
forget_cached_binding(struct tk_ctl *ctl, const char *openid)
{
    struct tk_redis *r;

    if (tk_ctl_redis(ctl, &r) != 0 ||
        tk_cache_invalidate_binding(r, openid) < 0) {
        fprintf(stderr,
                "ticketctl: warning: the cached binding of '%s' was not "
                "cleared; ticketd uses it until it expires\n",
                openid);
    }
}

static int
user_bind(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd self = {
        "bind", user_bind, "user bind OPENID STUDENT_ID", ""};
    static const char *const why[] = {
        [TK_BIND_BAD_CREDENTIALS] = "is not in the roster",
        [TK_BIND_STUDENT_TAKEN] = "is bound to another openid",
        [TK_BIND_OPENID_BOUND] = "cannot be bound: the openid is bound to "
                                 "another student",
    };
    struct tk_store *s;
    int rc;

    if (tk_ctl_getopt(ctl, argc, argv, "") != -1 || optind + 2 != argc) {
        return tk_ctl_usage(&self);
    }
    if (strlen(argv[optind]) > TK_OPENID_MAX ||
        strlen(argv[optind + 1]) > TK_SID_MAX) {
        fprintf(stderr, "ticketctl: openid or student id too long\n");
        return EX_DATAERR;
    }
    rc = tk_ctl_store(ctl, &s);
    if (rc != 0) {
        return rc;
    }
    rc = tk_store_user_bind(s, argv[optind], argv[optind + 1], NULL);
    if (rc < 0) {
        return EX_UNAVAILABLE;
    }
    if (rc != TK_BIND_OK) {
        fprintf(stderr, "ticketctl: student '%s' %s\n", argv[optind + 1],
                why[rc]);
        return EX_DATAERR;
    }
    forget_cached_binding(ctl, argv[optind]);
    return 0;
}

static int
user_unbind(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd self = {"unbind", user_unbind,
                                           "user unbind OPENID", ""};
    struct tk_store *s;
    int rc;

    if (tk_ctl_getopt(ctl, argc, argv, "") != -1 || optind + 1 != argc) {
        return tk_ctl_usage(&self);
    }
    rc = tk_ctl_store(ctl, &s);
    if (rc != 0) {
        return rc;
    }
    rc = tk_store_user_unbind(s, argv[optind]);
    if (rc < 0) {
        return EX_UNAVAILABLE;
    }
    if (rc == 0) {
        fprintf(stderr, "ticketctl: openid '%s' is not bound\n",
                argv[optind]);
        return EX_DATAERR;
    }
    forget_cached_binding(ctl, argv[optind]);
    return 0;
}

static int
user_show(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd self = {"show", user_show,
                                           "user show OPENID", ""};
    char sid[TK_SID_MAX + 1];
    struct tk_student st;
    struct tk_store *s;
    int rc;

    if (tk_ctl_getopt(ctl, argc, argv, "") != -1 || optind + 1 != argc) {
        return tk_ctl_usage(&self);
    }
    rc = tk_ctl_store(ctl, &s);
    if (rc != 0) {
        return rc;
    }
    rc = tk_store_user_get(s, argv[optind], sid);
    if (rc == 1) {
        rc = tk_store_student_get(s, sid, &st);
    }
    if (rc < 0) {
        return EX_UNAVAILABLE;
    }
    if (rc == 0) {
        printf("openid: %s\nstudent_id: \n", argv[optind]);
        return 0;
    }
    printf("openid: %s\nstudent_id: %s\nname: %s\n", argv[optind],
           st.student_id, st.name);
    return 0;
}

int
tk_cmd_user(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd sub[] = {
        {"bind", user_bind, "user bind OPENID STUDENT_ID",
         "bind without the password (support, tests)"},
        {"import", user_import, "user import FILE.csv",
         "import the roster: student_id,name,password[,openid]"},
        {"show", user_show, "user show OPENID", "the student bound"},
        {"unbind", user_unbind, "user unbind OPENID", "forget a binding"},
    };

    return tk_ctl_dispatch(ctl, sub, TK_ARRAY_SIZE(sub), "user", argc - 1,
                           argv + 1);
}
