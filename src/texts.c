#include "texts.h"

#include <string.h>

#include "buf.h"

/* The key phrases of API.md must stay verbatim inside these. */
static const char *const texts[TK_TEXT_COUNT] = {
    [TK_TEXT_HELP_TITLE] = "抢票使用指南",
    [TK_TEXT_HELP_DESC] =
        "回复“抢啥”看看现在能抢哪些票，回复“抢票 活动代称”抢票，"
        "回复“查票”查看您的票。点击查看完整说明。",
    [TK_TEXT_HELP_DESC_UNBOUND] =
        "第一次使用？回复“绑定”绑定学号后就能抢票啦。"
        "回复“抢啥”看看现在能抢哪些票。点击查看完整说明。",
    [TK_TEXT_BIND_FIRST] = "请先绑定学号，点这里完成绑定：%s",
    [TK_TEXT_ALREADY_BOUND] =
        "您已经绑定了学号%s。如需更换，请先回复“解绑”。",
    [TK_TEXT_UNBOUND] = "学号绑定已经解除。需要时回复“绑定”即可重新绑定。",
    [TK_TEXT_NOTHING_OPEN] = "现在没有可以抢票的活动，过几天再来看看吧。",
    [TK_TEXT_BOOK_WHAT_DESC] = "抢票时间：%s 至 %s",
    [TK_TEXT_NEED_KEY] =
        "请输入：抢票 活动代称\n（退票、取票同理，例如“退票 活动代称”）",
    [TK_TEXT_NO_ACTIVITY] = "活动不存在，请检查活动代称。",
    [TK_TEXT_NOT_STARTED] = "抢票尚未开始，开抢时间：%s",
    [TK_TEXT_ENDED] = "抢票已经结束，下次早点来哦。",
    [TK_TEXT_ALREADY_HAVE] = "您已经抢到票了，不用再抢啦。电子票：%s",
    [TK_TEXT_SOLD_OUT] = "对不起，票已经被抢光啦。",
    [TK_TEXT_BOOK_OK] = "抢票成功！活动：%s\n电子票：%s",
    [TK_TEXT_BOOK_OK_TITLE] = "抢票成功：%s",
    [TK_TEXT_BUSY] = "系统繁忙，请稍后再试。",
    [TK_TEXT_NO_TICKET] = "您没有该活动的票。",
    [TK_TEXT_TICKET_USED] = "票已使用，无法退票。",
    [TK_TEXT_REFUND_STARTED] = "活动已开始，无法退票。",
    [TK_TEXT_REFUND_OK] = "退票成功，欢迎下次再来。",
    [TK_TEXT_TICKET_TITLE] = "电子票：%s",
    [TK_TEXT_TICKET_DESC] = "地点：%s\n时间：%s\n入场时出示二维码。",
    [TK_TEXT_NO_TICKETS] = "您还没有票。回复“抢啥”看看现在能抢哪些票。",
    [TK_TEXT_TICKETS_TITLE] = "我的电子票",
    [TK_TEXT_TICKETS_DESC] = "您共有 %s 张有效的票，点击查看。",
    [TK_TEXT_UNKNOWN] =
        "对不起，没有找到您需要的信息。回复“帮助”查看使用指南。",
};

const char *
tk_text(enum tk_text_id id)
{
    if ((unsigned)id >= TK_TEXT_COUNT || texts[id] == NULL) {
        return "";
    }
    return texts[id];
}

size_t
tk_text_nargs(enum tk_text_id id)
{
    const char *s = tk_text(id);
    size_t n = 0;

    while ((s = strstr(s, "%s")) != NULL) {
        n++;
        s += 2;
    }
    return n;
}

void
tk_text_render(struct tk_buf *out, enum tk_text_id id,
               const char *const *args, size_t nargs)
{
    const char *s = tk_text(id), *p;
    size_t i = 0;

    while ((p = strstr(s, "%s")) != NULL) {
        tk_buf_add(out, s, (size_t)(p - s));
        if (i < nargs && args[i] != NULL) {
            tk_buf_adds(out, args[i]);
        }
        i++;
        s = p + 2;
    }
    tk_buf_adds(out, s);
}
