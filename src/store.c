/*
 * The MariaDB adapter. Layout: connection and error handling, the
 * statement table and cache, bind helpers, the run/fetch helpers every
 * typed function uses, transactions, migrations, then one section per
 * table. To add a query: add an enum stmt_id value and its row in stmts[],
 * then write the typed function with the bind and run helpers.
 *
 * MYSQL_OPT_RECONNECT stays off: an automatic reconnect silently rolls
 * back the open transaction and invalidates every prepared statement. We
 * reconnect explicitly instead and re-prepare lazily.
 */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "crypto.h"
#include "log.h"
#include "util.h"

#define ACT_COLS                                                              \
    "id, `key`, name, place, description, pic_url, start_time, end_time, "   \
    "book_start, book_end, total_tickets, status"
#define TICKET_COLS                                                           \
    "unique_id, activity_id, student_id, status, created_at, updated_at"

enum stmt_id {
    ST_ACT_INSERT,
    ST_ACT_UPDATE,
    ST_ACT_GET,
    ST_ACT_GET_KEY,
    ST_ACT_LIST,
    ST_ACT_LIST_OPEN,
    ST_ACT_SET_STATUS,
    ST_ACT_COUNTS,
    ST_STUDENT_GET,
    ST_STUDENT_HASH,
    ST_USER_GET,
    ST_USER_LOCK_OPENID,
    ST_USER_LOCK_STUDENT,
    ST_USER_INSERT,
    ST_USER_UPDATE,
    ST_USER_UNBIND,
    ST_USER_LIST_BOUND,
    ST_TICKET_GET,
    ST_TICKET_GET_STUDENT,
    ST_TICKET_LIST_VALID,
    ST_TICKET_SET_USED,
    ST_TICKET_LIST_ACT,
    ST_TICKET_UPSERT,
    ST_ADMIN_INSERT,
    ST_ADMIN_HASH,
    ST_IMAGE_INSERT,
    ST_MENU_GET,
    ST_MENU_CLEAR,
    ST_MENU_INSERT,
    ST_MIG_VERSIONS,
    ST_MIG_RECORD,
    ST_SERVER_STATUS,
    ST_COUNT
};

struct stmt_def {
    const char *name; /* for messages */
    const char *sql;
    bool idempotent;  /* may be retried once after a reconnect */
};

static const struct stmt_def stmts[ST_COUNT] = {
    [ST_ACT_INSERT] = {"activity insert",
                       "INSERT INTO activities (`key`, name, place, "
                       "description, pic_url, start_time, end_time, "
                       "book_start, book_end, total_tickets, status, "
                       "created_at, updated_at) "
                       "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       false},
    [ST_ACT_UPDATE] = {"activity update",
                       "UPDATE activities SET `key`=?, name=?, place=?, "
                       "description=?, pic_url=?, start_time=?, end_time=?, "
                       "book_start=?, book_end=?, total_tickets=?, "
                       "status=?, updated_at=? WHERE id=?",
                       true},
    [ST_ACT_GET] = {"activity get",
                    "SELECT " ACT_COLS " FROM activities WHERE id=?", true},
    [ST_ACT_GET_KEY] = {"activity get by key",
                        "SELECT " ACT_COLS
                        " FROM activities WHERE `key`=?",
                        true},
    [ST_ACT_LIST] = {"activity list",
                     "SELECT " ACT_COLS " FROM activities WHERE status>=0 "
                     "ORDER BY id",
                     true},
    [ST_ACT_LIST_OPEN] = {"activity list open",
                          "SELECT " ACT_COLS " FROM activities "
                          "WHERE status=1 AND book_end>? "
                          "ORDER BY book_start, id LIMIT ?",
                          true},
    [ST_ACT_SET_STATUS] = {"activity set status",
                           "UPDATE activities SET status=?, updated_at=? "
                           "WHERE id=? AND status>=0",
                           true},
    [ST_ACT_COUNTS] = {"activity counts",
                       "SELECT COALESCE(SUM(status IN (1,2)),0), "
                       "COALESCE(SUM(status=2),0) FROM tickets "
                       "WHERE activity_id=?",
                       true},
    [ST_STUDENT_GET] = {"student get",
                        "SELECT student_id, name FROM students "
                        "WHERE student_id=?",
                        true},
    [ST_STUDENT_HASH] = {"student password",
                         "SELECT password_hash FROM students "
                         "WHERE student_id=?",
                         true},
    [ST_USER_GET] = {"user get",
                     "SELECT student_id FROM users WHERE openid=? "
                     "AND student_id IS NOT NULL",
                     true},
    [ST_USER_LOCK_OPENID] = {"user lock by openid",
                             "SELECT COALESCE(student_id,'') FROM users "
                             "WHERE openid=? FOR UPDATE",
                             false},
    [ST_USER_LOCK_STUDENT] = {"user lock by student",
                              "SELECT openid FROM users WHERE student_id=? "
                              "FOR UPDATE",
                              false},
    [ST_USER_INSERT] = {"user insert",
                        "INSERT INTO users (openid, student_id, bound_at) "
                        "VALUES (?,?,?)",
                        false},
    [ST_USER_UPDATE] = {"user update",
                        "UPDATE users SET student_id=?, bound_at=? "
                        "WHERE openid=?",
                        false},
    [ST_USER_UNBIND] = {"user unbind",
                        "UPDATE users SET student_id=NULL, bound_at=NULL "
                        "WHERE openid=? AND student_id IS NOT NULL",
                        false},
    [ST_USER_LIST_BOUND] = {"user list bound",
                            "SELECT openid, student_id FROM users "
                            "WHERE student_id IS NOT NULL ORDER BY openid",
                            true},
    [ST_TICKET_GET] = {"ticket get",
                       "SELECT " TICKET_COLS
                       " FROM tickets WHERE unique_id=?",
                       true},
    [ST_TICKET_GET_STUDENT] = {"ticket get by student",
                               "SELECT " TICKET_COLS " FROM tickets "
                               "WHERE activity_id=? AND student_id=?",
                               true},
    [ST_TICKET_LIST_VALID] = {"ticket list valid",
                              "SELECT " TICKET_COLS " FROM tickets "
                              "WHERE student_id=? AND status=1 "
                              "ORDER BY created_at DESC, id DESC LIMIT ?",
                              true},
    [ST_TICKET_SET_USED] = {"ticket set used",
                            "UPDATE tickets SET status=2, updated_at=? "
                            "WHERE unique_id=? AND activity_id=? "
                            "AND status=1",
                            false},
    [ST_TICKET_LIST_ACT] = {"ticket list activity",
                            "SELECT " TICKET_COLS " FROM tickets "
                            "WHERE activity_id=? ORDER BY id",
                            true},
    /* updated_at first: the assignments see the old row left to right. */
    [ST_TICKET_UPSERT] = {"ticket upsert",
                          "INSERT INTO tickets (unique_id, activity_id, "
                          "student_id, status, created_at, updated_at) "
                          "VALUES (?,?,?,?,?,?) ON DUPLICATE KEY UPDATE "
                          "updated_at=IF(unique_id=VALUES(unique_id) AND "
                          "status=VALUES(status), updated_at, "
                          "VALUES(updated_at)), "
                          "unique_id=VALUES(unique_id), "
                          "status=VALUES(status)",
                          true},
    [ST_ADMIN_INSERT] = {"admin insert",
                         "INSERT INTO admins (username, password_hash, "
                         "created_at) VALUES (?,?,?)",
                         false},
    [ST_ADMIN_HASH] = {"admin password",
                       "SELECT password_hash FROM admins WHERE username=?",
                       true},
    [ST_IMAGE_INSERT] = {"image insert",
                         "INSERT INTO images (path, content_type, size, "
                         "created_at) VALUES (?,?,?,?)",
                         false},
    [ST_MENU_GET] = {"menu get",
                     "SELECT activity_id FROM menu ORDER BY position", true},
    [ST_MENU_CLEAR] = {"menu clear", "DELETE FROM menu", true},
    [ST_MENU_INSERT] = {"menu insert",
                        "INSERT INTO menu (position, activity_id) "
                        "VALUES (?,?)",
                        false},
    [ST_MIG_VERSIONS] = {"migration versions",
                         "SELECT version FROM schema_migrations", true},
    [ST_MIG_RECORD] = {"migration record",
                       "INSERT INTO schema_migrations (version, name, "
                       "applied_at) VALUES (?,?,?)",
                       false},
    [ST_SERVER_STATUS] = {"server status",
                          "SELECT VARIABLE_VALUE FROM "
                          "information_schema.GLOBAL_STATUS "
                          "WHERE VARIABLE_NAME=?",
                          true},
};

/* A statement prepared for a number of rows (multi-row inserts). */
struct batch_stmt {
    MYSQL_STMT *st;
    size_t rows;
};

/* Statements for the order events, one per row count in use: a full
 * chunk, the shorter last one and, while isolating a refused event, the
 * halves of a bisection. Replaced round robin. */
#define EVENT_STMTS 6

struct tk_store {
    MYSQL *db; /* NULL when not connected */
    MYSQL_STMT *st[ST_COUNT];
    struct batch_stmt student_batch;
    struct batch_stmt user_batch;
    struct batch_stmt event_batch[EVENT_STMTS];
    size_t event_next;       /* the slot replaced next */
    struct batch_stmt plain_batch;
    char plain_table[65];    /* the table plain_batch inserts into */
    bool in_tx;
    bool tx_lost; /* reconnected inside the transaction */
    char *host;
    char *socket;
    char *user;
    char *password;
    char *database;
    int port;
    int timeout_ms;
};

/* --- connection and errors ---------------------------------------------*/

struct tk_store *
tk_store_new(const struct tk_conf *conf)
{
    struct tk_store *s = tk_xcalloc(1, sizeof(*s));

    s->host = tk_xstrdup(conf->mysql.host);
    s->socket = tk_xstrdup(conf->mysql.socket);
    s->user = tk_xstrdup(conf->mysql.user);
    s->password = tk_xstrdup(conf->mysql.password);
    s->database = tk_xstrdup(conf->mysql.database);
    s->port = conf->mysql.port;
    s->timeout_ms = conf->mysql.timeout_ms;
    return s;
}

static void
batch_close(struct batch_stmt *b)
{
    if (b->st != NULL) {
        mysql_stmt_close(b->st);
    }
    b->st = NULL;
    b->rows = 0;
}

/* Drops the connection and every statement prepared on it. */
static void
store_disconnect(struct tk_store *s)
{
    for (size_t i = 0; i < ST_COUNT; i++) {
        if (s->st[i] != NULL) {
            mysql_stmt_close(s->st[i]);
            s->st[i] = NULL;
        }
    }
    batch_close(&s->student_batch);
    batch_close(&s->user_batch);
    for (size_t i = 0; i < EVENT_STMTS; i++) {
        batch_close(&s->event_batch[i]);
    }
    batch_close(&s->plain_batch);
    if (s->db != NULL) {
        mysql_close(s->db);
        s->db = NULL;
    }
    if (s->in_tx) {
        s->tx_lost = true;
    }
}

void
tk_store_free(struct tk_store *s)
{
    if (s == NULL) {
        return;
    }
    store_disconnect(s);
    free(s->host);
    free(s->socket);
    free(s->user);
    tk_free_secret(s->password);
    free(s->database);
    free(s);
}

void
tk_store_set_timeout_ms(struct tk_store *s, int ms)
{
    s->timeout_ms = ms;
}

static bool
errno_is_gone(unsigned int e)
{
    return e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST ||
           e == CR_CONNECTION_ERROR || e == CR_CONN_HOST_ERROR;
}

/* Maps a server or client error number to our codes. */
static int
map_error(unsigned int e)
{
    switch (e) {
    case ER_DUP_ENTRY:
        return -EEXIST;
    case ER_LOCK_DEADLOCK:
    case ER_LOCK_WAIT_TIMEOUT:
        return -EDEADLK;
    case ER_CONSTRAINT_FAILED:
    case ER_DATA_TOO_LONG:
    case ER_WARN_DATA_OUT_OF_RANGE:
    case ER_TRUNCATED_WRONG_VALUE:
    case ER_BAD_NULL_ERROR:
        return -EINVAL;
    default:
        return errno_is_gone(e) ? -ENOTCONN : -EIO;
    }
}

/* Logs one failure of what (a statement name) and returns its code.
 * Duplicates are an expected outcome for callers, so only debug. */
static int
report(const char *what, unsigned int e, const char *msg)
{
    int rc = map_error(e);

    if (rc == -EEXIST) {
        tk_debug("mariadb: %s: duplicate: %s", what, msg);
    } else {
        tk_err("mariadb: %s failed: %s (%u)", what, msg, e);
    }
    return rc;
}

static int
store_connect(struct tk_store *s)
{
    unsigned int secs = (unsigned int)((s->timeout_ms + 999) / 1000);
    my_bool off = 0;
    const char *host = *s->socket != '\0' ? "localhost" : s->host;
    const char *sock = *s->socket != '\0' ? s->socket : NULL;
    int rc;

    if (s->db != NULL) {
        return 0;
    }
    s->db = mysql_init(NULL);
    if (s->db == NULL) {
        tk_err("mariadb: mysql_init failed");
        abort();
    }
    mysql_options(s->db, MYSQL_OPT_CONNECT_TIMEOUT, &secs);
    mysql_options(s->db, MYSQL_OPT_READ_TIMEOUT, &secs);
    mysql_options(s->db, MYSQL_OPT_WRITE_TIMEOUT, &secs);
    mysql_options(s->db, MYSQL_OPT_RECONNECT, &off);
    mysql_options(s->db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (mysql_real_connect(s->db, host, s->user, s->password, s->database,
                           (unsigned int)s->port, sock,
                           CLIENT_FOUND_ROWS) == NULL) {
        unsigned int e = mysql_errno(s->db);

        tk_err("mariadb: connect to '%s' failed: %s (%u)",
               sock != NULL ? sock : host, mysql_error(s->db), e);
        rc = errno_is_gone(e) || e == CR_UNKNOWN_HOST ? -ENOTCONN
                                                       : map_error(e);
        mysql_close(s->db);
        s->db = NULL;
        return rc;
    }
    return 0;
}

int
tk_store_open(struct tk_store **out, const struct tk_conf *conf)
{
    struct tk_store *s = tk_store_new(conf);
    int rc = store_connect(s);

    if (rc < 0) {
        tk_store_free(s);
        s = NULL;
    }
    *out = s;
    return rc;
}

/* Plain text query without results (transaction control, locks). */
static int
simple_query(struct tk_store *s, const char *what, const char *sql)
{
    int rc = store_connect(s);

    if (rc < 0) {
        return rc;
    }
    if (mysql_real_query(s->db, sql, strlen(sql)) != 0) {
        unsigned int e = mysql_errno(s->db);

        rc = report(what, e, mysql_error(s->db));
        if (errno_is_gone(e)) {
            store_disconnect(s);
        }
        return rc;
    }
    return 0;
}

int
tk_store_ping(struct tk_store *s)
{
    int rc = store_connect(s);

    if (rc < 0) {
        return rc;
    }
    if (mysql_ping(s->db) != 0) {
        store_disconnect(s);
        if (s->in_tx) {
            return -ECONNABORTED;
        }
        rc = store_connect(s);
    }
    return rc;
}

/* --- bind helpers ------------------------------------------------------*/

#define BINDS_INLINE 16

/* Parameter or result bindings; strings in are borrowed, string outs are
 * NUL-terminated by fetch_row(). */
struct binds {
    MYSQL_BIND *b;
    unsigned long *len;
    my_bool *null;
    size_t n, cap;
    MYSQL_BIND ib[BINDS_INLINE];
    unsigned long ilen[BINDS_INLINE];
    my_bool inull[BINDS_INLINE];
};

static void
binds_init(struct binds *v, size_t cap)
{
    memset(v, 0, offsetof(struct binds, ib));
    if (cap <= BINDS_INLINE) {
        memset(v->ib, 0, sizeof(v->ib));
        v->b = v->ib;
        v->len = v->ilen;
        v->null = v->inull;
        cap = BINDS_INLINE;
    } else {
        v->b = tk_xcalloc(cap, sizeof(*v->b));
        v->len = tk_xcalloc(cap, sizeof(*v->len));
        v->null = tk_xcalloc(cap, sizeof(*v->null));
    }
    v->cap = cap;
}

static void
binds_release(struct binds *v)
{
    if (v->b != v->ib) {
        free(v->b);
        free(v->len);
        free(v->null);
    }
}

static MYSQL_BIND *
bind_next(struct binds *v)
{
    MYSQL_BIND *b;

    if (v->n >= v->cap) {
        tk_err("store: too many bind values (%zu)", v->n);
        abort();
    }
    b = &v->b[v->n];
    memset(b, 0, sizeof(*b));
    v->len[v->n] = 0;
    v->null[v->n] = 0;
    b->length = &v->len[v->n];
    b->is_null = &v->null[v->n];
    v->n++;
    return b;
}

/* An int64 in or out. */
static void
bind_i64(struct binds *v, int64_t *p)
{
    MYSQL_BIND *b = bind_next(v);

    b->buffer_type = MYSQL_TYPE_LONGLONG;
    b->buffer = p;
}

static void
bind_int(struct binds *v, int *p)
{
    MYSQL_BIND *b = bind_next(v);

    b->buffer_type = MYSQL_TYPE_LONG;
    b->buffer = p;
}

/* A string parameter; NULL binds SQL NULL. */
static void
bind_str(struct binds *v, const char *s)
{
    MYSQL_BIND *b = bind_next(v);

    b->buffer_type = MYSQL_TYPE_STRING;
    if (s == NULL) {
        *b->is_null = 1;
        return;
    }
    b->buffer = (void *)s;
    *b->length = strlen(s);
    b->buffer_length = *b->length;
}

/* A string result into buf of cap bytes (NULL reads as ""). */
static void
bind_str_out(struct binds *v, char *buf, size_t cap)
{
    MYSQL_BIND *b = bind_next(v);

    b->buffer_type = MYSQL_TYPE_STRING;
    b->buffer = buf;
    b->buffer_length = cap - 1;
    buf[0] = '\0';
}

static void
bind_activity_out(struct binds *v, struct tk_activity *a)
{
    bind_i64(v, &a->id);
    bind_str_out(v, a->key, sizeof(a->key));
    bind_str_out(v, a->name, sizeof(a->name));
    bind_str_out(v, a->place, sizeof(a->place));
    bind_str_out(v, a->description, sizeof(a->description));
    bind_str_out(v, a->pic_url, sizeof(a->pic_url));
    bind_i64(v, &a->start_time);
    bind_i64(v, &a->end_time);
    bind_i64(v, &a->book_start);
    bind_i64(v, &a->book_end);
    bind_i64(v, &a->total_tickets);
    bind_int(v, &a->status);
}

static void
bind_ticket_out(struct binds *v, struct tk_ticket *t)
{
    bind_str_out(v, t->unique_id, sizeof(t->unique_id));
    bind_i64(v, &t->activity_id);
    bind_str_out(v, t->student_id, sizeof(t->student_id));
    bind_int(v, &t->status);
    bind_i64(v, &t->created_at);
    bind_i64(v, &t->updated_at);
}

/* --- statements --------------------------------------------------------*/

/* The cached statement id, prepared on this connection if need be. */
static int
stmt_get(struct tk_store *s, enum stmt_id id, MYSQL_STMT **out)
{
    MYSQL_STMT *st;
    int rc = store_connect(s);

    if (rc < 0) {
        return rc;
    }
    if (s->st[id] != NULL) {
        *out = s->st[id];
        return 0;
    }
    st = mysql_stmt_init(s->db);
    if (st == NULL) {
        return report(stmts[id].name, mysql_errno(s->db),
                      mysql_error(s->db));
    }
    if (mysql_stmt_prepare(st, stmts[id].sql, strlen(stmts[id].sql)) != 0) {
        unsigned int e = mysql_stmt_errno(st);

        rc = report(stmts[id].name, e, mysql_stmt_error(st));
        mysql_stmt_close(st);
        if (errno_is_gone(e)) {
            store_disconnect(s);
        }
        return rc;
    }
    s->st[id] = st;
    *out = st;
    return 0;
}

/*
 * Binds and executes st, buffering any result set. On a lost connection
 * the store disconnects; the caller decides about a retry. *gone tells.
 */
static int
stmt_exec(struct tk_store *s, MYSQL_STMT *st, const char *what,
          struct binds *in, struct binds *out, bool *gone)
{
    unsigned int e;

    *gone = false;
    if ((in != NULL && in->n > 0 && mysql_stmt_bind_param(st, in->b)) ||
        mysql_stmt_execute(st) != 0 ||
        (out != NULL && mysql_stmt_bind_result(st, out->b)) ||
        (out != NULL && mysql_stmt_store_result(st) != 0)) {
        e = mysql_stmt_errno(st);
        *gone = errno_is_gone(e);
        if (*gone) {
            tk_warn("mariadb: %s: connection lost: %s", what,
                    mysql_stmt_error(st));
            store_disconnect(s);
            return -ENOTCONN;
        }
        return report(what, e, mysql_stmt_error(st));
    }
    return 0;
}

/* Prepares (if need be) and runs statement id; retries once after a
 * reconnect when that is safe. *stp receives the statement for fetching. */
static int
run(struct tk_store *s, enum stmt_id id, struct binds *in, struct binds *out,
    MYSQL_STMT **stp)
{
    MYSQL_STMT *st = NULL;
    bool gone, reached;
    int rc;

    for (int attempt = 0;; attempt++) {
        if (s->tx_lost) {
            tk_err("mariadb: %s: connection lost inside a transaction",
                   stmts[id].name);
            return -ECONNABORTED;
        }
        rc = stmt_get(s, id, &st);
        reached = rc == 0;
        if (rc == 0) {
            rc = stmt_exec(s, st, stmts[id].name, in, out, &gone);
        } else {
            gone = rc == -ENOTCONN;
        }
        if (rc == 0) {
            *stp = st;
            return 0;
        }
        if (!gone || s->in_tx || s->tx_lost || attempt > 0 ||
            (reached && !stmts[id].idempotent)) {
            return s->tx_lost ? -ECONNABORTED : rc;
        }
        /* Safe to repeat: an idempotent statement, or one that never
         * reached the server because preparing it failed. */
        tk_notice("mariadb: %s: reconnecting", stmts[id].name);
    }
}

/* Fetches the next row: 1 row, 0 no more (result freed), < 0 error. */
static int
fetch_row(MYSQL_STMT *st, struct binds *out, const char *what)
{
    int r = mysql_stmt_fetch(st);

    if (r == MYSQL_NO_DATA) {
        mysql_stmt_free_result(st);
        return 0;
    }
    if (r == 1) {
        int rc = report(what, mysql_stmt_errno(st), mysql_stmt_error(st));

        mysql_stmt_free_result(st);
        return rc;
    }
    /* 0 or MYSQL_DATA_TRUNCATED: terminate the strings, cutting an
     * oversized value on a character boundary. */
    for (size_t i = 0; i < out->n; i++) {
        MYSQL_BIND *b = &out->b[i];

        if (b->buffer_type == MYSQL_TYPE_STRING) {
            char *buf = b->buffer;
            size_t n = out->null[i] ? 0 : out->len[i];

            if (n > b->buffer_length) {
                n = tk_utf8_truncate(buf, b->buffer_length,
                                     b->buffer_length);
            }
            buf[n] = '\0';
        }
    }
    return 1;
}

/* Runs a query expected to return at most one row: 1 hit, 0 miss. */
static int
query_one(struct tk_store *s, enum stmt_id id, struct binds *in,
          struct binds *out)
{
    MYSQL_STMT *st;
    int rc = run(s, id, in, out, &st);

    if (rc < 0) {
        return rc;
    }
    rc = fetch_row(st, out, stmts[id].name);
    if (rc == 1) {
        mysql_stmt_free_result(st);
    }
    return rc;
}

/* Runs a statement without a result; *affected gets the matched rows. */
static int
exec_stmt(struct tk_store *s, enum stmt_id id, struct binds *in,
          int64_t *affected, int64_t *insert_id)
{
    MYSQL_STMT *st;
    int rc = run(s, id, in, NULL, &st);

    if (rc < 0) {
        return rc;
    }
    if (affected != NULL) {
        *affected = (int64_t)mysql_stmt_affected_rows(st);
    }
    if (insert_id != NULL) {
        *insert_id = (int64_t)mysql_stmt_insert_id(st);
    }
    return 0;
}

/* --- transactions ------------------------------------------------------*/

int
tk_store_begin(struct tk_store *s)
{
    int rc;

    if (s->in_tx) {
        tk_err("mariadb: begin: a transaction is already open");
        return -EINVAL;
    }
    rc = simple_query(s, "begin", "START TRANSACTION");
    if (rc == -ENOTCONN) {
        /* Nothing was open, so starting again on a new link is safe. */
        rc = simple_query(s, "begin", "START TRANSACTION");
    }
    if (rc == 0) {
        s->in_tx = true;
        s->tx_lost = false;
    }
    return rc;
}

int
tk_store_commit(struct tk_store *s)
{
    int rc;

    if (!s->in_tx) {
        tk_err("mariadb: commit: no transaction is open");
        return -EINVAL;
    }
    if (s->tx_lost) {
        tk_err("mariadb: commit: connection lost inside the transaction");
        rc = -ECONNABORTED;
    } else {
        rc = simple_query(s, "commit", "COMMIT");
        if (rc == -ENOTCONN) {
            rc = -ECONNABORTED;
        }
    }
    s->in_tx = false;
    s->tx_lost = false;
    return rc;
}

void
tk_store_rollback(struct tk_store *s)
{
    if (s->in_tx && !s->tx_lost && s->db != NULL) {
        simple_query(s, "rollback", "ROLLBACK");
    }
    s->in_tx = false;
    s->tx_lost = false;
}

/* --- migrations --------------------------------------------------------*/

#define MIGRATION_MAX_BYTES (1024 * 1024)

/* Keeps NNN_name.sql files. */
static int
migration_filter(const struct dirent *d)
{
    const char *n = d->d_name;
    size_t len = strlen(n);

    return len > 8 && n[0] >= '0' && n[0] <= '9' && n[1] >= '0' &&
           n[1] <= '9' && n[2] >= '0' && n[2] <= '9' && n[3] == '_' &&
           strcmp(n + len - 4, ".sql") == 0;
}

static int
migration_list(const char *dir, struct dirent ***list)
{
    int n = scandir(dir, list, migration_filter, alphasort);

    if (n < 0) {
        int rc = -errno;

        tk_err("migrate: cannot read '%s': %s", dir, strerror(errno));
        return rc;
    }
    return n;
}

static void
migration_list_free(struct dirent **list, int n)
{
    for (int i = 0; i < n; i++) {
        free(list[i]);
    }
    free(list);
}

/* The bootstrap table; same definition as in 001_init.sql. */
static const char migrations_table[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INT NOT NULL PRIMARY KEY,"
    " name VARCHAR(255) NOT NULL,"
    " applied_at BIGINT NOT NULL"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";

/* Marks applied[version] for each recorded version (0..999). */
static int
migration_applied(struct tk_store *s, bool applied[1000])
{
    struct binds out;
    MYSQL_STMT *st;
    int64_t v = 0;
    int rc;

    memset(applied, 0, 1000 * sizeof(bool));
    rc = simple_query(s, "migration table", migrations_table);
    if (rc < 0) {
        return rc;
    }
    binds_init(&out, 1);
    bind_i64(&out, &v);
    rc = run(s, ST_MIG_VERSIONS, NULL, &out, &st);
    while (rc >= 0 && (rc = fetch_row(st, &out, "migration versions")) == 1) {
        if (v >= 0 && v < 1000) {
            applied[v] = true;
        }
    }
    binds_release(&out);
    return rc;
}

static int
read_file(const char *path, struct tk_buf *b)
{
    FILE *f = fopen(path, "r");
    char chunk[8192];
    size_t n;
    int rc = 0;

    if (f == NULL) {
        rc = -errno;
        tk_err("migrate: cannot open '%s': %s", path, strerror(errno));
        return rc;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        tk_buf_add(b, chunk, n);
        if (b->len > MIGRATION_MAX_BYTES) {
            tk_err("migrate: '%s' is larger than %d bytes", path,
                   MIGRATION_MAX_BYTES);
            rc = -EFBIG;
            break;
        }
    }
    if (rc == 0 && ferror(f)) {
        rc = -EIO;
        tk_err("migrate: cannot read '%s'", path);
    }
    fclose(f);
    return rc;
}

/* Runs the statements of one file as one multi-statement query. */
static int
migration_apply(struct tk_store *s, const char *path, const char *sql,
                size_t len)
{
    int status, rc = 0;

    mysql_set_server_option(s->db, MYSQL_OPTION_MULTI_STATEMENTS_ON);
    if (mysql_real_query(s->db, sql, len) != 0) {
        rc = report(path, mysql_errno(s->db), mysql_error(s->db));
    } else {
        do {
            MYSQL_RES *res = mysql_store_result(s->db);

            if (res != NULL) {
                mysql_free_result(res);
            }
            status = mysql_next_result(s->db);
        } while (status == 0);
        if (status > 0) {
            rc = report(path, mysql_errno(s->db), mysql_error(s->db));
        }
    }
    if (rc == -ENOTCONN) {
        store_disconnect(s);
        return rc;
    }
    mysql_set_server_option(s->db, MYSQL_OPTION_MULTI_STATEMENTS_OFF);
    return rc;
}

int
tk_store_migrate(struct tk_store *s, const char *dir, FILE *log)
{
    struct dirent **list = NULL;
    struct tk_buf sql = TK_BUF_INIT;
    bool applied[1000];
    int n, count = 0, rc;

    n = migration_list(dir, &list);
    if (n < 0) {
        return n;
    }
    /* One migrator at a time; the lock dies with the connection. */
    rc = simple_query(s, "migration lock",
                      "DO GET_LOCK('ticketd.migrate', 60)");
    if (rc == 0) {
        rc = migration_applied(s, applied);
    }
    for (int i = 0; rc >= 0 && i < n; i++) {
        const char *name = list[i]->d_name;
        int64_t version = atoi(name), now = tk_now();
        char path[4096];
        struct binds in;

        if (applied[version]) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        tk_buf_reset(&sql);
        rc = read_file(path, &sql);
        if (rc == 0) {
            rc = migration_apply(s, path, sql.data, sql.len);
        }
        if (rc < 0) {
            break;
        }
        binds_init(&in, 3);
        bind_i64(&in, &version);
        bind_str(&in, name);
        bind_i64(&in, &now);
        rc = exec_stmt(s, ST_MIG_RECORD, &in, NULL, NULL);
        binds_release(&in);
        if (rc < 0) {
            break;
        }
        count++;
        if (log != NULL) {
            fprintf(log, "applied %s\n", name);
        }
    }
    if (s->db != NULL) {
        simple_query(s, "migration unlock",
                     "DO RELEASE_LOCK('ticketd.migrate')");
    }
    tk_buf_release(&sql);
    migration_list_free(list, n);
    return rc < 0 ? rc : count;
}

int
tk_store_migrate_status(struct tk_store *s, const char *dir, FILE *out)
{
    struct dirent **list = NULL;
    bool applied[1000];
    int n, pending = 0, rc;

    n = migration_list(dir, &list);
    if (n < 0) {
        return n;
    }
    rc = migration_applied(s, applied);
    for (int i = 0; rc >= 0 && i < n; i++) {
        bool done = applied[atoi(list[i]->d_name)];

        fprintf(out, "%.3s %-8s %s\n", list[i]->d_name,
                done ? "applied" : "pending", list[i]->d_name);
        pending += !done;
    }
    migration_list_free(list, n);
    return rc < 0 ? rc : pending;
}

/* --- activities --------------------------------------------------------*/

static void
bind_activity_in(struct binds *v, const struct tk_activity *a, int *status,
                 int64_t *now)
{
    bind_str(v, a->key);
    bind_str(v, a->name);
    bind_str(v, a->place);
    bind_str(v, a->description);
    bind_str(v, a->pic_url);
    bind_i64(v, (int64_t *)&a->start_time);
    bind_i64(v, (int64_t *)&a->end_time);
    bind_i64(v, (int64_t *)&a->book_start);
    bind_i64(v, (int64_t *)&a->book_end);
    bind_i64(v, (int64_t *)&a->total_tickets);
    *status = a->status;
    bind_int(v, status);
    bind_i64(v, now);
}

int
tk_store_activity_create(struct tk_store *s, const struct tk_activity *a,
                         int64_t *id)
{
    struct binds in;
    int64_t now = tk_now();
    int status, rc;

    binds_init(&in, 13);
    bind_activity_in(&in, a, &status, &now);
    bind_i64(&in, &now);
    rc = exec_stmt(s, ST_ACT_INSERT, &in, NULL, id);
    binds_release(&in);
    return rc;
}

int
tk_store_activity_update(struct tk_store *s, const struct tk_activity *a)
{
    struct binds in;
    int64_t now = tk_now(), affected = 0, id = a->id;
    int status, rc;

    binds_init(&in, 13);
    bind_activity_in(&in, a, &status, &now);
    bind_i64(&in, &id);
    rc = exec_stmt(s, ST_ACT_UPDATE, &in, &affected, NULL);
    binds_release(&in);
    return rc < 0 ? rc : affected > 0;
}

int
tk_store_activity_get(struct tk_store *s, int64_t id, struct tk_activity *out)
{
    struct binds in, res;
    int rc;

    memset(out, 0, sizeof(*out));
    binds_init(&in, 1);
    bind_i64(&in, &id);
    binds_init(&res, 12);
    bind_activity_out(&res, out);
    rc = query_one(s, ST_ACT_GET, &in, &res);
    binds_release(&in);
    binds_release(&res);
    return rc;
}

int
tk_store_activity_get_by_key(struct tk_store *s, const char *key,
                             struct tk_activity *out)
{
    struct binds in, res;
    int rc;

    memset(out, 0, sizeof(*out));
    binds_init(&in, 1);
    bind_str(&in, key);
    binds_init(&res, 12);
    bind_activity_out(&res, out);
    rc = query_one(s, ST_ACT_GET_KEY, &in, &res);
    binds_release(&in);
    binds_release(&res);
    return rc;
}

int
tk_store_activity_list(struct tk_store *s,
                       int (*fn)(const struct tk_activity *, void *),
                       void *arg)
{
    struct tk_activity *a = tk_xcalloc(1, sizeof(*a));
    struct binds res;
    MYSQL_STMT *st;
    int count = 0, rc;

    binds_init(&res, 12);
    bind_activity_out(&res, a);
    rc = run(s, ST_ACT_LIST, NULL, &res, &st);
    while (rc >= 0 && (rc = fetch_row(st, &res, "activity list")) == 1) {
        count++;
        if (fn(a, arg) != 0) {
            mysql_stmt_free_result(st);
            rc = 0;
            break;
        }
    }
    binds_release(&res);
    free(a);
    return rc < 0 ? rc : count;
}

int
tk_store_activity_list_open(struct tk_store *s, int64_t now,
                            struct tk_activity *out, size_t max)
{
    struct tk_activity *a = tk_xcalloc(1, sizeof(*a));
    int64_t limit = (int64_t)max;
    struct binds in, res;
    MYSQL_STMT *st;
    size_t count = 0;
    int rc;

    binds_init(&in, 2);
    bind_i64(&in, &now);
    bind_i64(&in, &limit);
    binds_init(&res, 12);
    bind_activity_out(&res, a);
    rc = run(s, ST_ACT_LIST_OPEN, &in, &res, &st);
    while (rc >= 0 && (rc = fetch_row(st, &res, "activity list open")) == 1) {
        if (count < max) {
            out[count++] = *a;
        }
    }
    binds_release(&in);
    binds_release(&res);
    free(a);
    return rc < 0 ? rc : (int)count;
}

int
tk_store_activity_set_status(struct tk_store *s, int64_t id, int status)
{
    struct binds in;
    int64_t now = tk_now(), affected = 0;
    int rc;

    binds_init(&in, 3);
    bind_int(&in, &status);
    bind_i64(&in, &now);
    bind_i64(&in, &id);
    rc = exec_stmt(s, ST_ACT_SET_STATUS, &in, &affected, NULL);
    binds_release(&in);
    return rc < 0 ? rc : affected > 0;
}

int
tk_store_activity_counts(struct tk_store *s, int64_t id, int64_t *booked,
                         int64_t *used)
{
    struct binds in, res;
    int rc;

    *booked = *used = 0;
    binds_init(&in, 1);
    bind_i64(&in, &id);
    binds_init(&res, 2);
    bind_i64(&res, booked);
    bind_i64(&res, used);
    rc = query_one(s, ST_ACT_COUNTS, &in, &res);
    binds_release(&in);
    binds_release(&res);
    return rc < 0 ? rc : 0;
}

/* --- roster (students) -------------------------------------------------*/

/* The statement for rows rows of a multi-row insert, prepared once per
 * size (a full batch, then possibly the shorter last one). */
static int
batch_get(struct tk_store *s, struct batch_stmt *b, const char *what,
          const char *head, const char *row, const char *tail, size_t rows,
          MYSQL_STMT **out)
{
    struct tk_buf sql = TK_BUF_INIT;
    MYSQL_STMT *st;
    int rc = store_connect(s);

    if (rc < 0) {
        return rc;
    }
    if (b->st != NULL && b->rows == rows) {
        *out = b->st;
        return 0;
    }
    batch_close(b);
    tk_buf_adds(&sql, head);
    for (size_t i = 0; i < rows; i++) {
        tk_buf_adds(&sql, i == 0 ? row : ",");
        if (i > 0) {
            tk_buf_adds(&sql, row);
        }
    }
    tk_buf_adds(&sql, tail);
    st = mysql_stmt_init(s->db);
    if (st == NULL) {
        rc = report(what, mysql_errno(s->db), mysql_error(s->db));
    } else if (mysql_stmt_prepare(st, sql.data, sql.len) != 0) {
        unsigned int e = mysql_stmt_errno(st);

        rc = report(what, e, mysql_stmt_error(st));
        mysql_stmt_close(st);
        if (errno_is_gone(e)) {
            store_disconnect(s);
        }
    } else {
        b->st = st;
        b->rows = rows;
        *out = st;
    }
    tk_buf_release(&sql);
    return rc;
}

int
tk_store_student_insert_batch(struct tk_store *s,
                              const struct tk_store_student_row *rows,
                              size_t n)
{
    struct binds in;
    MYSQL_STMT *st;
    int64_t now = tk_now();
    size_t bound = 0;
    bool gone;
    int rc;

    if (n == 0) {
        return 0;
    }
    if (n > TK_STORE_BATCH_MAX) {
        tk_err("mariadb: student batch of %zu rows is too large", n);
        return -EINVAL;
    }
    if (s->tx_lost) {
        return -ECONNABORTED;
    }
    rc = batch_get(s, &s->student_batch, "student batch insert",
                   "INSERT INTO students (student_id, name, password_hash, "
                   "created_at) VALUES ",
                   "(?,?,?,?)",
                   " ON DUPLICATE KEY UPDATE name=VALUES(name), "
                   "password_hash=VALUES(password_hash)",
                   n, &st);
    if (rc < 0) {
        return rc;
    }
    binds_init(&in, 4 * n);
    for (size_t i = 0; i < n; i++) {
        bind_str(&in, rows[i].student_id);
        bind_str(&in, rows[i].name);
        bind_str(&in, rows[i].password_hash);
        bind_i64(&in, &now);
        bound += rows[i].openid != NULL && *rows[i].openid != '\0';
    }
    rc = stmt_exec(s, st, "student batch insert", &in, NULL, &gone);
    binds_release(&in);
    if (rc < 0 || bound == 0) {
        return rc;
    }
    rc = batch_get(s, &s->user_batch, "user batch insert",
                   "INSERT INTO users (openid, student_id, bound_at) VALUES ",
                   "(?,?,?)", "", bound, &st);
    if (rc < 0) {
        return rc;
    }
    binds_init(&in, 3 * bound);
    for (size_t i = 0; i < n; i++) {
        if (rows[i].openid != NULL && *rows[i].openid != '\0') {
            bind_str(&in, rows[i].openid);
            bind_str(&in, rows[i].student_id);
            bind_i64(&in, &now);
        }
    }
    rc = stmt_exec(s, st, "user batch insert", &in, NULL, &gone);
    binds_release(&in);
    return rc;
}

int
tk_store_student_get(struct tk_store *s, const char *student_id,
                     struct tk_student *out)
{
    struct binds in, res;
    int rc;

    memset(out, 0, sizeof(*out));
    binds_init(&in, 1);
    bind_str(&in, student_id);
    binds_init(&res, 2);
    bind_str_out(&res, out->student_id, sizeof(out->student_id));
    bind_str_out(&res, out->name, sizeof(out->name));
    rc = query_one(s, ST_STUDENT_GET, &in, &res);
    binds_release(&in);
    binds_release(&res);
    return rc;
}

/* The stored hash of a student or an admin: 1 hit, 0 miss. */
static int
get_hash(struct tk_store *s, enum stmt_id id, const char *name,
         char hash[256])
{
    struct binds in, res;
    int rc;

    binds_init(&in, 1);
    bind_str(&in, name);
    binds_init(&res, 1);
    bind_str_out(&res, hash, 256);
    rc = query_one(s, id, &in, &res);
    binds_release(&in);
    binds_release(&res);
    return rc;
}

int
tk_store_student_verify(struct tk_store *s, const char *student_id,
                        const char *password)
{
    char hash[256];
    int rc = get_hash(s, ST_STUDENT_HASH, student_id, hash);

    if (rc <= 0) {
        return rc;
    }
    return tk_password_verify(password, hash) ? 1 : 0;
}

/* --- bindings (users) --------------------------------------------------*/

/* The locked part of a bind; the caller owns the transaction. */
static int
bind_locked(struct tk_store *s, const char *openid, const char *student_id)
{
    char current[TK_SID_MAX + 1], other[TK_OPENID_MAX + 1];
    struct binds in, res;
    int64_t now = tk_now();
    int rc, row;

    binds_init(&in, 3);
    bind_str(&in, openid);
    binds_init(&res, 1);
    bind_str_out(&res, current, sizeof(current));
    row = query_one(s, ST_USER_LOCK_OPENID, &in, &res);
    if (row < 0) {
        rc = row;
        goto out;
    }
    if (row == 1 && *current != '\0') {
        rc = strcmp(current, student_id) == 0 ? TK_BIND_OK
                                              : TK_BIND_OPENID_BOUND;
        goto out;
    }
    in.n = 0;
    res.n = 0;
    bind_str(&in, student_id);
    bind_str_out(&res, other, sizeof(other));
    rc = query_one(s, ST_USER_LOCK_STUDENT, &in, &res);
    if (rc != 0) {
        rc = rc == 1 ? TK_BIND_STUDENT_TAKEN : rc;
        goto out;
    }
    in.n = 0;
    if (row == 1) {
        bind_str(&in, student_id);
        bind_i64(&in, &now);
        bind_str(&in, openid);
        rc = exec_stmt(s, ST_USER_UPDATE, &in, NULL, NULL);
    } else {
        bind_str(&in, openid);
        bind_str(&in, student_id);
        bind_i64(&in, &now);
        rc = exec_stmt(s, ST_USER_INSERT, &in, NULL, NULL);
    }
    /* A concurrent bind of the same student won the unique key. */
    if (rc == -EEXIST) {
        rc = TK_BIND_STUDENT_TAKEN;
    }
out:
    binds_release(&in);
    binds_release(&res);
    return rc;
}

int
tk_store_user_bind(struct tk_store *s, const char *openid,
                   const char *student_id, const char *password)
{
    char hash[256];
    int rc = get_hash(s, ST_STUDENT_HASH, student_id, hash);

    if (rc <= 0) {
        return rc < 0 ? rc : TK_BIND_BAD_CREDENTIALS;
    }
    if (password != NULL && !tk_password_verify(password, hash)) {
        return TK_BIND_BAD_CREDENTIALS;
    }
    rc = tk_store_begin(s);
    if (rc < 0) {
        return rc;
    }
    rc = bind_locked(s, openid, student_id);
    if (rc == TK_BIND_OK) {
        rc = tk_store_commit(s);
    } else {
        tk_store_rollback(s);
    }
    return rc;
}

int
tk_store_user_unbind(struct tk_store *s, const char *openid)
{
    struct binds in;
    int64_t affected = 0;
    int rc;

    binds_init(&in, 1);
    bind_str(&in, openid);
    rc = exec_stmt(s, ST_USER_UNBIND, &in, &affected, NULL);
    binds_release(&in);
    return rc < 0 ? rc : affected > 0;
}

int
tk_store_user_get(struct tk_store *s, const char *openid,
                  char student_id[TK_SID_MAX + 1])
{
    struct binds in, res;
    int rc;

    binds_init(&in, 1);
    bind_str(&in, openid);
    binds_init(&res, 1);
    bind_str_out(&res, student_id, TK_SID_MAX + 1);
    rc = query_one(s, ST_USER_GET, &in, &res);
    binds_release(&in);
    binds_release(&res);
    return rc;
}

int
tk_store_user_list_bound(struct tk_store *s,
                         int (*fn)(const char *openid, const char *sid,
                                   void *arg),
                         void *arg)
{
    char openid[TK_OPENID_MAX + 1], sid[TK_SID_MAX + 1];
    struct binds res;
    MYSQL_STMT *st;
    int count = 0, rc;

    binds_init(&res, 2);
    bind_str_out(&res, openid, sizeof(openid));
    bind_str_out(&res, sid, sizeof(sid));
    rc = run(s, ST_USER_LIST_BOUND, NULL, &res, &st);
    while (rc >= 0 &&
           (rc = fetch_row(st, &res, stmts[ST_USER_LIST_BOUND].name)) == 1) {
        count++;
        if (fn(openid, sid, arg) != 0) {
            mysql_stmt_free_result(st);
            rc = 0;
            break;
        }
    }
    binds_release(&res);
    return rc < 0 ? rc : count;
}

/* --- tickets -----------------------------------------------------------*/

int
tk_store_ticket_get(struct tk_store *s, const char *unique_id,
                    struct tk_ticket *out)
{
    struct binds in, res;
    int rc;

    memset(out, 0, sizeof(*out));
    binds_init(&in, 1);
    bind_str(&in, unique_id);
    binds_init(&res, 6);
    bind_ticket_out(&res, out);
    rc = query_one(s, ST_TICKET_GET, &in, &res);
    binds_release(&in);
    binds_release(&res);
    return rc;
}

int
tk_store_ticket_get_by_student(struct tk_store *s, int64_t activity_id,
                               const char *student_id, struct tk_ticket *out)
{
    struct binds in, res;
    int rc;

    memset(out, 0, sizeof(*out));
    binds_init(&in, 2);
    bind_i64(&in, &activity_id);
    bind_str(&in, student_id);
    binds_init(&res, 6);
    bind_ticket_out(&res, out);
    rc = query_one(s, ST_TICKET_GET_STUDENT, &in, &res);
    binds_release(&in);
    binds_release(&res);
    return rc;
}

int
tk_store_ticket_list_valid(struct tk_store *s, const char *student_id,
                           struct tk_ticket *out, size_t max)
{
    int64_t limit = (int64_t)max;
    struct tk_ticket t;
    struct binds in, res;
    MYSQL_STMT *st;
    size_t count = 0;
    int rc;

    binds_init(&in, 2);
    bind_str(&in, student_id);
    bind_i64(&in, &limit);
    binds_init(&res, 6);
    bind_ticket_out(&res, &t);
    rc = run(s, ST_TICKET_LIST_VALID, &in, &res, &st);
    while (rc >= 0 && (rc = fetch_row(st, &res, "ticket list valid")) == 1) {
        if (count < max) {
            out[count++] = t;
        }
    }
    binds_release(&in);
    binds_release(&res);
    return rc < 0 ? rc : (int)count;
}

int
tk_store_ticket_set_used(struct tk_store *s, int64_t activity_id,
                         const char *unique_id)
{
    struct tk_ticket t;
    struct binds in;
    int64_t now = tk_now(), affected = 0;
    int rc;

    binds_init(&in, 3);
    bind_i64(&in, &now);
    bind_str(&in, unique_id);
    bind_i64(&in, &activity_id);
    rc = exec_stmt(s, ST_TICKET_SET_USED, &in, &affected, NULL);
    binds_release(&in);
    if (rc < 0 || affected > 0) {
        return rc < 0 ? rc : TK_CHECKIN_OK;
    }
    rc = tk_store_ticket_get(s, unique_id, &t);
    if (rc < 0) {
        return rc;
    }
    if (rc == 1 && t.activity_id == activity_id &&
        t.status == TK_TICKET_USED) {
        return TK_CHECKIN_USED;
    }
    return TK_CHECKIN_NO_TICKET;
}

int
tk_store_ticket_list_activity(struct tk_store *s, int64_t activity_id,
                              int (*fn)(const struct tk_ticket *, void *),
                              void *arg)
{
    struct tk_ticket t;
    struct binds in, res;
    MYSQL_STMT *st;
    int count = 0, rc;

    binds_init(&in, 1);
    bind_i64(&in, &activity_id);
    binds_init(&res, 6);
    bind_ticket_out(&res, &t);
    rc = run(s, ST_TICKET_LIST_ACT, &in, &res, &st);
    while (rc >= 0 &&
           (rc = fetch_row(st, &res, stmts[ST_TICKET_LIST_ACT].name)) == 1) {
        count++;
        if (fn(&t, arg) != 0) {
            mysql_stmt_free_result(st);
            rc = 0;
            break;
        }
    }
    binds_release(&in);
    binds_release(&res);
    return rc < 0 ? rc : count;
}

int
tk_store_ticket_upsert(struct tk_store *s, const struct tk_ticket *t)
{
    struct binds in;
    int64_t act = t->activity_id, now = tk_now();
    int status = t->status;
    int rc;

    binds_init(&in, 6);
    bind_str(&in, t->unique_id);
    bind_i64(&in, &act);
    bind_str(&in, t->student_id);
    bind_int(&in, &status);
    bind_i64(&in, &now);
    bind_i64(&in, &now);
    rc = exec_stmt(s, ST_TICKET_UPSERT, &in, NULL, NULL);
    binds_release(&in);
    return rc;
}

/* --- order events (ticket-persistd) ------------------------------------*/

#define EVENT_COLS                                                            \
    "INSERT INTO %s (unique_id, activity_id, student_id, status, "            \
    "last_event_ms, last_event_seq, created_at, updated_at) VALUES "
#define EVENT_ROW "(?,?,?,?,?,?,?,?)"
/* The event is newer than the last one applied to the row. */
#define NEWER                                                                 \
    "(last_event_ms, last_event_seq) < "                                      \
    "(VALUES(last_event_ms), VALUES(last_event_seq))"
/* A grab (status 1) takes the row over; a refund or a check-in changes
 * only the ticket it names. */
#define CONCERNS "(VALUES(status) = 1 OR unique_id = VALUES(unique_id))"

/*
 * The assignments run left to right and each sees the ones before it, so
 * the stream id columns come last and every condition before them reads
 * the row's old position. A unique_id that names the row of another
 * (activity, student) would make the server update that row: status 9
 * breaks ck_tickets_status instead, so the statement is refused and the
 * caller can isolate the event.
 */
static const char event_upsert_tail[] =
    " ON DUPLICATE KEY UPDATE "
    "status = IF(activity_id <> VALUES(activity_id) OR "
    "student_id <> VALUES(student_id), 9, "
    "IF(" NEWER " AND " CONCERNS ", VALUES(status), status)), "
    "created_at = IF(" NEWER " AND VALUES(status) = 1 AND "
    "unique_id <> VALUES(unique_id), VALUES(created_at), created_at), "
    "updated_at = IF(" NEWER " AND " CONCERNS
    ", VALUES(updated_at), updated_at), "
    "unique_id = IF(" NEWER " AND VALUES(status) = 1, "
    "VALUES(unique_id), unique_id), "
    "last_event_seq = IF(" NEWER ", VALUES(last_event_seq), "
    "last_event_seq), "
    "last_event_ms = GREATEST(last_event_ms, VALUES(last_event_ms))";

static void
bind_events(struct binds *in, const struct tk_store_event *ev, size_t n)
{
    binds_init(in, 8 * n);
    for (size_t i = 0; i < n; i++) {
        bind_str(in, ev[i].unique_id);
        bind_i64(in, (int64_t *)&ev[i].activity_id);
        bind_str(in, ev[i].student_id);
        bind_int(in, (int *)&ev[i].status);
        bind_i64(in, (int64_t *)&ev[i].ms);
        bind_i64(in, (int64_t *)&ev[i].seq);
        bind_i64(in, (int64_t *)&ev[i].ts);
        bind_i64(in, (int64_t *)&ev[i].ts);
    }
}

/* The upsert statement for rows rows, from the small cache of sizes. */
static int
event_stmt_get(struct tk_store *s, size_t rows, MYSQL_STMT **out)
{
    struct batch_stmt *b = NULL;
    char head[sizeof(EVENT_COLS) + 16];

    for (size_t i = 0; i < EVENT_STMTS; i++) {
        if (s->event_batch[i].st != NULL && s->event_batch[i].rows == rows) {
            *out = s->event_batch[i].st;
            return 0;
        }
    }
    b = &s->event_batch[s->event_next];
    s->event_next = (s->event_next + 1) % EVENT_STMTS;
    snprintf(head, sizeof(head), EVENT_COLS, "tickets");
    return batch_get(s, b, "event upsert", head, EVENT_ROW,
                     event_upsert_tail, rows, out);
}

/* Runs one chunk of at most TK_STORE_EVENT_CHUNK events. */
static int
events_chunk(struct tk_store *s, const struct tk_store_event *ev, size_t n)
{
    struct binds in;
    MYSQL_STMT *st;
    bool gone;
    int rc = event_stmt_get(s, n, &st);

    if (rc < 0) {
        return s->tx_lost ? -ECONNABORTED : rc;
    }
    bind_events(&in, ev, n);
    rc = stmt_exec(s, st, "event upsert", &in, NULL, &gone);
    binds_release(&in);
    if (gone && s->in_tx) {
        return -ECONNABORTED;
    }
    return rc;
}

int
tk_store_events_apply(struct tk_store *s, const struct tk_store_event *ev,
                      size_t n)
{
    int rc = 0;

    if (s->tx_lost) {
        return -ECONNABORTED;
    }
    for (size_t off = 0; off < n && rc == 0; off += TK_STORE_EVENT_CHUNK) {
        size_t k = n - off < TK_STORE_EVENT_CHUNK ? n - off
                                                   : TK_STORE_EVENT_CHUNK;

        rc = events_chunk(s, ev + off, k);
    }
    return rc;
}

static bool
table_name_is_valid(const char *table)
{
    size_t n = strlen(table);

    if (n == 0 || n > 64) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = table[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_')) {
            return false;
        }
    }
    return true;
}

int
tk_store_events_insert_plain(struct tk_store *s, const char *table,
                             const struct tk_store_event *ev, size_t n)
{
    char head[sizeof(EVENT_COLS) + 80];
    struct binds in;
    MYSQL_STMT *st;
    bool gone;
    int rc = 0;

    if (!table_name_is_valid(table)) {
        tk_err("mariadb: plain insert: bad table name '%s'", table);
        return -EINVAL;
    }
    if (strcmp(s->plain_table, table) != 0) {
        batch_close(&s->plain_batch);
        tk_strlcpy(s->plain_table, table, sizeof(s->plain_table));
    }
    snprintf(head, sizeof(head), EVENT_COLS, table);
    for (size_t off = 0; off < n && rc == 0; off += TK_STORE_EVENT_CHUNK) {
        size_t k = n - off < TK_STORE_EVENT_CHUNK ? n - off
                                                   : TK_STORE_EVENT_CHUNK;

        rc = batch_get(s, &s->plain_batch, "plain insert", head, EVENT_ROW,
                       "", k, &st);
        if (rc == 0) {
            bind_events(&in, ev + off, k);
            rc = stmt_exec(s, st, "plain insert", &in, NULL, &gone);
            binds_release(&in);
        }
    }
    return rc;
}

int
tk_store_exec(struct tk_store *s, const char *sql)
{
    if (s->tx_lost) {
        return -ECONNABORTED;
    }
    return simple_query(s, "statement", sql);
}

/* --- admins ------------------------------------------------------------*/

int
tk_store_admin_add(struct tk_store *s, const char *username,
                   const char *password)
{
    char hash[TK_PW_HASH_MAX];
    struct binds in;
    int64_t now = tk_now();
    int rc;

    tk_password_hash(password, TK_PW_ITER_ADMIN, hash);
    binds_init(&in, 3);
    bind_str(&in, username);
    bind_str(&in, hash);
    bind_i64(&in, &now);
    rc = exec_stmt(s, ST_ADMIN_INSERT, &in, NULL, NULL);
    binds_release(&in);
    return rc;
}

int
tk_store_admin_verify(struct tk_store *s, const char *username,
                      const char *password)
{
    char hash[256];
    int rc = get_hash(s, ST_ADMIN_HASH, username, hash);

    if (rc < 0) {
        return rc;
    }
    if (rc == 0) {
        /* Same work for an unknown name, so timing does not tell. */
        tk_password_hash(password, TK_PW_ITER_ADMIN, hash);
        return 0;
    }
    return tk_password_verify(password, hash) ? 1 : 0;
}

/* --- images and menu ---------------------------------------------------*/

int
tk_store_image_insert(struct tk_store *s, const char *path,
                      const char *content_type, int64_t size, int64_t *id)
{
    struct binds in;
    int64_t now = tk_now();
    int rc;

    binds_init(&in, 4);
    bind_str(&in, path);
    bind_str(&in, content_type);
    bind_i64(&in, &size);
    bind_i64(&in, &now);
    rc = exec_stmt(s, ST_IMAGE_INSERT, &in, NULL, id);
    binds_release(&in);
    return rc;
}

int
tk_store_menu_get(struct tk_store *s, int64_t ids[TK_MENU_MAX])
{
    struct binds res;
    MYSQL_STMT *st;
    int64_t id = 0;
    int count = 0, rc;

    binds_init(&res, 1);
    bind_i64(&res, &id);
    rc = run(s, ST_MENU_GET, NULL, &res, &st);
    while (rc >= 0 && (rc = fetch_row(st, &res, "menu get")) == 1) {
        if (count < TK_MENU_MAX) {
            ids[count++] = id;
        }
    }
    binds_release(&res);
    return rc < 0 ? rc : count;
}

int
tk_store_menu_set(struct tk_store *s, const int64_t *ids, size_t n)
{
    struct binds in;
    int64_t id;
    int pos, rc;

    if (n > TK_MENU_MAX) {
        tk_err("mariadb: menu of %zu entries is longer than %d", n,
               TK_MENU_MAX);
        return -EINVAL;
    }
    rc = tk_store_begin(s);
    if (rc < 0) {
        return rc;
    }
    rc = exec_stmt(s, ST_MENU_CLEAR, NULL, NULL, NULL);
    binds_init(&in, 2);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        in.n = 0;
        pos = (int)i;
        id = ids[i];
        bind_int(&in, &pos);
        bind_i64(&in, &id);
        rc = exec_stmt(s, ST_MENU_INSERT, &in, NULL, NULL);
    }
    binds_release(&in);
    if (rc < 0) {
        tk_store_rollback(s);
        return rc;
    }
    return tk_store_commit(s);
}

/* --- server ------------------------------------------------------------*/

int
tk_store_server_status(struct tk_store *s, const char *name, int64_t *value)
{
    char v[32];
    struct binds in, res;
    int rc;

    binds_init(&in, 1);
    bind_str(&in, name);
    binds_init(&res, 1);
    bind_str_out(&res, v, sizeof(v));
    rc = query_one(s, ST_SERVER_STATUS, &in, &res);
    binds_release(&in);
    binds_release(&res);
    if (rc == 1 && tk_parse_i64(v, value) < 0) {
        tk_err("mariadb: status '%s' is not a number: '%s'", name, v);
        rc = -EIO;
    }
    return rc;
}
