/*
 * The user pages WeChat links to: binding, activity detail, one ticket
 * with its check-in QR code, and the list of a student's tickets. Plain
 * server-rendered HTML (no scripts, no external resources) sized for a
 * phone; every value from the data is escaped. Pages that name a user
 * need the link's signature (403 otherwise).
 */
#include "api.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "cache.h"
#include "data.h"
#include "qr.h"
#include "store.h"

static const char *const openid_only[] = {"openid"};
static const char *const openid_ticket[] = {"openid", "ticket"};

static void
begin(struct tk_resp *resp, int status, const char *title)
{
    resp->status = status;
    resp->content_type = "text/html; charset=utf-8";
    (void)tk_resp_header(resp, "Cache-Control", "private, no-store");
    tk_buf_reset(&resp->body);
    tk_buf_adds(&resp->body,
                "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head>"
                "<meta charset=\"utf-8\">\n<meta name=\"viewport\" "
                "content=\"width=device-width,initial-scale=1\">\n<title>");
    tk_buf_add_html(&resp->body, title);
    tk_buf_adds(&resp->body,
                "</title>\n<style>body{font:16px/1.6 sans-serif;margin:0 "
                "auto;max-width:40em;padding:1em;color:#222}h1{font-size:"
                "1.4em}dt{color:#666;font-size:.9em}dd{margin:0 0 .6em}"
                "label,input,button{display:block;width:100%;box-sizing:"
                "border-box;font-size:1em}input{padding:.5em;margin:.2em 0 "
                ".8em}button{padding:.6em;background:#07c160;color:#fff;"
                "border:0;border-radius:4px}.msg{padding:.6em;background:"
                "#f5f5f5;border-left:4px solid #07c160}.err{border-color:"
                "#e64340}.qr{max-width:18em;margin:1em auto}.valid{color:"
                "#07c160}.void{color:#999}li{margin:.4em 0}</style>\n"
                "</head><body>\n<h1>");
    tk_buf_add_html(&resp->body, title);
    tk_buf_adds(&resp->body, "</h1>\n");
}

static void
end(struct tk_resp *resp)
{
    tk_buf_adds(&resp->body, "</body></html>\n");
}

/* A page of one message. */
static void
message(struct tk_resp *resp, int status, const char *title, const char *msg)
{
    begin(resp, status, title);
    tk_buf_adds(&resp->body, status == 200 ? "<p class=\"msg\">"
                                           : "<p class=\"msg err\">");
    tk_buf_add_html(&resp->body, msg);
    tk_buf_adds(&resp->body, "</p>\n");
    end(resp);
}

static void
forbidden(struct tk_resp *resp)
{
    message(resp, 403, "链接无效",
            "这个链接无效或已被修改。请在公众号里重新获取链接。");
}

static void
add_time(struct tk_buf *b, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    char s[32];

    if (localtime_r(&tt, &tm) == NULL ||
        strftime(s, sizeof(s), "%Y-%m-%d %H:%M", &tm) == 0) {
        tk_buf_printf(b, "%lld", (long long)t);
        return;
    }
    tk_buf_adds(b, s);
}

static void
add_item(struct tk_buf *b, const char *label, const char *value)
{
    tk_buf_adds(b, "<dt>");
    tk_buf_add_html(b, label);
    tk_buf_adds(b, "</dt><dd>");
    tk_buf_add_html(b, value);
    tk_buf_adds(b, "</dd>\n");
}

static void
add_span(struct tk_buf *b, const char *label, int64_t from, int64_t to)
{
    tk_buf_adds(b, "<dt>");
    tk_buf_add_html(b, label);
    tk_buf_adds(b, "</dt><dd>");
    add_time(b, from);
    tk_buf_adds(b, " – ");
    add_time(b, to);
    tk_buf_adds(b, "</dd>\n");
}

/* --- /u/bind ------------------------------------------------------------ */

static void
bind_form(struct tk_resp *resp, struct tk_req *req, const char *openid,
          int status, const char *msg)
{
    struct tk_buf action = TK_BUF_INIT;

    begin(resp, status, "绑定学号");
    if (msg != NULL) {
        tk_buf_adds(&resp->body, status == 200 ? "<p class=\"msg\">"
                                               : "<p class=\"msg err\">");
        tk_buf_add_html(&resp->body, msg);
        tk_buf_adds(&resp->body, "</p>\n");
    }
    tk_buf_adds(&action, "/u/bind?openid=");
    tk_http_encode(&action, openid);
    tk_buf_adds(&action, "&sig=");
    tk_http_encode(&action, tk_req_param(req, "sig"));
    tk_buf_adds(&resp->body, "<form method=\"post\" action=\"");
    tk_buf_add_html(&resp->body, tk_buf_str(&action));
    tk_buf_adds(&resp->body,
                "\">\n<label for=\"sid\">学号</label>"
                "<input id=\"sid\" name=\"student_id\" inputmode=\"numeric\" "
                "autocomplete=\"username\" maxlength=\"32\" required>\n"
                "<label for=\"pw\">密码</label>"
                "<input id=\"pw\" name=\"password\" type=\"password\" "
                "autocomplete=\"current-password\" maxlength=\"256\" "
                "required>\n<button type=\"submit\">绑定</button>\n"
                "</form>\n<p>每个学号只能绑定一个微信账号。</p>\n");
    end(resp);
    tk_buf_release(&action);
}

static int
bind_post(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp,
          const char *openid)
{
    const char *sid = NULL, *password = NULL;
    char *done;
    int rc;

    if (tk_api_text(req, "student_id", TK_SID_MAX, false, &sid) <= 0 ||
        tk_api_text(req, "password", 256, false, &password) <= 0) {
        bind_form(resp, req, openid, 400, "请输入学号和密码。");
        return 0;
    }
    rc = tk_store_user_bind(tk_ctx_store(ctx), openid, sid, password);
    if (rc < 0) {
        return rc;
    }
    switch (rc) {
    case TK_BIND_OK:
        (void)tk_cache_invalidate_binding(tk_ctx_redis(ctx), openid);
        done = tk_arena_printf(ctx->arena,
                               "绑定成功：您已经绑定了学号%s。现在可以回到"
                               "公众号抢票了。", sid);
        message(resp, 200, "绑定学号", done);
        break;
    case TK_BIND_BAD_CREDENTIALS:
        bind_form(resp, req, openid, 200, "学号或密码错误，请重试。");
        break;
    case TK_BIND_STUDENT_TAKEN:
        bind_form(resp, req, openid, 200,
                  "这个学号已经绑定了另一个微信账号。如有疑问请联系管理员。");
        break;
    default:
        message(resp, 200, "绑定学号",
                "您的微信账号已经绑定了另一个学号。请先在公众号回复“解绑”，"
                "再重新绑定。");
        break;
    }
    return 0;
}

int
tk_page_bind(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    char sid[TK_SID_MAX + 1];
    const char *openid;
    int rc;

    if (tk_api_text(req, "openid", TK_OPENID_MAX, false, &openid) <= 0 ||
        !tk_api_sig_ok(ctx, req, openid_only, 1)) {
        forbidden(resp);
        return 0;
    }
    if (req->method == TK_M_POST) {
        return bind_post(ctx, req, resp, openid);
    }
    rc = tk_data_binding(ctx, openid, sid);
    if (rc < 0) {
        return rc;
    }
    if (rc == 1) {
        message(resp, 200, "绑定学号",
                tk_arena_printf(ctx->arena, "您已经绑定了学号%s。", sid));
        return 0;
    }
    bind_form(resp, req, openid, 200, NULL);
    return 0;
}

/* --- /u/activity -------------------------------------------------------- */

static bool
is_web_url(const char *s)
{
    return strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0;
}

int
tk_page_activity(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    struct tk_activity a;
    struct tk_buf *b = &resp->body;
    int64_t id, remain, now = ctx->now_ms / 1000;
    int rc = tk_req_param_i64(req, "id", 1, INT64_MAX, &id);

    if (rc <= 0) {
        message(resp, 404, "活动不存在", "没有找到这个活动。");
        return 0;
    }
    rc = tk_data_activity(ctx, id, &a);
    if (rc < 0) {
        return rc;
    }
    if (rc == 0 || a.status != TK_ACT_PUBLISHED) {
        message(resp, 404, "活动不存在", "没有找到这个活动。");
        return 0;
    }
    rc = tk_data_remain(ctx, &a, &remain);
    if (rc < 0) {
        return rc;
    }
    begin(resp, 200, a.name);
    if (a.pic_url[0] != '\0' && is_web_url(a.pic_url)) {
        tk_buf_adds(b, "<img style=\"max-width:100%\" alt=\"\" src=\"");
        tk_buf_add_html(b, a.pic_url);
        tk_buf_adds(b, "\">\n");
    }
    tk_buf_adds(b, "<dl>\n");
    add_item(b, "地点", a.place);
    add_span(b, "活动时间", a.start_time, a.end_time);
    add_span(b, "抢票时间", a.book_start, a.book_end);
    tk_buf_printf(b, "<dt>余票</dt><dd>%lld / %lld</dd>\n", (long long)remain,
                  (long long)a.total_tickets);
    tk_buf_adds(b, "</dl>\n<p>");
    if (now < a.book_start) {
        tk_buf_adds(b, "抢票尚未开始。");
    } else if (now > a.book_end) {
        tk_buf_adds(b, "抢票已经结束。");
    } else {
        tk_buf_adds(b, "在公众号回复“抢票 ");
        tk_buf_add_html(b, a.key);
        tk_buf_adds(b, "”即可抢票。");
    }
    tk_buf_adds(b, "</p>\n<div>");
    tk_buf_add_html(b, a.description);
    tk_buf_adds(b, "</div>\n");
    end(resp);
    return 0;
}

/* --- /u/ticket ---------------------------------------------------------- */

static const char *
status_text(int status)
{
    switch (status) {
    case TK_TICKET_VALID:
        return "有效";
    case TK_TICKET_USED:
        return "已使用";
    default:
        return "已退票";
    }
}

int
tk_page_ticket(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    struct tk_activity a;
    struct tk_ticket t;
    struct tk_buf *b = &resp->body;
    const char *openid, *tid;
    int rc;

    if (tk_api_text(req, "openid", TK_OPENID_MAX, false, &openid) <= 0 ||
        tk_api_text(req, "ticket", TK_TICKET_ID_MAX, false, &tid) <= 0 ||
        !tk_api_sig_ok(ctx, req, openid_ticket, 2)) {
        forbidden(resp);
        return 0;
    }
    rc = tk_data_owned_ticket(ctx, openid, tid, &t, &a);
    if (rc < 0) {
        return rc;
    }
    if (rc == 0) {
        message(resp, 404, "票不存在", "没有找到这张票。");
        return 0;
    }
    begin(resp, 200, a.name);
    tk_buf_adds(b, "<dl>\n");
    add_item(b, "地点", a.place);
    add_span(b, "时间", a.start_time, a.end_time);
    add_item(b, "学号", t.student_id);
    tk_buf_printf(b, "<dt>状态</dt><dd class=\"%s\">",
                  t.status == TK_TICKET_VALID ? "valid" : "void");
    tk_buf_add_html(b, status_text(t.status));
    tk_buf_adds(b, "</dd>\n");
    add_item(b, "票号", t.unique_id);
    tk_buf_adds(b, "</dl>\n");
    if (t.status == TK_TICKET_VALID) {
        tk_buf_adds(b, "<div class=\"qr\">");
        if (tk_qr_svg(b, t.unique_id) < 0) {
            return -EINVAL;
        }
        tk_buf_adds(b, "</div>\n<p>入场时请出示这个二维码。</p>\n");
    }
    end(resp);
    return 0;
}

/* --- /u/tickets --------------------------------------------------------- */

int
tk_page_tickets(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    struct tk_ticket_list list = {NULL, 0};
    struct tk_activity a;
    struct tk_buf *b = &resp->body;
    char sid[TK_SID_MAX + 1];
    const char *openid;
    int rc;

    if (tk_api_text(req, "openid", TK_OPENID_MAX, false, &openid) <= 0 ||
        !tk_api_sig_ok(ctx, req, openid_only, 1)) {
        forbidden(resp);
        return 0;
    }
    rc = tk_data_binding(ctx, openid, sid);
    if (rc < 0) {
        return rc;
    }
    if (rc == 0) {
        message(resp, 200, "我的票", "请先绑定学号：在公众号回复“绑定”。");
        return 0;
    }
    rc = tk_data_valid_tickets(ctx, sid, &list);
    if (rc < 0) {
        return rc;
    }
    begin(resp, 200, "我的票");
    if (list.n == 0) {
        tk_buf_adds(b, "<p class=\"msg\">您还没有票。</p>\n");
    } else {
        tk_buf_adds(b, "<ul>\n");
    }
    for (size_t i = 0; i < list.n; i++) {
        const struct tk_ticket *t = &list.items[i];
        char *link;

        rc = tk_data_activity(ctx, t->activity_id, &a);
        if (rc < 0) {
            goto out;
        }
        link = tk_api_link(ctx, "/u/ticket", "openid", openid, "ticket",
                           t->unique_id);
        if (rc == 0 || link == NULL) {
            continue;
        }
        tk_buf_adds(b, "<li><a href=\"");
        tk_buf_add_html(b, link);
        tk_buf_adds(b, "\">");
        tk_buf_add_html(b, a.name);
        tk_buf_adds(b, "</a><br>");
        tk_buf_add_html(b, a.place);
        tk_buf_adds(b, " · ");
        add_time(b, a.start_time);
        tk_buf_adds(b, "</li>\n");
    }
    if (list.n > 0) {
        tk_buf_adds(b, "</ul>\n");
    }
    end(resp);
    rc = 0;
out:
    tk_ticket_list_release(&list);
    return rc;
}
