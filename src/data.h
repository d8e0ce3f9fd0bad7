/*
 * Reads and writes of the domain that the pages and the JSON API share,
 * over the thread's handles (app.h): cache-aside where the WeChat path
 * caches too, Redis where it is authoritative (stock, holders and ticket
 * statuses during a sale), MariaDB for the rest.
 *
 * Returns: lookups 1 found / 0 not found, others 0; < 0 an error already
 * logged by the layer that met it.
 */
#ifndef TK_DATA_H
#define TK_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "cache.h"
#include "ctx.h"
#include "model.h"

/* Activity by id, any status (cache-aside, so edits show at once after
 * the admin's invalidation). */
int tk_data_activity(struct tk_ctx *ctx, int64_t id, struct tk_activity *out);

/* Student bound to openid (cache-aside); sid is "" when unbound (0). */
int tk_data_binding(struct tk_ctx *ctx, const char *openid,
                    char sid[TK_SID_MAX + 1]);

/* Tickets left: the Redis stock once the activity is loaded, else
 * total - booked from MariaDB (never below 0). */
int tk_data_remain(struct tk_ctx *ctx, const struct tk_activity *a,
                   int64_t *remain);

/*
 * Activity by id (as tk_data_activity) and, when found, its tickets left
 * (as tk_data_remain). While the activity is cached in Redis both come in
 * one round trip; otherwise this falls back to the two reads.
 */
int tk_data_activity_remain(struct tk_ctx *ctx, int64_t id,
                            struct tk_activity *out, int64_t *remain);

/* Booked (valid + used) tickets: Redis's sold count when loaded, else
 * MariaDB's; used tickets from MariaDB. */
int tk_data_counts(struct tk_ctx *ctx, const struct tk_activity *a,
                   int64_t *booked, int64_t *used);

/*
 * A ticket by its unique id, with its current status: MariaDB's row with
 * the status Redis holds for it when its activity is loaded; a ticket
 * that the persister has not written yet is found in the Redis tickets of
 * the activities whose booking is open (created_at then 0).
 */
int tk_data_ticket(struct tk_ctx *ctx, const char *unique_id,
                   struct tk_ticket *out);

/*
 * The ticket unique_id if it belongs to the student bound to openid, with
 * its activity: 1 found (t and a filled), 0 unknown, not theirs or openid
 * unbound, < 0 error. What the owner-only page and JSON route share.
 */
int tk_data_owned_ticket(struct tk_ctx *ctx, const char *openid,
                         const char *unique_id, struct tk_ticket *t,
                         struct tk_activity *a);

/* The student's valid tickets (statuses as in tk_data_ticket()), newest
 * first; out is released first and owned by the caller. */
int tk_data_valid_tickets(struct tk_ctx *ctx, const char *sid,
                          struct tk_ticket_list *out);

/*
 * Loads a published activity into Redis so grabs work: reset false only
 * creates the stock when absent (first publication), reset true replaces
 * stock, holders and tickets with an empty set of total tickets (a
 * total changed before booking opened, when nobody can hold one).
 */
int tk_data_load(struct tk_ctx *ctx, const struct tk_activity *a, bool reset);

#endif
