/*
 * /u/help: the user guide WeChat links to ("使用指南"). One static page,
 * written once at build time: small, no scripts, no external resources,
 * readable on a phone.
 */
#include "routes.h"

static const char page[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
    "<title>使用指南</title>\n"
    "<style>body{font:16px/1.6 sans-serif;margin:0 auto;max-width:40em;"
    "padding:1em;color:#222}h1{font-size:1.4em}h2{font-size:1.1em;"
    "margin-top:1.5em}code{background:#f2f2f2;padding:0 .3em}"
    "li{margin:.3em 0}</style>\n"
    "</head><body>\n"
    "<h1>使用指南</h1>\n"
    "<h2>第一步：绑定学号</h2>\n"
    "<p>回复“绑定”，打开收到的链接，输入学号和密码。每个学号只能绑定一个"
    "微信账号；回复“解绑”可以解除绑定。</p>\n"
    "<h2>抢票</h2>\n"
    "<ul>\n"
    "<li><code>抢啥</code>：看看现在有哪些活动可以抢票。</li>\n"
    "<li><code>抢票 活动代称</code>：抢一张票，例如 "
    "<code>抢票 concert2026</code>。也可以点菜单里的活动按钮。</li>\n"
    "<li><code>取票 活动代称</code>：找回已经抢到的票。</li>\n"
    "<li><code>查票</code>：列出你所有有效的票。</li>\n"
    "<li><code>退票 活动代称</code>：活动开始前可以退票，退回的票别人还能抢。"
    "已经检票的票不能退。</li>\n"
    "<li><code>帮助</code> 或 <code>help</code>：再看一遍这份指南。</li>\n"
    "</ul>\n"
    "<h2>入场</h2>\n"
    "<p>打开票的链接，入场时出示页面上的二维码。票的链接只属于你，"
    "请不要转发。</p>\n"
    "<h2>小提示</h2>\n"
    "<ul>\n"
    "<li>每人每个活动只能持有一张有效的票。</li>\n"
    "<li>如果看到“系统繁忙，请稍后再试”，说明抢票的人很多，"
    "稍等几秒再发一次即可。</li>\n"
    "</ul>\n"
    "</body></html>\n";

int
tk_page_help(struct tk_ctx *ctx, struct tk_req *req, struct tk_resp *resp)
{
    (void)ctx;
    (void)req;
    resp->status = 200;
    resp->content_type = "text/html; charset=utf-8";
    tk_buf_add(&resp->body, page, sizeof(page) - 1);
    (void)tk_resp_header(resp, "Cache-Control", "public, max-age=3600");
    return 0;
}
