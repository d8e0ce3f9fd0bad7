/*
 * ticket-persistd's loop. Layout: stream ids and small helpers, stream
 * discovery and groups, reading entries, applying a batch (with poison
 * isolation and backoff), acknowledging, trimming, the loop, figures and
 * dead letters.
 *
 * Ordering: the events of one (activity, student) all live in the
 * activity's stream, in order. tk_store_events_apply() applies an event
 * only when its stream id is greater than the row's last one, so a batch
 * replayed after a crash, entries claimed from a dead consumer after newer
 * ones were applied, or a refused event retried later never undo a newer
 * state. A batch is applied in stream order within each stream.
 *
 * Redis goes through the generic command interface of redis.h; MariaDB
 * through store.h.
 */
#include "persist.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "notify.h"
#include "redis.h"
#include "store.h"
#include "util.h"

#define RAW_MAX 64              /* a field value kept for dead letters */
#define REFRESH_MS 1000         /* stream discovery */
#define TRIM_MS 1000            /* XTRIM MINID of acknowledged entries */
#define LOG_MS 10000            /* counters in the log */
#define BACKOFF_MIN_MS 100
#define CLAIM_PAGES 16          /* XAUTOCLAIM calls per stream and round */
#define DEAD_PAGE 200

struct pstream {
    int64_t act;
    char key[TK_KEY_BUF];
    char cursor[TK_STREAM_ID_MAX]; /* own pending entries read up to */
    bool pending_done;
    bool group_ok;
    bool acked;                    /* acknowledged since the last trim */
    int64_t acked_ms, acked_seq;   /* the highest id acknowledged */
};

struct pevent {
    size_t stream;
    char id[TK_STREAM_ID_MAX];
    int64_t ms, seq; /* its order: the stream id, or oid when retried */
    int status;      /* the ticket status it leads to */
    int64_t ts;      /* Unix seconds */
    char t[RAW_MAX], sid[RAW_MAX], tid[RAW_MAX], ts_raw[RAW_MAX];
    char oid[RAW_MAX];
    const char *error; /* cannot be applied: straight to the dead letters */
    bool kept;         /* its dead letter was not written: stays pending */
    int refused;       /* MariaDB refused it in this delivery (< 0) */
    int64_t deliveries; /* known once refused */
};

struct tk_persist {
    const struct tk_conf *conf;
    volatile sig_atomic_t *stop;
    struct tk_redis *r;
    struct tk_store *s;
    char consumer[128];
    struct pstream *streams;
    size_t nstreams;
    bool fixed; /* tk_persist_set_streams() */
    int64_t refresh_at, claim_at, pending_at, trim_at, log_at;
    bool pending_due;
    struct pevent *ev;
    size_t nev, cap;
    struct tk_store_event *sev;
    size_t *map; /* sev index -> ev index */
    int64_t backoff_ms;
    struct tk_persist_counters total;
    size_t settling;       /* acknowledgement commands sent, not answered */
    size_t settling_acked; /* the events those commands acknowledge */
    size_t acked;          /* acknowledged and answered, for the step */
};

static void settle_collect(struct tk_persist *p);

/* --- helpers ------------------------------------------------------------*/

static bool
stopping(const struct tk_persist *p)
{
    return p->stop != NULL && *p->stop;
}

/* "MS-SEQ" -> ms, seq. */
static bool
stream_id_parse(const char *s, int64_t *ms, int64_t *seq)
{
    char buf[TK_STREAM_ID_MAX];
    char *dash;

    if (strlen(s) >= sizeof(buf)) {
        return false;
    }
    strcpy(buf, s);
    dash = strchr(buf, '-');
    if (dash == NULL) {
        return false;
    }
    *dash = '\0';
    return tk_parse_i64(buf, ms) == 0 && tk_parse_i64(dash + 1, seq) == 0 &&
           *ms >= 0 && *seq >= 0;
}

static void
copy_str(char *dst, size_t size, const struct tk_redis_reply *v)
{
    size_t n = 0;

    if (v != NULL && v->type == TK_REDIS_STRING) {
        n = v->len < size - 1 ? v->len : size - 1;
        memcpy(dst, v->str, n);
    }
    dst[n] = '\0';
}

static bool
is_array(const struct tk_redis_reply *v, size_t min)
{
    return v != NULL && v->type == TK_REDIS_ARRAY && v->elements >= min;
}

static bool
is_string(const struct tk_redis_reply *v)
{
    return v != NULL &&
           (v->type == TK_REDIS_STRING || v->type == TK_REDIS_STATUS);
}

/* Sends one command given as a NUL-terminated argv (n strings) and
 * checks for an error reply, logged as what. */
static int
command(struct tk_redis *r, const char *what, int argc, const char **argv,
        struct tk_redis_reply **reply)
{
    int rc = tk_redis_command(r, argc, argv, NULL, reply);

    if (rc < 0) {
        return rc;
    }
    if ((*reply)->type == TK_REDIS_ERROR) {
        tk_err("redis refused %s: %s", what, (*reply)->str);
        return -EPROTO;
    }
    return 0;
}

static void
sleep_ms(int64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

/* Sleeps ms in slices, feeding the watchdog; false when stopped. */
static bool
pause_ms(struct tk_persist *p, int64_t ms)
{
    int64_t end = tk_mono_ms() + ms;

    while (!stopping(p)) {
        int64_t left = end - tk_mono_ms();

        if (left <= 0) {
            return true;
        }
        tk_notify_watchdog();
        sleep_ms(left < 100 ? left : 100);
    }
    return false;
}

/* --- life cycle ---------------------------------------------------------*/

struct tk_persist *
tk_persist_new(const struct tk_conf *conf, volatile sig_atomic_t *stop)
{
    struct tk_persist *p = tk_xcalloc(1, sizeof(*p));

    p->conf = conf;
    p->stop = stop;
    p->r = tk_redis_new(conf);
    p->s = tk_store_new(conf);
    if (*conf->persist.consumer != '\0') {
        tk_strlcpy(p->consumer, conf->persist.consumer, sizeof(p->consumer));
    } else if (gethostname(p->consumer, sizeof(p->consumer) - 1) != 0 ||
               p->consumer[0] == '\0') {
        tk_strlcpy(p->consumer, "persist", sizeof(p->consumer));
    }
    p->pending_due = true;
    p->backoff_ms = BACKOFF_MIN_MS;
    p->log_at = tk_mono_ms() + LOG_MS;
    return p;
}

void
tk_persist_free(struct tk_persist *p)
{
    if (p == NULL) {
        return;
    }
    settle_collect(p);
    tk_redis_free(p->r);
    tk_store_free(p->s);
    free(p->streams);
    free(p->ev);
    free(p->sev);
    free(p->map);
    free(p);
}

const char *
tk_persist_consumer(const struct tk_persist *p)
{
    return p->consumer;
}

void
tk_persist_counters(const struct tk_persist *p,
                    struct tk_persist_counters *out)
{
    *out = p->total;
}

/* --- streams and groups ------------------------------------------------*/

static struct pstream *
stream_find(struct tk_persist *p, int64_t act)
{
    for (size_t i = 0; i < p->nstreams; i++) {
        if (p->streams[i].act == act) {
            return &p->streams[i];
        }
    }
    return NULL;
}

static void
stream_reset_cursor(struct pstream *st)
{
    strcpy(st->cursor, "0");
    st->pending_done = false;
}

/* Replaces the list by acts, keeping what is known about the others. */
static void
streams_set(struct tk_persist *p, const int64_t *acts, size_t n)
{
    struct pstream *next = tk_xcalloc(n + 1, sizeof(*next));

    for (size_t i = 0; i < n; i++) {
        struct pstream *old = stream_find(p, acts[i]);

        if (old != NULL) {
            next[i] = *old;
            continue;
        }
        next[i].act = acts[i];
        tk_key_events(next[i].key, acts[i]);
        stream_reset_cursor(&next[i]);
        /* A new stream may hold entries delivered before (a restart). */
        p->pending_due = true;
    }
    free(p->streams);
    p->streams = next;
    p->nstreams = n;
}

void
tk_persist_set_streams(struct tk_persist *p, const int64_t *acts, size_t n)
{
    p->fixed = true;
    streams_set(p, acts, n);
}

/* SMEMBERS tk:streams. */
static int
streams_refresh(struct tk_persist *p)
{
    const char *argv[] = { "SMEMBERS", TK_KEYS_STREAMS };
    struct tk_redis_reply *reply = NULL;
    int64_t *acts = NULL;
    size_t n = 0;
    int rc = command(p->r, "SMEMBERS " TK_KEYS_STREAMS, 2, argv, &reply);

    if (rc < 0) {
        goto done;
    }
    if (reply->type != TK_REDIS_ARRAY) {
        rc = -EPROTO;
        goto done;
    }
    acts = tk_xcalloc(reply->elements + 1, sizeof(*acts));
    for (size_t i = 0; i < reply->elements; i++) {
        int64_t act;

        if (!is_string(reply->element[i]) ||
            tk_parse_i64(reply->element[i]->str, &act) != 0 || act <= 0) {
            tk_warn("persist: ignoring bad member of " TK_KEYS_STREAMS);
            continue;
        }
        acts[n++] = act;
    }
    streams_set(p, acts, n);
done:
    free(acts);
    tk_redis_reply_free(reply);
    return rc;
}

/* XGROUP CREATE key persist 0 MKSTREAM for the streams without one yet:
 * from id 0, so events written before the group existed are read too. */
static int
groups_ensure(struct tk_persist *p)
{
    for (size_t i = 0; i < p->nstreams; i++) {
        struct pstream *st = &p->streams[i];
        const char *argv[] = { "XGROUP", "CREATE", st->key, TK_KEYS_GROUP,
                               "0", "MKSTREAM" };
        struct tk_redis_reply *reply = NULL;
        int rc;

        if (st->group_ok) {
            continue;
        }
        rc = tk_redis_command(p->r, 6, argv, NULL, &reply);
        if (rc < 0) {
            return rc;
        }
        if (reply->type == TK_REDIS_ERROR &&
            strncmp(reply->str, "BUSYGROUP", 9) != 0) {
            tk_err("persist: creating the group of '%s' failed: %s", st->key,
                   reply->str);
            tk_redis_reply_free(reply);
            return -EPROTO;
        }
        tk_redis_reply_free(reply);
        st->group_ok = true;
    }
    return 0;
}

/* A stream or its group vanished (FLUSHALL, DEL): create them again. */
static void
groups_lost(struct tk_persist *p)
{
    for (size_t i = 0; i < p->nstreams; i++) {
        p->streams[i].group_ok = false;
    }
    p->refresh_at = 0;
}

/* --- reading ------------------------------------------------------------*/

static const char *
field_of(const struct tk_redis_reply *fields, const char *name)
{
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const struct tk_redis_reply *f = fields->element[i];

        if (is_string(f) && strcmp(f->str, name) == 0 &&
            is_string(fields->element[i + 1])) {
            return fields->element[i + 1]->str;
        }
    }
    return NULL;
}

static void
keep(char *dst, const char *v)
{
    tk_strlcpy(dst, v != NULL ? v : "", RAW_MAX);
}

static bool
sid_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > TK_SID_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            return false;
        }
    }
    return true;
}

static bool
tid_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > TK_TICKET_ID_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= 'A' && s[i] <= 'Z'))) {
            return false;
        }
    }
    return true;
}

/* Validates the copied fields of e. */
static void
event_check(struct pevent *e, bool has_fields, const char *t,
            const char *sid, const char *tid, const char *ts,
            const char *oid)
{
    int64_t ms = 0;

    if (!has_fields) {
        e->error = "entry deleted from the stream";
    } else if (t == NULL || sid == NULL || tid == NULL) {
        e->error = "malformed event: a field is missing";
    } else if (strcmp(t, TK_EVENT_GRAB) == 0) {
        e->status = TK_TICKET_VALID;
    } else if (strcmp(t, TK_EVENT_REFUND) == 0) {
        e->status = TK_TICKET_CANCELLED;
    } else if (strcmp(t, TK_EVENT_CHECKIN) == 0) {
        e->status = TK_TICKET_USED;
    } else {
        e->error = "malformed event: unknown type";
    }
    if (e->error != NULL) {
        return;
    }
    if (!sid_ok(sid) || strlen(sid) >= RAW_MAX) {
        e->error = "malformed event: bad student id";
    } else if (!tid_ok(tid) || strlen(tid) >= RAW_MAX) {
        e->error = "malformed event: bad ticket id";
    } else if (ts != NULL && (tk_parse_i64(ts, &ms) != 0 || ms < 0)) {
        e->error = "malformed event: bad time";
    } else if (oid != NULL &&
               !stream_id_parse(oid, &e->ms, &e->seq)) {
        e->error = "malformed event: bad oid";
    } else {
        e->ts = (ts != NULL ? ms : e->ms) / 1000; /* model.h */
    }
}

static struct pevent *
event_new(struct tk_persist *p)
{
    if (p->nev == p->cap) {
        p->cap = p->cap == 0 ? 256 : 2 * p->cap;
        p->ev = tk_xrealloc(p->ev, p->cap * sizeof(*p->ev));
        p->sev = tk_xrealloc(p->sev, p->cap * sizeof(*p->sev));
        p->map = tk_xrealloc(p->map, p->cap * sizeof(*p->map));
    }
    memset(&p->ev[p->nev], 0, sizeof(p->ev[p->nev]));
    return &p->ev[p->nev++];
}

/*
 * Appends the entries of an XREADGROUP reply to the batch. With
 * pending true, advances each stream's cursor and marks the streams
 * whose pending entries are exhausted. Returns the entries added.
 */
static size_t
entries_add(struct tk_persist *p, const struct tk_redis_reply *reply,
            bool pending)
{
    size_t added = 0;

    if (reply->type != TK_REDIS_ARRAY) {
        return 0; /* nil: nothing arrived in time */
    }
    for (size_t i = 0; i < reply->elements; i++) {
        const struct tk_redis_reply *s = reply->element[i];
        const struct tk_redis_reply *list;
        struct pstream *st = NULL;

        if (!is_array(s, 2) || !is_string(s->element[0]) ||
            s->element[1]->type != TK_REDIS_ARRAY) {
            continue;
        }
        for (size_t k = 0; k < p->nstreams; k++) {
            if (strcmp(p->streams[k].key, s->element[0]->str) == 0) {
                st = &p->streams[k];
            }
        }
        if (st == NULL) {
            continue;
        }
        list = s->element[1];
        if (pending && list->elements == 0) {
            st->pending_done = true;
        }
        for (size_t j = 0; j < list->elements; j++) {
            const struct tk_redis_reply *en = list->element[j];
            const struct tk_redis_reply *fields;
            struct pevent *e;
            bool has;

            if (!is_array(en, 2) || !is_string(en->element[0])) {
                continue;
            }
            fields = en->element[1];
            has = is_array(fields, 2);
            e = event_new(p);
            e->stream = (size_t)(st - p->streams);
            tk_strlcpy(e->id, en->element[0]->str, sizeof(e->id));
            if (!stream_id_parse(e->id, &e->ms, &e->seq)) {
                p->nev--;
                continue;
            }
            if (pending) {
                tk_strlcpy(st->cursor, e->id, sizeof(st->cursor));
            }
            if (has) {
                keep(e->t, field_of(fields, "t"));
                keep(e->sid, field_of(fields, "sid"));
                keep(e->tid, field_of(fields, "tid"));
                keep(e->ts_raw, field_of(fields, "ts"));
                keep(e->oid, field_of(fields, "oid"));
            }
            event_check(e, has, has ? field_of(fields, "t") : NULL,
                        has ? field_of(fields, "sid") : NULL,
                        has ? field_of(fields, "tid") : NULL,
                        has ? field_of(fields, "ts") : NULL,
                        has ? field_of(fields, "oid") : NULL);
            added++;
        }
    }
    return added;
}

/* Handles the reply (or failure rc) of an XREADGROUP: appends its
 * entries to the batch. Returns the entries added, or < 0. */
static int
read_reply(struct tk_persist *p, bool pending, int rc,
           struct tk_redis_reply *reply)
{
    size_t before = p->nev;

    if (rc == 0 && reply->type == TK_REDIS_ERROR) {
        if (strncmp(reply->str, "NOGROUP", 7) == 0) {
            tk_notice("persist: a stream or its group is gone; "
                      "looking again");
            groups_lost(p);
        } else {
            tk_err("redis refused XREADGROUP: %s", reply->str);
        }
        rc = -EPROTO;
    }
    if (rc < 0) {
        tk_redis_reply_free(reply);
        return rc;
    }
    if (pending && reply->type == TK_REDIS_ARRAY) {
        /* Streams left out of the reply have nothing pending. */
        for (size_t i = 0; i < p->nstreams; i++) {
            bool seen = false;

            for (size_t j = 0; j < reply->elements; j++) {
                const struct tk_redis_reply *s = reply->element[j];

                seen |= is_array(s, 1) && is_string(s->element[0]) &&
                        strcmp(s->element[0]->str, p->streams[i].key) == 0;
            }
            if (!seen) {
                p->streams[i].pending_done = true;
            }
        }
    } else if (pending) {
        for (size_t i = 0; i < p->nstreams; i++) {
            p->streams[i].pending_done = true;
        }
    }
    entries_add(p, reply, pending);
    tk_redis_reply_free(reply);
    return (int)(p->nev - before);
}

/*
 * XREADGROUP GROUP persist CONSUMER COUNT count [BLOCK ms] STREAMS k...
 * id... over the streams selected (pending: those not exhausted, from
 * their cursors; else all, ">"; block_ms < 0: no BLOCK). With send
 * true, only sends it (tk_redis_receive() gets the reply). Returns the
 * entries added (0 when sent), or < 0.
 */
static int
read_group(struct tk_persist *p, bool pending, int64_t count,
           int64_t block_ms, bool send)
{
    size_t max = 9 + 2 * p->nstreams, argc = 0, n = 0;
    const char **argv = tk_xcalloc(max, sizeof(*argv));
    char scount[24], sblock[24];
    struct tk_redis_reply *reply = NULL;
    int rc;

    snprintf(scount, sizeof(scount), "%" PRId64, count);
    snprintf(sblock, sizeof(sblock), "%" PRId64, block_ms);
    argv[argc++] = "XREADGROUP";
    argv[argc++] = "GROUP";
    argv[argc++] = TK_KEYS_GROUP;
    argv[argc++] = p->consumer;
    argv[argc++] = "COUNT";
    argv[argc++] = scount;
    if (!pending && block_ms >= 0) {
        argv[argc++] = "BLOCK";
        argv[argc++] = sblock;
    }
    argv[argc++] = "STREAMS";
    for (size_t i = 0; i < p->nstreams; i++) {
        if (!pending || !p->streams[i].pending_done) {
            argv[argc++] = p->streams[i].key;
            n++;
        }
    }
    for (size_t i = 0; i < p->nstreams; i++) {
        if (!pending || !p->streams[i].pending_done) {
            argv[argc++] = pending ? p->streams[i].cursor : ">";
        }
    }
    if (n == 0) {
        free(argv);
        return 0;
    }
    if (send) {
        rc = tk_redis_send(p->r, (int)argc, argv, NULL);
    } else {
        rc = tk_redis_command(p->r, (int)argc, argv, NULL, &reply);
        rc = read_reply(p, pending, rc, reply);
    }
    free(argv);
    return rc;
}

/* XAUTOCLAIM ... JUSTID of entries idle in any consumer longer than
 * persist.claim_idle_ms: they join our pending entries, read next. */
static int
claim_idle(struct tk_persist *p)
{
    char idle[24];
    int64_t claimed = 0;

    snprintf(idle, sizeof(idle), "%d", p->conf->persist.claim_idle_ms);
    for (size_t i = 0; i < p->nstreams; i++) {
        char start[TK_STREAM_ID_MAX] = "0-0";

        for (int page = 0; page < CLAIM_PAGES; page++) {
            const char *argv[] = { "XAUTOCLAIM", p->streams[i].key,
                                   TK_KEYS_GROUP, p->consumer, idle, start,
                                   "COUNT", "1000", "JUSTID" };
            struct tk_redis_reply *reply = NULL;
            int rc = tk_redis_command(p->r, 9, argv, NULL, &reply);

            if (rc < 0) {
                return rc;
            }
            if (!is_array(reply, 2) || !is_string(reply->element[0]) ||
                reply->element[1]->type != TK_REDIS_ARRAY) {
                tk_redis_reply_free(reply);
                break; /* NOGROUP after a flush: found at the next read */
            }
            claimed += (int64_t)reply->element[1]->elements;
            tk_strlcpy(start, reply->element[0]->str, sizeof(start));
            tk_redis_reply_free(reply);
            if (strcmp(start, "0-0") == 0) {
                break;
            }
        }
    }
    if (claimed > 0) {
        tk_notice("persist: claimed %" PRId64 " entries idle in other "
                  "consumers", claimed);
        p->pending_due = true;
        p->pending_at = 0;
        for (size_t i = 0; i < p->nstreams; i++) {
            stream_reset_cursor(&p->streams[i]);
        }
    }
    return 0;
}

/* --- applying -----------------------------------------------------------*/

/* Applies sev[lo, lo + n) and, when MariaDB refuses one of them, halves
 * the range until the refused events are found and marked; the others
 * are applied (a refused statement changed nothing). */
static int
apply_range(struct tk_persist *p, size_t lo, size_t n)
{
    int rc = tk_store_events_apply(p->s, p->sev + lo, n);

    if (rc != -EEXIST && rc != -EINVAL) {
        return rc;
    }
    if (n == 1) {
        p->ev[p->map[lo]].refused = rc;
        tk_warn("persist: event '%s' of '%s' refused by mariadb (ticket "
                "'%s', student '%s')",
                p->ev[p->map[lo]].id, p->streams[p->ev[p->map[lo]].stream].key,
                p->ev[p->map[lo]].tid, p->ev[p->map[lo]].sid);
        return 0;
    }
    rc = apply_range(p, lo, n / 2);
    if (rc == 0) {
        rc = apply_range(p, lo + n / 2, n - n / 2);
    }
    return rc;
}

/* One transaction over the valid events; 0 committed. */
static int
apply_once(struct tk_persist *p, size_t m)
{
    int rc = tk_store_begin(p->s);

    if (rc == 0 && m > 0) {
        rc = apply_range(p, 0, m);
    }
    if (rc == 0) {
        rc = tk_store_commit(p->s);
    } else {
        tk_store_rollback(p->s);
    }
    return rc;
}

/* Applies the batch, retrying with backoff until it commits; -ECANCELED
 * when stopped meanwhile. */
static int
apply_batch(struct tk_persist *p)
{
    size_t m = 0;
    int rc;

    for (size_t i = 0; i < p->nev; i++) {
        struct pevent *e = &p->ev[i];

        if (e->error != NULL) {
            continue;
        }
        p->sev[m] = (struct tk_store_event){
            .activity_id = p->streams[e->stream].act,
            .student_id = e->sid,
            .unique_id = e->tid,
            .status = e->status,
            .ms = e->ms,
            .seq = e->seq,
            .ts = e->ts,
        };
        p->map[m++] = i;
    }
    for (;;) {
        rc = apply_once(p, m);
        if (rc == 0) {
            break;
        }
        for (size_t i = 0; i < p->nev; i++) {
            p->ev[i].refused = 0;
        }
        p->total.retries++;
        tk_warn("persist: batch of %zu events not written (%s); retrying "
                "in %" PRId64 " ms",
                p->nev, strerror(-rc), p->backoff_ms);
        if (!pause_ms(p, p->backoff_ms)) {
            return -ECANCELED;
        }
        p->backoff_ms *= 2;
        if (p->backoff_ms > p->conf->persist.backoff_max_ms) {
            p->backoff_ms = p->conf->persist.backoff_max_ms;
        }
    }
    if (p->backoff_ms > BACKOFF_MIN_MS) {
        tk_notice("persist: mariadb writes again");
    }
    p->backoff_ms = BACKOFF_MIN_MS;
    return 0;
}

/* Reads our pending entries again from the start after a pause: the
 * events of this batch left pending are delivered once more. */
static void
pending_again(struct tk_persist *p)
{
    p->pending_due = true;
    p->pending_at = tk_mono_ms() + (p->conf->persist.backoff_max_ms < 1000
                                        ? p->conf->persist.backoff_max_ms
                                        : 1000);
    for (size_t i = 0; i < p->nstreams; i++) {
        stream_reset_cursor(&p->streams[i]);
    }
}

/* The delivery counts of the refused events (XPENDING id id 1): those
 * delivered max_deliveries times get an error and go to the dead
 * letters; the others stay pending and are read again later. */
static void
refused_settle(struct tk_persist *p)
{
    size_t n = 0, k = 0;
    struct tk_redis_command *cmds;
    struct tk_redis_reply **replies;
    const char **argv;

    for (size_t i = 0; i < p->nev; i++) {
        n += p->ev[i].refused != 0;
    }
    if (n == 0) {
        return;
    }
    cmds = tk_xcalloc(n, sizeof(*cmds));
    replies = tk_xcalloc(n, sizeof(*replies));
    argv = tk_xcalloc(6 * n, sizeof(*argv));
    for (size_t i = 0; i < p->nev; i++) {
        const char **a = argv + 6 * k;

        if (p->ev[i].refused == 0) {
            continue;
        }
        a[0] = "XPENDING";
        a[1] = p->streams[p->ev[i].stream].key;
        a[2] = TK_KEYS_GROUP;
        a[3] = p->ev[i].id;
        a[4] = p->ev[i].id;
        a[5] = "1";
        cmds[k++] = (struct tk_redis_command){ 6, a, NULL };
    }
    if (tk_redis_pipeline(p->r, cmds, n, replies) == 0) {
        k = 0;
        for (size_t i = 0; i < p->nev; i++) {
            const struct tk_redis_reply *rep;

            if (p->ev[i].refused == 0) {
                continue;
            }
            rep = replies[k++];
            if (!is_array(rep, 1) || !is_array(rep->element[0], 4) ||
                rep->element[0]->element[3]->type != TK_REDIS_INTEGER) {
                continue;
            }
            p->ev[i].deliveries = rep->element[0]->element[3]->integer;
            if (p->ev[i].deliveries >= p->conf->persist.max_deliveries) {
                p->ev[i].error =
                    p->ev[i].refused == -EEXIST
                        ? "refused by mariadb: duplicate key"
                        : "refused by mariadb: the ticket id belongs to "
                          "another activity or student";
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        tk_redis_reply_free(replies[i]);
    }
    free(cmds);
    free(replies);
    free(argv);
    pending_again(p);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* One growing list of commands whose strings live in one arena-like
 * vector of owned copies. */
struct cmdlist {
    struct tk_redis_command *cmds;
    size_t n, cap;
    char **owned;
    size_t nowned, capowned;
};

static const char *
cl_own(struct cmdlist *cl, const char *s)
{
    if (cl->nowned == cl->capowned) {
        cl->capowned = cl->capowned == 0 ? 64 : 2 * cl->capowned;
        cl->owned = tk_xrealloc(cl->owned, cl->capowned * sizeof(char *));
    }
    cl->owned[cl->nowned] = tk_xstrdup(s);
    return cl->owned[cl->nowned++];
}

static void
cl_add(struct cmdlist *cl, int argc, const char **argv)
{
    const char **copy = tk_xcalloc((size_t)argc, sizeof(*copy));

    memcpy(copy, argv, (size_t)argc * sizeof(*copy));
    if (cl->n == cl->cap) {
        cl->cap = cl->cap == 0 ? 64 : 2 * cl->cap;
        cl->cmds = tk_xrealloc(cl->cmds, cl->cap * sizeof(*cl->cmds));
    }
    cl->cmds[cl->n++] = (struct tk_redis_command){ argc, copy, NULL };
}

static void
cl_release(struct cmdlist *cl)
{
    for (size_t i = 0; i < cl->n; i++) {
        free((void *)cl->cmds[i].argv);
    }
    for (size_t i = 0; i < cl->nowned; i++) {
        free(cl->owned[i]);
    }
    free(cl->cmds);
    free(cl->owned);
}

/* Runs cl in one round trip; returns how many commands failed. */
static size_t
cl_run(struct tk_persist *p, struct cmdlist *cl, const char *what)
{
    struct tk_redis_reply **replies = tk_xcalloc(cl->n + 1, sizeof(*replies));
    size_t failed = 0;

    if (tk_redis_pipeline(p->r, cl->cmds, cl->n, replies) < 0) {
        failed = cl->n;
    }
    for (size_t i = 0; i < cl->n; i++) {
        if (replies[i] != NULL && replies[i]->type == TK_REDIS_ERROR) {
            tk_err("redis refused %s: %s", what, replies[i]->str);
            failed++;
        }
        tk_redis_reply_free(replies[i]);
    }
    free(replies);
    return failed;
}

/*
 * Writes the batch's dead letters (XADD) before they are acknowledged:
 * an event whose letter Redis refused (out of memory, say) is kept
 * pending, so it is neither applied nor lost.
 */
static void
dead_letters_write(struct tk_persist *p)
{
    struct cmdlist cl = { 0 };
    struct tk_redis_reply **replies;
    char num[24];
    size_t k = 0;
    bool sent, kept = false;

    for (size_t i = 0; i < p->nev; i++) {
        struct pevent *e = &p->ev[i];
        const char *argv[24];
        int argc = 0;

        if (e->error == NULL) {
            continue;
        }
        argv[argc++] = "XADD";
        argv[argc++] = TK_KEYS_DEAD;
        argv[argc++] = "*";
        argv[argc++] = "stream";
        argv[argc++] = p->streams[e->stream].key;
        argv[argc++] = "id";
        argv[argc++] = e->id;
        argv[argc++] = "deliveries";
        snprintf(num, sizeof(num), "%" PRId64,
                 e->deliveries > 0 ? e->deliveries : 1);
        argv[argc++] = cl_own(&cl, num);
        argv[argc++] = "error";
        argv[argc++] = e->error;
        argv[argc++] = "t";
        argv[argc++] = e->t;
        argv[argc++] = "sid";
        argv[argc++] = e->sid;
        argv[argc++] = "tid";
        argv[argc++] = e->tid;
        argv[argc++] = "ts";
        if (e->ts_raw[0] != '\0') {
            argv[argc++] = e->ts_raw;
        } else {
            /* The entry id's time, which a replayed event (with this id
             * as its oid) would take anyway: the letter shows it. */
            snprintf(num, sizeof(num), "%" PRId64, e->ms);
            argv[argc++] = cl_own(&cl, num);
        }
        if (e->oid[0] != '\0') {
            argv[argc++] = "oid";
            argv[argc++] = e->oid;
        }
        cl_add(&cl, argc, argv);
    }
    if (cl.n == 0) {
        return;
    }
    replies = tk_xcalloc(cl.n, sizeof(*replies));
    sent = tk_redis_pipeline(p->r, cl.cmds, cl.n, replies) == 0;
    for (size_t i = 0; i < p->nev; i++) {
        struct pevent *e = &p->ev[i];
        const struct tk_redis_reply *rep;

        if (e->error == NULL) {
            continue;
        }
        rep = replies[k++];
        if (sent && rep != NULL && rep->type != TK_REDIS_ERROR) {
            tk_warn("persist: event '%s' of '%s' moved to the dead letters: "
                    "%s",
                    e->id, p->streams[e->stream].key, e->error);
            continue;
        }
        if (rep != NULL && rep->type == TK_REDIS_ERROR) {
            tk_err("redis refused the dead letter of event '%s' of '%s': %s",
                   e->id, p->streams[e->stream].key, rep->str);
        }
        e->kept = true;
        kept = true;
    }
    if (kept) {
        pending_again(p);
    }
    for (size_t i = 0; i < cl.n; i++) {
        tk_redis_reply_free(replies[i]);
    }
    free(replies);
    cl_release(&cl);
}

/*
 * After the commit, in one write: XACK of every settled event, the
 * counters, and DEL of the affected students' cached ticket lists.
 * Redis runs them at once; their replies are read by settle_collect(),
 * which the caller may put off until MariaDB has written the next batch.
 */
static void
settle_send(struct tk_persist *p)
{
    struct cmdlist cl = { 0 };
    const char **sids = tk_xcalloc(p->nev + 1, sizeof(*sids));
    uint64_t applied = 0, dead = 0;
    size_t nsid = 0, acked = 0;
    char key[TK_KEY_BUF];

    dead_letters_write(p);
    for (size_t i = 0; i < p->nev; i++) {
        struct pevent *e = &p->ev[i];

        if (e->error == NULL && e->refused == 0) {
            applied++;
            sids[nsid++] = e->sid;
        } else if (e->error != NULL && !e->kept) {
            dead++;
        }
    }
    for (size_t s = 0; s < p->nstreams; s++) {
        struct pstream *st = &p->streams[s];
        const char **argv = tk_xcalloc(p->nev + 3, sizeof(*argv));
        int argc = 0;

        argv[argc++] = "XACK";
        argv[argc++] = st->key;
        argv[argc++] = TK_KEYS_GROUP;
        for (size_t i = 0; i < p->nev; i++) {
            struct pevent *e = &p->ev[i];

            if (e->stream != s || e->kept ||
                (e->refused != 0 && e->error == NULL)) {
                continue;
            }
            argv[argc++] = e->id;
            acked++;
            if (!st->acked || e->ms > st->acked_ms ||
                (e->ms == st->acked_ms && e->seq > st->acked_seq)) {
                /* The stream id, not the order id (oid). */
                stream_id_parse(e->id, &st->acked_ms, &st->acked_seq);
                st->acked = true;
            }
        }
        if (argc > 3) {
            cl_add(&cl, argc, argv);
        }
        free(argv);
    }
    qsort(sids, nsid, sizeof(*sids), cmp_str);
    for (size_t i = 0; i < nsid; i++) {
        const char *argv[2] = { "DEL", NULL };

        if (i > 0 && strcmp(sids[i], sids[i - 1]) == 0) {
            continue;
        }
        tk_key_my_tickets(key, sids[i]);
        argv[1] = cl_own(&cl, key);
        cl_add(&cl, 2, argv);
    }
    {
        const char *stats[][2] = { { "applied", NULL }, { "batches", "1" },
                                   { "dead", NULL } };
        char a[24], d[24];

        snprintf(a, sizeof(a), "%" PRIu64, applied);
        snprintf(d, sizeof(d), "%" PRIu64, dead);
        stats[0][1] = a;
        stats[2][1] = d;
        for (size_t i = 0; i < 3; i++) {
            const char *argv[] = { "HINCRBY", TK_KEYS_PERSIST_STATS,
                                   stats[i][0], cl_own(&cl, stats[i][1]) };

            cl_add(&cl, 4, argv);
        }
    }
    /* A failed write closed the connection: the events stay pending
     * and are delivered again and replayed. */
    if (tk_redis_send_many(p->r, cl.cmds, cl.n) == 0) {
        p->settling = cl.n;
        p->settling_acked = acked;
    }
    p->total.applied += applied;
    p->total.batches++;
    p->total.dead += dead;
    cl_release(&cl);
    free(sids);
}

/* Reads the replies of the last settle_send(); its events count as
 * acknowledged when every command succeeded. */
static void
settle_collect(struct tk_persist *p)
{
    size_t n = p->settling, failed = 0;

    p->settling = 0;
    if (tk_redis_unread(p->r) < n) {
        /* The connection was lost since (and maybe opened again for the
         * one read sent after them): the replies went with it. */
        failed = n;
        n = 0;
    }
    for (size_t i = 0; i < n; i++) {
        struct tk_redis_reply *rep = NULL;

        if (tk_redis_receive(p->r, &rep) < 0) {
            failed = n;
            break;
        }
        if (rep->type == TK_REDIS_ERROR) {
            tk_err("redis refused acknowledging a batch: %s", rep->str);
            failed++;
        }
        tk_redis_reply_free(rep);
    }
    if (n > 0 && failed == 0) {
        p->acked += p->settling_acked;
    }
    p->settling_acked = 0;
}

/* XTRIM MINID below the oldest entry still pending in the group and
 * above the highest one we acknowledged: everything below was delivered
 * and acknowledged. The stream is never trimmed by length. */
static void
trim(struct tk_persist *p)
{
    struct tk_redis_command *cmds;
    struct tk_redis_reply **replies;
    const char **argv;
    size_t n = 0, k = 0;
    struct cmdlist cl = { 0 };

    for (size_t i = 0; i < p->nstreams; i++) {
        n += p->streams[i].acked;
    }
    if (n == 0) {
        return;
    }
    cmds = tk_xcalloc(n, sizeof(*cmds));
    replies = tk_xcalloc(n, sizeof(*replies));
    argv = tk_xcalloc(3 * n, sizeof(*argv));
    for (size_t i = 0; i < p->nstreams; i++) {
        const char **a = argv + 3 * k;

        if (!p->streams[i].acked) {
            continue;
        }
        a[0] = "XPENDING";
        a[1] = p->streams[i].key;
        a[2] = TK_KEYS_GROUP;
        cmds[k++] = (struct tk_redis_command){ 3, a, NULL };
    }
    if (tk_redis_pipeline(p->r, cmds, n, replies) == 0) {
        k = 0;
        for (size_t i = 0; i < p->nstreams; i++) {
            struct pstream *st = &p->streams[i];
            const struct tk_redis_reply *rep;
            int64_t ms = st->acked_ms, seq = st->acked_seq + 1;
            char minid[TK_STREAM_ID_MAX];

            if (!st->acked) {
                continue;
            }
            rep = replies[k++];
            if (!is_array(rep, 2) ||
                rep->element[0]->type != TK_REDIS_INTEGER) {
                continue;
            }
            if (rep->element[0]->integer > 0) {
                int64_t pms, pseq;

                if (!is_string(rep->element[1]) ||
                    !stream_id_parse(rep->element[1]->str, &pms, &pseq)) {
                    continue;
                }
                if (pms < ms || (pms == ms && pseq < seq)) {
                    ms = pms;
                    seq = pseq;
                }
            }
            snprintf(minid, sizeof(minid), "%" PRId64 "-%" PRId64, ms, seq);
            {
                const char *t[] = { "XTRIM", st->key, "MINID",
                                    cl_own(&cl, minid) };

                cl_add(&cl, 4, t);
            }
            st->acked = false;
        }
        cl_run(p, &cl, "XTRIM");
    }
    for (size_t i = 0; i < n; i++) {
        tk_redis_reply_free(replies[i]);
    }
    cl_release(&cl);
    free(cmds);
    free(replies);
    free(argv);
}

/*
 * Applies, settles and acknowledges the batch in hand. A full batch of
 * new events means more are probably waiting: the next batch is asked
 * for (XREADGROUP without BLOCK) before the transaction and received
 * after it, so Redis reads while MariaDB writes; it stays in p->ev for
 * the next round. With a next batch in hand, this batch's
 * acknowledgement is answered during that batch's transaction too.
 */
static int
batch_finish(struct tk_persist *p, bool prefetch)
{
    struct tk_redis_reply *next = NULL;
    bool sent = false;
    int rc;

    if (p->nev == 0) {
        return 0;
    }
    if (prefetch) {
        sent = read_group(p, false, p->conf->persist.batch_max, -1,
                          true) == 0;
    }
    rc = apply_batch(p);
    /* The last batch's acknowledgement was sent before the read. */
    settle_collect(p);
    if (sent && tk_redis_receive(p->r, &next) < 0) {
        /* Entries it delivered are pending: read them again. */
        p->pending_due = true;
        next = NULL;
    }
    if (rc < 0) {
        p->nev = 0;
        if (next != NULL) {
            p->pending_due = true;
        }
        tk_redis_reply_free(next);
        return rc;
    }
    refused_settle(p);
    settle_send(p);
    p->nev = 0;
    if (next != NULL && read_reply(p, false, 0, next) < 0) {
        p->pending_due = true;
    }
    if (p->nev == 0) {
        settle_collect(p);
    }
    return 0;
}

/* --- the loop -----------------------------------------------------------*/

/* Reads new events until the batch is full or batch_ms has passed since
 * the first one; 0 when nothing arrived within block_ms. */
static int
read_new(struct tk_persist *p)
{
    const struct tk_conf *c = p->conf;
    int64_t first = 0;

    for (;;) {
        int64_t block = c->persist.block_ms;
        int rc;

        if (p->nev > 0) {
            block = c->persist.batch_ms - (tk_mono_ms() - first);
            if (block <= 0 || (int64_t)p->nev >= c->persist.batch_max) {
                return 0;
            }
        }
        rc = read_group(p, false, c->persist.batch_max - (int64_t)p->nev,
                        block, false);
        if (rc < 0) {
            return rc;
        }
        if (rc == 0) {
            return 0;
        }
        if (first == 0) {
            first = tk_mono_ms();
        }
    }
}

/* Pauses after a Redis failure: the backoff of the MariaDB retries. */
static int
redis_backoff(struct tk_persist *p, int rc)
{
    int64_t ms = p->backoff_ms;

    p->backoff_ms = p->backoff_ms * 2 > p->conf->persist.backoff_max_ms
                        ? p->conf->persist.backoff_max_ms
                        : p->backoff_ms * 2;
    if (rc != -EPROTO) {
        tk_redis_close(p->r);
    }
    /* A read whose reply was lost delivered entries nobody handles. */
    p->pending_due = true;
    p->pending_at = 0;
    return pause_ms(p, ms) ? 0 : -ECANCELED;
}

/* Reading ahead only while nothing else is due, so claims, retries of
 * pending entries and new streams are not starved by a long sale. */
static bool
may_prefetch(const struct tk_persist *p)
{
    int64_t now = tk_mono_ms();

    return (int64_t)p->nev >= p->conf->persist.batch_max &&
           !(p->pending_due && now >= p->pending_at) && now < p->claim_at &&
           (p->fixed || now < p->refresh_at);
}

int
tk_persist_step(struct tk_persist *p)
{
    const struct tk_conf *c = p->conf;
    int64_t now = tk_mono_ms();
    size_t acked;
    int rc;

    if (p->nev > 0) {
        /* Read ahead by the last round; the stream list stays as it is
         * until they are written. */
        rc = batch_finish(p, may_prefetch(p));
        goto trimmed;
    }
    settle_collect(p);
    if (!p->fixed && now >= p->refresh_at) {
        rc = streams_refresh(p);
        if (rc < 0) {
            return redis_backoff(p, rc);
        }
        p->refresh_at = now + REFRESH_MS;
    }
    if (p->nstreams == 0) {
        return pause_ms(p, c->persist.block_ms) ? 0 : -ECANCELED;
    }
    rc = groups_ensure(p);
    if (rc < 0) {
        return redis_backoff(p, rc);
    }
    if (now >= p->claim_at) {
        int64_t every = c->persist.claim_idle_ms / 2;

        rc = claim_idle(p);
        if (rc < 0) {
            return redis_backoff(p, rc);
        }
        p->claim_at = now + (every < 100 ? 100 : every);
    }
    if (p->pending_due && now >= p->pending_at) {
        rc = read_group(p, true, c->persist.batch_max, -1, false);
        if (rc < 0) {
            return redis_backoff(p, rc);
        }
        if (rc == 0) {
            bool done = true;

            for (size_t i = 0; i < p->nstreams; i++) {
                done &= p->streams[i].pending_done;
            }
            if (done) {
                p->pending_due = false;
                for (size_t i = 0; i < p->nstreams; i++) {
                    stream_reset_cursor(&p->streams[i]);
                }
            }
        }
    }
    if (p->nev > 0) {
        rc = batch_finish(p, false);
    } else {
        rc = read_new(p);
        if (rc < 0) {
            p->nev = 0;
            return redis_backoff(p, rc);
        }
        rc = batch_finish(p, may_prefetch(p));
    }
trimmed:
    now = tk_mono_ms();
    if (now >= p->trim_at) {
        settle_collect(p);
        trim(p);
        p->trim_at = now + TRIM_MS;
    }
    if (rc < 0) {
        return rc;
    }
    acked = p->acked;
    p->acked = 0;
    return (int)acked;
}

static void
log_figures(struct tk_persist *p)
{
    struct tk_persist_figures f;

    if (tk_persist_figures(p->r, &f) == 0) {
        tk_info("persist: applied %" PRIu64 ", batches %" PRIu64
                ", dead-lettered %" PRIu64 ", retries %" PRIu64
                "; lag %" PRId64 ", pending %" PRId64 ", dead letters %" PRId64,
                p->total.applied, p->total.batches, p->total.dead,
                p->total.retries, f.lag, f.pending, f.dead);
    }
    tk_persist_figures_release(&f);
}

void
tk_persist_run(struct tk_persist *p)
{
    tk_info("persist: consumer '%s' of group '" TK_KEYS_GROUP "' started",
            p->consumer);
    while (!stopping(p)) {
        tk_persist_step(p);
        tk_notify_watchdog();
        if (tk_mono_ms() >= p->log_at) {
            settle_collect(p);
            log_figures(p);
            p->log_at = tk_mono_ms() + LOG_MS;
        }
    }
    settle_collect(p);
    log_figures(p);
}

/* --- figures ------------------------------------------------------------*/

void
tk_persist_figures_release(struct tk_persist_figures *f)
{
    if (f == NULL) {
        return;
    }
    free(f->streams);
    memset(f, 0, sizeof(*f));
}

static int
cmp_act(const void *a, const void *b)
{
    const struct tk_persist_stream_figures *x = a, *y = b;

    return (x->activity_id > y->activity_id) -
           (x->activity_id < y->activity_id);
}

int
tk_persist_group_figures(const struct tk_redis_reply *groups, int64_t length,
                         int64_t *pending, int64_t *lag,
                         const char **last_delivered)
{
    *pending = 0;
    *lag = length;
    *last_delivered = NULL;
    if (!is_array(groups, 0)) {
        return 0;
    }
    for (size_t g = 0; g < groups->elements; g++) {
        const struct tk_redis_reply *grp = groups->element[g];
        const char *name;

        if (!is_array(grp, 2)) {
            continue;
        }
        name = field_of(grp, "name");
        if (name == NULL || strcmp(name, TK_KEYS_GROUP) != 0) {
            continue;
        }
        *lag = -1;
        *last_delivered = field_of(grp, "last-delivered-id");
        for (size_t i = 0; i + 1 < grp->elements; i += 2) {
            const struct tk_redis_reply *k = grp->element[i];
            const struct tk_redis_reply *v = grp->element[i + 1];

            if (!is_string(k) || v->type != TK_REDIS_INTEGER) {
                continue;
            }
            if (strcmp(k->str, "pending") == 0) {
                *pending = v->integer;
            } else if (strcmp(k->str, "lag") == 0) {
                *lag = v->integer;
            }
        }
        return 1;
    }
    return 0;
}

int
tk_persist_figures(struct tk_redis *r, struct tk_persist_figures *out)
{
    const char *argv[] = { "SMEMBERS", TK_KEYS_STREAMS };
    struct tk_redis_reply *members = NULL, **replies = NULL;
    struct tk_redis_command *cmds = NULL;
    const char **args = NULL;
    char (*keys)[TK_KEY_BUF] = NULL;
    size_t n = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = command(r, "SMEMBERS " TK_KEYS_STREAMS, 2, argv, &members);
    if (rc < 0) {
        goto done;
    }
    if (members->type != TK_REDIS_ARRAY) {
        rc = -EPROTO;
        goto done;
    }
    out->streams = tk_xcalloc(members->elements + 1, sizeof(*out->streams));
    keys = tk_xcalloc(members->elements + 1, sizeof(*keys));
    for (size_t i = 0; i < members->elements; i++) {
        int64_t act;

        if (is_string(members->element[i]) &&
            tk_parse_i64(members->element[i]->str, &act) == 0 && act > 0) {
            out->streams[n].activity_id = act;
            tk_key_events(keys[n], act);
            n++;
        }
    }
    out->n = n;
    /* XLEN and XINFO GROUPS per stream, then the dead letters and the
     * counters, in one round trip. */
    cmds = tk_xcalloc(2 * n + 2, sizeof(*cmds));
    replies = tk_xcalloc(2 * n + 2, sizeof(*replies));
    args = tk_xcalloc(5 * n + 5, sizeof(*args));
    for (size_t i = 0; i < n; i++) {
        const char **a = args + 5 * i;

        a[0] = "XLEN";
        a[1] = keys[i];
        a[2] = "XINFO";
        a[3] = "GROUPS";
        a[4] = keys[i];
        cmds[2 * i] = (struct tk_redis_command){ 2, a, NULL };
        cmds[2 * i + 1] = (struct tk_redis_command){ 3, a + 2, NULL };
    }
    args[5 * n] = "XLEN";
    args[5 * n + 1] = TK_KEYS_DEAD;
    args[5 * n + 2] = "HGETALL";
    args[5 * n + 3] = TK_KEYS_PERSIST_STATS;
    cmds[2 * n] = (struct tk_redis_command){ 2, args + 5 * n, NULL };
    cmds[2 * n + 1] = (struct tk_redis_command){ 2, args + 5 * n + 2, NULL };
    rc = tk_redis_pipeline(r, cmds, 2 * n + 2, replies);
    if (rc < 0) {
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        struct tk_persist_stream_figures *sf = &out->streams[i];
        const struct tk_redis_reply *len = replies[2 * i];
        const char *last;

        sf->length = len->type == TK_REDIS_INTEGER ? len->integer : 0;
        tk_persist_group_figures(replies[2 * i + 1], sf->length, &sf->pending,
                                 &sf->lag, &last);
        out->pending += sf->pending;
        out->lag += sf->lag > 0 ? sf->lag : 0;
    }
    if (replies[2 * n]->type == TK_REDIS_INTEGER) {
        out->dead = replies[2 * n]->integer;
    }
    if (is_array(replies[2 * n + 1], 0)) {
        const struct tk_redis_reply *h = replies[2 * n + 1];
        const char *names[] = { "applied", "batches", "dead", "retries" };
        uint64_t *vals[] = { &out->total.applied, &out->total.batches,
                             &out->total.dead, &out->total.retries };

        for (size_t i = 0; i < 4; i++) {
            const char *v = field_of(h, names[i]);
            int64_t x;

            if (v != NULL && tk_parse_i64(v, &x) == 0 && x >= 0) {
                *vals[i] = (uint64_t)x;
            }
        }
    }
    qsort(out->streams, n, sizeof(*out->streams), cmp_act);
done:
    if (replies != NULL) {
        for (size_t i = 0; i < 2 * n + 2; i++) {
            tk_redis_reply_free(replies[i]);
        }
    }
    free(replies);
    free(cmds);
    free(args);
    free(keys);
    tk_redis_reply_free(members);
    return rc;
}

/* --- dead letters -------------------------------------------------------*/

static void
dead_fill(struct tk_persist_dead *d, const struct tk_redis_reply *en)
{
    const struct tk_redis_reply *f = en->element[1];
    const char *v;
    int64_t n;

    memset(d, 0, sizeof(*d));
    copy_str(d->id, sizeof(d->id), en->element[0]);
    if (!is_array(f, 0)) {
        return;
    }
#define DEAD_FIELD(name, dst)                                                 \
    if ((v = field_of(f, name)) != NULL) {                                    \
        tk_strlcpy(dst, v, sizeof(dst));                                      \
    }
    DEAD_FIELD("stream", d->stream);
    DEAD_FIELD("id", d->event_id);
    DEAD_FIELD("error", d->error);
    DEAD_FIELD("t", d->t);
    DEAD_FIELD("sid", d->sid);
    DEAD_FIELD("tid", d->tid);
    DEAD_FIELD("ts", d->ts);
#undef DEAD_FIELD
    v = field_of(f, "oid");
    if (v != NULL) {
        /* A retried event dead again: its order is the original id. */
        tk_strlcpy(d->event_id, v, sizeof(d->event_id));
    }
    v = field_of(f, "deliveries");
    if (v != NULL && tk_parse_i64(v, &n) == 0) {
        d->deliveries = n;
    }
}

int
tk_persist_dead_each(struct tk_redis *r,
                     int (*fn)(const struct tk_persist_dead *, void *),
                     void *arg)
{
    char start[TK_STREAM_ID_MAX + 1] = "-";
    int visited = 0;

    for (;;) {
        const char *argv[] = { "XRANGE", TK_KEYS_DEAD, start, "+", "COUNT",
                               "200" };
        struct tk_redis_reply *reply = NULL;
        struct tk_persist_dead d;
        size_t got;
        int rc = command(r, "XRANGE " TK_KEYS_DEAD, 6, argv, &reply);

        if (rc < 0) {
            return rc;
        }
        if (reply->type != TK_REDIS_ARRAY) {
            tk_redis_reply_free(reply);
            return -EPROTO;
        }
        got = reply->elements;
        for (size_t i = 0; i < got; i++) {
            if (!is_array(reply->element[i], 2)) {
                continue;
            }
            dead_fill(&d, reply->element[i]);
            visited++;
            if (fn(&d, arg) != 0) {
                tk_redis_reply_free(reply);
                return visited;
            }
        }
        if (got < DEAD_PAGE) {
            tk_redis_reply_free(reply);
            return visited;
        }
        /* Exclusive start after the last one seen (Redis 6.2+). */
        snprintf(start, sizeof(start), "(%s", d.id);
        tk_redis_reply_free(reply);
    }
}

int
tk_persist_dead_retry(struct tk_redis *r, const char *id)
{
    const char *argv[] = { "XRANGE", TK_KEYS_DEAD, id, id };
    struct tk_redis_reply *reply = NULL, *rep2[3] = { NULL, NULL, NULL };
    struct tk_persist_dead d;
    char key[TK_KEY_BUF], act_s[24];
    int64_t act, ms, seq;
    int rc;

    if (!stream_id_parse(id, &ms, &seq)) {
        tk_err("persist: bad dead letter id '%s'", id);
        return -EINVAL;
    }
    rc = command(r, "XRANGE " TK_KEYS_DEAD, 4, argv, &reply);
    if (rc < 0) {
        goto done;
    }
    if (!is_array(reply, 1) || !is_array(reply->element[0], 2)) {
        rc = 0;
        goto done;
    }
    dead_fill(&d, reply->element[0]);
    if (sscanf(d.stream, "tk:{a:%" SCNd64 "}:events", &act) != 1 ||
        act <= 0 || (tk_key_events(key, act), strcmp(key, d.stream) != 0) ||
        !stream_id_parse(d.event_id, &ms, &seq)) {
        tk_err("persist: dead letter '%s' names no event stream ('%s')", id,
               d.stream);
        rc = -EINVAL;
        goto done;
    }
    snprintf(act_s, sizeof(act_s), "%" PRId64, act);
    {
        /* Registered first, so the persister reads the stream. */
        const char *sadd[] = { "SADD", TK_KEYS_STREAMS, act_s };
        /* Without a ts (a letter written before version 6 of the
         * functions, of an event without one), the oid's time is the
         * event's. */
        const char *xadd[] = { "XADD", key, "*", "t", d.t, "sid", d.sid,
                               "tid", d.tid, "oid", d.event_id, "ts",
                               d.ts };
        const char *xdel[] = { "XDEL", TK_KEYS_DEAD, id };
        struct tk_redis_command cmds[] = { { 3, sadd, NULL },
                                           { d.ts[0] != '\0' ? 13 : 11,
                                             xadd, NULL },
                                           { 3, xdel, NULL } };

        rc = tk_redis_pipeline(r, cmds, 3, rep2);
        if (rc == 0) {
            for (size_t i = 0; i < 3; i++) {
                if (rep2[i]->type == TK_REDIS_ERROR) {
                    tk_err("redis refused the retry of '%s': %s", id,
                           rep2[i]->str);
                    rc = -EPROTO;
                }
            }
        }
        if (rc == 0) {
            rc = 1;
        }
    }
done:
    for (size_t i = 0; i < 3; i++) {
        tk_redis_reply_free(rep2[i]);
    }
    tk_redis_reply_free(reply);
    return rc;
}
