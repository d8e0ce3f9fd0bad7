/*
 * What a WeChat message or event asks for (API.md, "WeChat commands and
 * events"): text commands and menu CLICK keys map to one command enum
 * plus its argument. Pure, no I/O, no allocation.
 *
 * Text: surrounding white space (ASCII, U+3000 full-width, U+00A0) is
 * trimmed; the command and its argument are separated by any run of such
 * white space; "help" is case-insensitive. Commands without an argument
 * must stand alone ("帮助 x" is unknown).
 */
#ifndef TK_COMMAND_H
#define TK_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "xml.h"

enum tk_wx_cmd {
    TK_WX_CMD_IGNORE = 0,    /* other message types and events: "success" */
    TK_WX_CMD_UNKNOWN,       /* 对不起，没有找到您需要的信息 */
    TK_WX_CMD_HELP,          /* 帮助, help, CLICK SERVICE_HELP, subscribe, SCAN */
    TK_WX_CMD_BIND,          /* 绑定, CLICK SERVICE_BIND */
    TK_WX_CMD_UNBIND,        /* 解绑 */
    TK_WX_CMD_UNSUBSCRIBE,   /* event unsubscribe: forget the user */
    TK_WX_CMD_BOOK_WHAT,     /* 抢啥, CLICK SERVICE_BOOK_WHAT */
    TK_WX_CMD_BOOK,          /* 抢票 KEY, CLICK BOOKING_ACTIVITY_<id> */
    TK_WX_CMD_REFUND,        /* 退票 KEY */
    TK_WX_CMD_TAKE,          /* 取票 KEY */
    TK_WX_CMD_TICKETS,       /* 查票, CLICK SERVICE_GET_TICKET */
    TK_WX_CMD_BOOKING_EMPTY, /* CLICK BOOKING_EMPTY */
};

enum tk_wx_cmd_source {
    TK_WX_CMD_FROM_TEXT = 0, /* a text message: news replies carry 1 item */
    TK_WX_CMD_FROM_EVENT,    /* an event or menu click: up to 8 items */
};

enum tk_wx_cmd_arg {
    TK_WX_CMD_ARG_NONE = 0,  /* no argument given (or none taken) */
    TK_WX_CMD_ARG_KEY,       /* key holds the activity key */
    TK_WX_CMD_ARG_ID,        /* activity_id holds the id (menu click) */
    TK_WX_CMD_ARG_TOO_LONG,  /* a key over TK_KEY_MAX bytes: no such activity */
};

struct tk_wx_command {
    enum tk_wx_cmd cmd;
    enum tk_wx_cmd_source source;
    enum tk_wx_cmd_arg arg;
    char key[TK_KEY_MAX + 1]; /* TK_WX_CMD_ARG_KEY: trimmed, else "" */
    int64_t activity_id;      /* TK_WX_CMD_ARG_ID: > 0, else 0 */
};

/* Classifies a message (text or event) into out. Never fails. */
void tk_wx_cmd_parse(const struct tk_wx_msg *msg, struct tk_wx_command *out);

/* The text part alone: len bytes of UTF-8 user text. */
void tk_wx_cmd_parse_text(const char *text, size_t len,
                          struct tk_wx_command *out);

/* The CLICK part alone: a menu EventKey. */
void tk_wx_cmd_parse_click(const char *key, struct tk_wx_command *out);

/* A short lowercase name ("book", "help"...) for logs and metrics. */
const char *tk_wx_cmd_name(enum tk_wx_cmd cmd);

#endif
