/*
 * The system of record: MariaDB. store.c is the only user of the MariaDB
 * client API; everything else calls these typed functions.
 *
 * A struct tk_store is one connection plus its prepared statements; it is
 * not thread-safe, so each thread owns one. The connection is opened on
 * first use (or by tk_store_open()); when the server goes away the store
 * closes it, reconnects with the same timeouts, re-prepares its statements
 * lazily and retries the operation once if that is safe: only idempotent
 * statements, never inside a transaction (the reconnect lost it; the
 * transaction's next call and tk_store_commit() fail with -ECONNABORTED).
 *
 * Return values: 0 or a count on success, lookups 1 hit / 0 miss, and
 * negative errno codes on failure, logged once here with the statement
 * and the server's message:
 *   -ENOTCONN      the server cannot be reached
 *   -ECONNABORTED  the connection was lost inside a transaction
 *   -EEXIST        a unique key refused the row (duplicate)
 *   -EDEADLK       deadlock or lock wait timeout; retry the transaction
 *   -EINVAL        the server refused the values (constraint, range)
 *   -EIO           any other server error
 * Outcomes (bind refused, ...) are separate non-negative enum values.
 */
#ifndef TK_STORE_H
#define TK_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf.h"
#include "model.h"

struct tk_store;

/* Copies the mysql section of conf (the store does not keep conf). Does
 * not connect. Never NULL. */
struct tk_store *tk_store_new(const struct tk_conf *conf);

/* tk_store_new() and connect now; *out is NULL on failure. */
int tk_store_open(struct tk_store **out, const struct tk_conf *conf);

/* Closes the connection and frees everything; NULL is fine. */
void tk_store_free(struct tk_store *s);

/* Read/write timeout for the statements that follow (admin tools raise
 * it for long imports and migrations). Applies at the next connect. */
void tk_store_set_timeout_ms(struct tk_store *s, int ms);

/* Connects if not connected and checks the server answers. */
int tk_store_ping(struct tk_store *s);

/* Transactions. begin fails if one is open; rollback of nothing is a
 * no-op. After a failure inside a transaction, roll back. */
int tk_store_begin(struct tk_store *s);
int tk_store_commit(struct tk_store *s);
void tk_store_rollback(struct tk_store *s);

/* --- schema migrations -------------------------------------------------*/

/*
 * Applies every dir/NNN_*.sql whose version is not yet recorded in
 * schema_migrations, in order, each file as one multi-statement query,
 * recording it after success. Lines about each applied file go to log.
 * Returns the number applied, or < 0.
 */
int tk_store_migrate(struct tk_store *s, const char *dir, FILE *log);

/* Writes "VERSION applied|pending NAME" per file of dir to out; returns
 * the number pending, or < 0. */
int tk_store_migrate_status(struct tk_store *s, const char *dir, FILE *out);

/* --- activities --------------------------------------------------------*/

/* Inserts a (its id is ignored); *id receives the new id. -EEXIST when
 * the key is used by another activity (deleted ones included). */
int tk_store_activity_create(struct tk_store *s, const struct tk_activity *a,
                             int64_t *id);

/* Writes every field of a over the row a->id. 1 updated, 0 no such row,
 * -EEXIST when the new key belongs to another activity. */
int tk_store_activity_update(struct tk_store *s, const struct tk_activity *a);

/* Lookups of any status (deleted included): 1 hit, 0 miss. */
int tk_store_activity_get(struct tk_store *s, int64_t id,
                          struct tk_activity *out);
int tk_store_activity_get_by_key(struct tk_store *s, const char *key,
                                 struct tk_activity *out);

/* Calls fn for each activity with status >= 0, by id; stops early when fn
 * returns non-zero. Returns the number visited, or < 0. */
int tk_store_activity_list(struct tk_store *s,
                           int (*fn)(const struct tk_activity *, void *),
                           void *arg);

/* Published activities whose booking has not ended at now, soonest
 * book_start first, at most max into out. Returns the count, or < 0. */
int tk_store_activity_list_open(struct tk_store *s, int64_t now,
                                struct tk_activity *out, size_t max);

/* Sets the status of a not-deleted activity: 1 changed (or already so),
 * 0 no such activity or it is deleted. */
int tk_store_activity_set_status(struct tk_store *s, int64_t id, int status);

/* Tickets of an activity: booked = valid + used, used = used. */
int tk_store_activity_counts(struct tk_store *s, int64_t id, int64_t *booked,
                             int64_t *used);

/* --- roster (students) -------------------------------------------------*/

/* One roster line for tk_store_student_insert_batch(). */
struct tk_store_student_row {
    const char *student_id;
    const char *name;
    const char *password_hash; /* tk_password_hash() output */
    const char *openid;        /* NULL or "": no binding */
};

#define TK_STORE_BATCH_MAX 1000

/*
 * Inserts or replaces (name and hash) n <= TK_STORE_BATCH_MAX students in
 * one multi-row statement, and binds those with an openid in a second one
 * (-EEXIST when the openid or the student is already bound). Call it
 * inside a transaction so a failure leaves nothing.
 */
int tk_store_student_insert_batch(struct tk_store *s,
                                  const struct tk_store_student_row *rows,
                                  size_t n);

/* 1 and *out filled, 0 unknown student. */
int tk_store_student_get(struct tk_store *s, const char *student_id,
                         struct tk_student *out);

/* 1 when the student exists and password matches, 0 otherwise. */
int tk_store_student_verify(struct tk_store *s, const char *student_id,
                            const char *password);

/* --- bindings (users) --------------------------------------------------*/

enum tk_bind_outcome {
    TK_BIND_OK = 0,           /* bound now, or already to this student */
    TK_BIND_BAD_CREDENTIALS,  /* unknown student or wrong password */
    TK_BIND_STUDENT_TAKEN,    /* the student is bound to another openid */
    TK_BIND_OPENID_BOUND,     /* this openid is bound to another student */
};

/* Binds openid to student_id after checking password against the roster;
 * password NULL skips the check (admin), the student must still exist.
 * Runs its own transaction (call it outside one). Returns an enum
 * tk_bind_outcome, or < 0. */
int tk_store_user_bind(struct tk_store *s, const char *openid,
                       const char *student_id, const char *password);

/* 1 unbound, 0 was not bound. */
int tk_store_user_unbind(struct tk_store *s, const char *openid);

/* 1 and the student id (TK_SID_MAX + 1 bytes), 0 not bound. */
int tk_store_user_get(struct tk_store *s, const char *openid,
                      char student_id[TK_SID_MAX + 1]);

/* Calls fn(openid, student_id, arg) for every bound user, by openid;
 * stops early when fn returns non-zero. Returns the number visited, or
 * < 0. The strings are valid during the call only. */
int tk_store_user_list_bound(struct tk_store *s,
                             int (*fn)(const char *openid, const char *sid,
                                       void *arg),
                             void *arg);

/* --- tickets -----------------------------------------------------------*/

int tk_store_ticket_get(struct tk_store *s, const char *unique_id,
                        struct tk_ticket *out);
int tk_store_ticket_get_by_student(struct tk_store *s, int64_t activity_id,
                                   const char *student_id,
                                   struct tk_ticket *out);

/* The student's valid tickets, newest first, at most max. Returns the
 * count, or < 0. */
int tk_store_ticket_list_valid(struct tk_store *s, const char *student_id,
                               struct tk_ticket *out, size_t max);

/* Check-in: a valid ticket of activity_id becomes used. Returns an enum
 * tk_checkin_outcome (never TK_CHECKIN_NO_ACTIVITY), or < 0. */
int tk_store_ticket_set_used(struct tk_store *s, int64_t activity_id,
                             const char *unique_id);

/* Calls fn for every ticket row of the activity (any status), oldest
 * first; stops early when fn returns non-zero. Returns the number
 * visited, or < 0. */
int tk_store_ticket_list_activity(struct tk_store *s, int64_t activity_id,
                                  int (*fn)(const struct tk_ticket *, void *),
                                  void *arg);

/*
 * Writes t's row as Redis knows it, for `ticketctl reconcile --repair`
 * only (tickets are otherwise written by ticket-persistd alone): inserts
 * the (activity, student) row, or sets unique_id and status of the
 * existing one (updated_at only when something changes). Idempotent.
 * created_at/updated_at of t are ignored (now). 0 or < 0.
 */
int tk_store_ticket_upsert(struct tk_store *s, const struct tk_ticket *t);

/* --- order events (ticket-persistd) ------------------------------------*/

/*
 * One order event of an activity's stream, as ticket-persistd applies it
 * to the tickets row of (activity_id, student_id). Strings are borrowed.
 */
struct tk_store_event {
    int64_t activity_id;
    const char *student_id;
    const char *unique_id;
    int status;      /* the ticket status it leads to: grab 1, refund 0,
                        check-in 2 (enum tk_ticket_status) */
    int64_t ms, seq; /* its stream id, which orders the events */
    int64_t ts;      /* when it happened, Unix seconds */
};

/* Rows per statement (8 parameters each). */
#define TK_STORE_EVENT_CHUNK 1000

/*
 * Applies n events in order with multi-row upserts (one statement per
 * TK_STORE_EVENT_CHUNK events), inside the caller's transaction. An event
 * changes a row only when its stream id is greater than the row's last
 * one: a grab sets unique_id and status 1 (creating the row), a refund or
 * check-in sets status 0 or 2 when the row holds its unique_id (a row is
 * created when there is none, so an older grab replayed later stays
 * ignored). Replays change nothing; several events of one row end in the
 * state of the last.
 *
 * -EEXIST or -EINVAL: the server refused an event of the failing chunk
 * (its unique_id is another row's): that statement changed nothing and
 * the transaction stays usable, so the caller can split the events to
 * find it. -ECONNABORTED: the connection was lost; roll back and retry.
 */
int tk_store_events_apply(struct tk_store *s, const struct tk_store_event *ev,
                          size_t n);

/*
 * For the drain benchmark: inserts the rows of n events with plain
 * multi-row INSERTs (no upsert) into table, which has the columns of
 * tickets; table is [a-z0-9_]{1,64}.
 */
int tk_store_events_insert_plain(struct tk_store *s, const char *table,
                                 const struct tk_store_event *ev, size_t n);

/* Runs one SQL statement without a result (tools and benchmarks: CREATE
 * TABLE ... LIKE, DROP TABLE). */
int tk_store_exec(struct tk_store *s, const char *sql);

/* --- admins ------------------------------------------------------------*/

/* Hashes password (TK_PW_ITER_ADMIN) and stores it; -EEXIST if taken. */
int tk_store_admin_add(struct tk_store *s, const char *username,
                       const char *password);

/* 1 when the admin exists and password matches, 0 otherwise. */
int tk_store_admin_verify(struct tk_store *s, const char *username,
                          const char *password);

/* --- images and menu ---------------------------------------------------*/

int tk_store_image_insert(struct tk_store *s, const char *path,
                          const char *content_type, int64_t size,
                          int64_t *id);

#define TK_MENU_MAX 5

/* The menu's activity ids in order; returns the count (<= TK_MENU_MAX). */
int tk_store_menu_get(struct tk_store *s, int64_t ids[TK_MENU_MAX]);

/* Replaces the menu with n <= TK_MENU_MAX ids, in its own transaction
 * (call it outside one). */
int tk_store_menu_set(struct tk_store *s, const int64_t *ids, size_t n);

/* --- server ------------------------------------------------------------*/

/* A global status counter of the server (SHOW GLOBAL STATUS name, e.g.
 * Com_stmt_execute), read with one prepared statement execution, which
 * the counter may include. 1 and *value, 0 no such counter. */
int tk_store_server_status(struct tk_store *s, const char *name,
                           int64_t *value);

#endif
