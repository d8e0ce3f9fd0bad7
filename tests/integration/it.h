/*
 * Helpers for the C integration tests (tests/integration/it_*.c): they run
 * against the stack named by $TK_DIR, read its ticketd.conf, and start
 * from fresh Redis data.
 */
#ifndef TK_IT_H
#define TK_IT_H

#include <stdint.h>
#include <sys/types.h>

#include "conf.h"
#include "redis.h"

/* Loads $TK_DIR/ticketd.conf into conf; aborts the test program when the
 * stack is not there. */
void it_conf(struct tk_conf *conf);

/* A connected handle; fails the test when it cannot connect. */
struct tk_redis *it_redis(const struct tk_conf *conf);

/* FLUSHALL (the functions library survives it) and make sure the
 * library is loaded. */
void it_flush(struct tk_redis *r);

/* An integer reply to a command given as strings (NULL-terminated). */
long long it_int(struct tk_redis *r, ...) __attribute__((sentinel));

/*
 * The stack's ticket-persistd consumes and trims every activity stream it
 * finds. Tests of the Redis layer itself, or that count MariaDB statements,
 * pause it (SIGSTOP) and resume it (SIGCONT). Returns its pid, or 0 when
 * none runs; it_persistd_resume(0) does nothing.
 */
pid_t it_persistd_pause(void);
void it_persistd_resume(pid_t pid);

#endif
