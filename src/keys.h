/*
 * Redis key names, built here and nowhere else. Every key of one activity
 * carries the hash tag {a:ID} so one function call touches one slot.
 *
 *   tk:{a:ID}:stock    hash  total, remain, sold       (no TTL)
 *   tk:{a:ID}:holders  hash  student id -> ticket id   (valid or used)
 *   tk:{a:ID}:tickets  hash  ticket id -> "status:student id"
 *   tk:{a:ID}:events   stream of order events (model.h)
 *   tk:{a:ID}:info     hash  activity fields (cache, TTL)
 *   tk:{a:ID}:dd:M     the outcome of message M, for WeChat retries (TTL)
 *   tk:streams         set   activity ids that have an events stream
 *   tk:dead            stream of dead-lettered events
 *   tk:persist:stats   hash  ticket-persistd counters (applied, ...)
 *   tk:act:key:KEY     cache: activity id by key (TTL)
 *   tk:act:id:ID       cache: activity fields (TTL)
 *   tk:act:open        cache: activities open for booking (short TTL)
 *   tk:bind:OPENID     cache: student id, or the null marker (TTL)
 *   tk:mytix:SID       cache: a student's ticket list (TTL)
 *   tk:lock:K          cache-aside mutex for key K (PX)
 *   tk:reply:M         stored reply to WeChat message M (TTL)
 *   tk:sess:TOKEN      admin session (TTL)
 *   tk:login:fail:X    failed login counter (TTL)
 * Functions library: "ticketd" (versioned in its source).
 */
#ifndef TK_KEYS_H
#define TK_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define TK_KEY_BUF 256 /* large enough for every key built here */

#define TK_KEYS_STREAMS "tk:streams"
#define TK_KEYS_DEAD "tk:dead"
#define TK_KEYS_GROUP "persist" /* consumer group of ticket-persistd */
#define TK_KEYS_PERSIST_STATS "tk:persist:stats"

/* Each writes a NUL-terminated key into buf (TK_KEY_BUF bytes) and returns
 * its length; the argument strings are bounded by model.h limits. */
size_t tk_key_stock(char *buf, int64_t act);
size_t tk_key_holders(char *buf, int64_t act);
size_t tk_key_tickets(char *buf, int64_t act);
size_t tk_key_events(char *buf, int64_t act);
size_t tk_key_info(char *buf, int64_t act);
size_t tk_key_dedupe(char *buf, int64_t act, const char *msgkey);
size_t tk_key_act_by_key(char *buf, const char *key);
size_t tk_key_act_by_id(char *buf, int64_t act);
size_t tk_key_act_open(char *buf);
size_t tk_key_binding(char *buf, const char *openid);
size_t tk_key_my_tickets(char *buf, const char *student_id);
size_t tk_key_lock(char *buf, const char *key);
size_t tk_key_reply(char *buf, const char *msgkey);
size_t tk_key_session(char *buf, const char *token);
size_t tk_key_login_fail(char *buf, const char *who);

#endif
