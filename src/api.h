/*
 * The data-bound routes of the user pages and of the JSON API (API.md),
 * and the input checks they share. Handlers follow routes.h's contract.
 *
 * JSON codes: 0 success, 1 missing or malformed field, 2 logic error (not
 * found, not allowed in this state), 3 signature or authentication, -1
 * internal (the frame answers that when a handler returns < 0).
 */
#ifndef TK_API_H
#define TK_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctx.h"
#include "http.h"
#include "model.h"

enum tk_api_code {
    TK_API_OK = 0,
    TK_API_INPUT = 1,
    TK_API_LOGIC = 2,
    TK_API_AUTH = 3,
};

/*
 * A text field: 1 and *out when present, non-empty, valid UTF-8 of at most
 * max bytes without control characters (newlines and tabs allowed when
 * multiline); 0 when absent or empty; -EINVAL otherwise.
 */
int tk_api_text(const struct tk_req *req, const char *name, size_t max,
                bool multiline, const char **out);

/* The "sig" of a user link over the named parameters: true when valid. */
bool tk_api_sig_ok(const struct tk_ctx *ctx, const struct tk_req *req,
                   const char *const *names, size_t n);

/* A signed link SITE + path + "?" + the signed query (arena string). */
char *tk_api_link(struct tk_ctx *ctx, const char *path, const char *name1,
                  const char *value1, const char *name2, const char *value2);

/* Appends "name":value pairs to a JSON object under construction; each
 * writes the leading comma unless it is the first (b->len ends in '{'). */
void tk_api_json_str(struct tk_buf *b, const char *name, const char *value);
void tk_api_json_int(struct tk_buf *b, const char *name, int64_t value);

/* the user side of the API (api_user.c) */
int tk_api_user_bind(struct tk_ctx *ctx, struct tk_req *req,
                     struct tk_resp *resp);
int tk_api_activity_detail(struct tk_ctx *ctx, struct tk_req *req,
                           struct tk_resp *resp);
int tk_api_ticket_detail(struct tk_ctx *ctx, struct tk_req *req,
                         struct tk_resp *resp);

/* the admin side of the API (api_admin.c) */
int tk_api_a_login(struct tk_ctx *ctx, struct tk_req *req,
                   struct tk_resp *resp);
int tk_api_a_logout(struct tk_ctx *ctx, struct tk_req *req,
                    struct tk_resp *resp);
int tk_api_a_list(struct tk_ctx *ctx, struct tk_req *req,
                  struct tk_resp *resp);
int tk_api_a_create(struct tk_ctx *ctx, struct tk_req *req,
                    struct tk_resp *resp);
int tk_api_a_delete(struct tk_ctx *ctx, struct tk_req *req,
                    struct tk_resp *resp);
int tk_api_a_detail(struct tk_ctx *ctx, struct tk_req *req,
                    struct tk_resp *resp);
int tk_api_a_upload(struct tk_ctx *ctx, struct tk_req *req,
                    struct tk_resp *resp);
int tk_api_a_menu(struct tk_ctx *ctx, struct tk_req *req,
                  struct tk_resp *resp);
int tk_api_a_checkin(struct tk_ctx *ctx, struct tk_req *req,
                     struct tk_resp *resp);

/* /u/bind, /u/activity, /u/ticket, /u/tickets (page_user.c) */
int tk_page_bind(struct tk_ctx *ctx, struct tk_req *req,
                 struct tk_resp *resp);
int tk_page_activity(struct tk_ctx *ctx, struct tk_req *req,
                     struct tk_resp *resp);
int tk_page_ticket(struct tk_ctx *ctx, struct tk_req *req,
                   struct tk_resp *resp);
int tk_page_tickets(struct tk_ctx *ctx, struct tk_req *req,
                    struct tk_resp *resp);

#endif
