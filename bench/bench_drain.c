/*
 * The drain benchmark: N order events written to one activity's stream,
 * drained into MariaDB by the persister's own loop (tk_persist_step), and
 * the same rows inserted with plain multi-row INSERTs (same batch size,
 * one transaction per batch) into an empty copy of the tickets table.
 * Prints both rates and their ratio; the last line is the summary.
 *   bench_drain [--events N] [--out FILE.json]   (stack from $TK_DIR)
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "keys.h"
#include "persist.h"
#include "redis.h"
#include "store.h"
#include "util.h"

#define RAW_TABLE "bench_drain_raw"

static void
die(const char *what)
{
    fprintf(stderr, "bench_drain: %s\n", what);
    exit(1);
}

static void
exec_sql(struct tk_store *s, const char *sql)
{
    if (tk_store_exec(s, sql) < 0) {
        die(sql);
    }
}

/* XADDs n grab events, 1000 per round trip. */
static void
write_events(struct tk_redis *r, const char *key, size_t n, char (*sid)[24],
             char (*tid)[24])
{
    struct tk_redis_command cmds[1000];
    struct tk_redis_reply *rep[1000];
    const char *argv[1000][11];
    char ts[24];

    snprintf(ts, sizeof(ts), "%" PRId64, tk_now_ms());
    for (size_t off = 0; off < n; off += 1000) {
        size_t k = n - off < 1000 ? n - off : 1000;

        for (size_t i = 0; i < k; i++) {
            const char *a[] = { "XADD", key, "*", "t", "g", "sid",
                                sid[off + i], "tid", tid[off + i], "ts", ts };

            memcpy(argv[i], a, sizeof(a));
            cmds[i] = (struct tk_redis_command){ 11, argv[i], NULL };
        }
        if (tk_redis_pipeline(r, cmds, k, rep) < 0) {
            die("XADD failed");
        }
        for (size_t i = 0; i < k; i++) {
            if (rep[i]->type == TK_REDIS_ERROR) {
                die("XADD refused");
            }
            tk_redis_reply_free(rep[i]);
        }
    }
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "events", required_argument, NULL, 'n' },
        { "out", required_argument, NULL, 'o' },
        { NULL, 0, NULL, 0 },
    };
    const char *dir = getenv("TK_DIR"), *out = NULL;
    int64_t n = 200000, act = 990000 + getpid() % 1000;
    struct tk_store_event *ev;
    char path[4096], key[TK_KEY_BUF], sql[256];
    char (*sid)[24], (*tid)[24];
    struct tk_persist *p;
    struct tk_redis *r;
    struct tk_store *s;
    struct tk_conf conf;
    int64_t t0, drain_ms, raw_ms, done = 0;
    double drain_rate, raw_rate;
    int c;

    while ((c = getopt_long(argc, argv, "n:o:", opts, NULL)) != -1) {
        if (c == 'n' && tk_parse_i64(optarg, &n) == 0 && n > 0 &&
            n <= 10000000) {
            continue;
        }
        if (c == 'o') {
            out = optarg;
            continue;
        }
        fprintf(stderr, "usage: bench_drain [--events N] [--out FILE]\n");
        return 2;
    }
    if (dir == NULL) {
        die("TK_DIR must name a running stack");
    }
    snprintf(path, sizeof(path), "%s/ticketd.conf", dir);
    if (tk_conf_load(&conf, path, stderr) < 0) {
        die("bad configuration");
    }
    r = tk_redis_new(&conf);
    s = tk_store_new(&conf);
    /* Deleting the rows of a large run takes longer than a request. */
    tk_store_set_timeout_ms(s, 600000);
    if (tk_store_ping(s) < 0) {
        die("cannot reach mariadb");
    }
    tk_key_events(key, act);
    sid = tk_xcalloc((size_t)n, sizeof(*sid));
    tid = tk_xcalloc((size_t)n, sizeof(*tid));
    ev = tk_xcalloc((size_t)n, sizeof(*ev));
    for (int64_t i = 0; i < n; i++) {
        snprintf(sid[i], sizeof(sid[i]), "b%07" PRId64, i);
        snprintf(tid[i], sizeof(tid[i]), "%016" PRIx64,
                 (uint64_t)act << 32 | (uint64_t)i);
        ev[i] = (struct tk_store_event){ act, sid[i], tid[i], 1, 1, i, 1 };
    }
    snprintf(sql, sizeof(sql), "DELETE FROM tickets WHERE activity_id=%" PRId64,
             act);
    exec_sql(s, sql);
    tk_redis_del(r, key);

    /* Not registered in tk:streams: a running ticket-persistd leaves it
     * to this process. */
    write_events(r, key, (size_t)n, sid, tid);
    p = tk_persist_new(&conf, NULL);
    tk_persist_set_streams(p, &act, 1);
    t0 = tk_mono_ms();
    while (done < n) {
        int got = tk_persist_step(p);

        if (got < 0) {
            die("the persister failed");
        }
        done += got;
    }
    drain_ms = tk_mono_ms() - t0;
    tk_persist_free(p);

    exec_sql(s, "DROP TABLE IF EXISTS " RAW_TABLE);
    exec_sql(s, "CREATE TABLE " RAW_TABLE " LIKE tickets");
    t0 = tk_mono_ms();
    for (int64_t off = 0; off < n; off += conf.persist.batch_max) {
        int64_t k = n - off < conf.persist.batch_max ? n - off
                                                     : conf.persist.batch_max;

        if (tk_store_begin(s) < 0 ||
            tk_store_events_insert_plain(s, RAW_TABLE, ev + off,
                                         (size_t)k) < 0 ||
            tk_store_commit(s) < 0) {
            die("plain insert failed");
        }
    }
    raw_ms = tk_mono_ms() - t0;

    exec_sql(s, "DROP TABLE " RAW_TABLE);
    exec_sql(s, sql);
    tk_redis_del(r, key);

    drain_rate = (double)n * 1000.0 / (double)(drain_ms > 0 ? drain_ms : 1);
    raw_rate = (double)n * 1000.0 / (double)(raw_ms > 0 ? raw_ms : 1);
    if (out != NULL) {
        FILE *f = fopen(out, "w");

        if (f == NULL) {
            die("cannot write the output file");
        }
        fprintf(f,
                "{\"events\": %" PRId64 ", \"batch_max\": %d, "
                "\"drain_ms\": %" PRId64 ", \"drain_per_s\": %.0f, "
                "\"raw_ms\": %" PRId64 ", \"raw_per_s\": %.0f, "
                "\"ratio\": %.2f}\n",
                n, conf.persist.batch_max, drain_ms, drain_rate, raw_ms,
                raw_rate, drain_rate / raw_rate);
        fclose(f);
    }
    printf("drain %" PRId64 " events: %.0f/s; raw insert %.0f/s; "
           "ratio %.2f\n",
           n, drain_rate, raw_rate, drain_rate / raw_rate);
    free(sid);
    free(tid);
    free(ev);
    tk_store_free(s);
    tk_redis_free(r);
    tk_conf_release(&conf);
    return 0;
}
