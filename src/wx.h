/*
 * The /wechat route: URL verification (GET) and the messages and events
 * WeChat pushes (POST), answered with the command set of API.md.
 *
 * Flow of a POST (DESIGN.md "The grab path"): verify and decrypt
 * (wechat.h), classify (command.h), then at most one pipelined Redis round
 * trip before the command runs: the user's binding together with the
 * stored reply of this message (tk:reply:M) or, for 抢票 and 退票, the
 * stored outcome inside the activity's slot (tk:{a:ID}:dd:M). Grabs and
 * refunds then make one FCALL that is itself idempotent on the message key,
 * so a WeChat retry gets the same answer and never acts twice; other
 * commands store their reply with SET NX. Replies go out encrypted when
 * the message came encrypted.
 *
 * Every failure after verification (Redis or MariaDB down, the deadline
 * wechat.deadline_ms from nginx's REQUEST_START_MS passed) is answered
 * with the friendly busy text, never a 5xx or a timeout. Nothing is logged
 * per request except errors (rate-limited) and debug lines.
 *
 * Memory: the message lives in the request arena; replies are built in
 * per-thread buffers reused from request to request.
 */
#ifndef TK_WX_H
#define TK_WX_H

#include "ctx.h"
#include "http.h"

/* The route handler (GET and POST /wechat). */
int tk_wx_handle(struct tk_ctx *ctx, struct tk_req *req,
                 struct tk_resp *resp);

/* The route's busy answer for shed requests: verifies the message (no
 * I/O) and answers the busy text, sealed like any reply; "success" for
 * ignored types; the verification status when the request is refused. */
void tk_wx_busy(struct tk_ctx *ctx, struct tk_req *req,
                struct tk_resp *resp);

#endif
