/*
 * Every user-facing WeChat reply text, in one table (texts.c). Each
 * contains the key phrase API.md specifies, verbatim; tests check it.
 * Placeholders are "%s" only, filled in order by tk_text_render (no
 * printf, so a text can never be a format string attack).
 */
#ifndef TK_TEXTS_H
#define TK_TEXTS_H

#include <stddef.h>

#include "util.h"

struct tk_buf;

enum tk_text_id {
    TK_TEXT_HELP_TITLE = 0,     /* news title: 使用指南 */
    TK_TEXT_HELP_DESC,          /* news description, bound users */
    TK_TEXT_HELP_DESC_UNBOUND,  /* the same for unbound: 回复“绑定” */
    TK_TEXT_BIND_FIRST,         /* %s: signed bind link */
    TK_TEXT_ALREADY_BOUND,      /* %s: student id */
    TK_TEXT_UNBOUND,            /* 学号绑定已经解除 */
    TK_TEXT_NOTHING_OPEN,       /* 现在没有可以抢票的活动 */
    TK_TEXT_BOOK_WHAT_DESC,     /* news description: %s book start, %s end */
    TK_TEXT_NEED_KEY,           /* 请输入：抢票 活动代称 */
    TK_TEXT_NO_ACTIVITY,        /* 活动不存在 */
    TK_TEXT_NOT_STARTED,        /* %s: opening time */
    TK_TEXT_ENDED,              /* 抢票已经结束 */
    TK_TEXT_ALREADY_HAVE,       /* %s: ticket link */
    TK_TEXT_SOLD_OUT,           /* 对不起，票已经被抢光啦 */
    TK_TEXT_BOOK_OK,            /* text: %s activity name, %s ticket link */
    TK_TEXT_BOOK_OK_TITLE,      /* news title: %s activity name */
    TK_TEXT_BUSY,               /* 系统繁忙，请稍后再试 */
    TK_TEXT_NO_TICKET,          /* 您没有该活动的票 */
    TK_TEXT_TICKET_USED,        /* 票已使用，无法退票 */
    TK_TEXT_REFUND_STARTED,     /* 活动已开始，无法退票 */
    TK_TEXT_REFUND_OK,          /* 退票成功 */
    TK_TEXT_TICKET_TITLE,       /* news title: %s activity name */
    TK_TEXT_TICKET_DESC,        /* news description: %s place, %s time */
    TK_TEXT_NO_TICKETS,         /* 您还没有票 */
    TK_TEXT_TICKETS_TITLE,      /* news title of the ticket list */
    TK_TEXT_TICKETS_DESC,       /* news description: %s count */
    TK_TEXT_UNKNOWN,            /* 对不起，没有找到您需要的信息 */
    TK_TEXT_COUNT
};

/* The template of id, with its "%s" placeholders; "" if id is invalid.
 * Static storage. */
const char *tk_text(enum tk_text_id id);

/* How many "%s" placeholders the template of id has. */
size_t tk_text_nargs(enum tk_text_id id);

/*
 * Appends the text of id to out with each "%s" replaced by the next of
 * the nargs strings in args (missing or NULL ones render as ""; extra
 * ones are ignored). TK_TEXT_ARGS("a", "b") expands to args, nargs.
 */
void tk_text_render(struct tk_buf *out, enum tk_text_id id,
                    const char *const *args, size_t nargs);

#define TK_TEXT_ARGS(...)                                                     \
    (const char *const[]){__VA_ARGS__},                                       \
        TK_ARRAY_SIZE(((const char *const[]){__VA_ARGS__}))

#endif
