#include "command.h"

#include <string.h>
#include <strings.h>

#include "util.h"

/* Length of the white space character at s (n bytes left), or 0. */
static size_t
space_at(const char *s, size_t n)
{
    unsigned char c = (unsigned char)s[0];

    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
        c == '\f') {
        return 1;
    }
    if (n >= 3 && memcmp(s, "\xe3\x80\x80", 3) == 0) { /* U+3000 */
        return 3;
    }
    if (n >= 2 && memcmp(s, "\xc2\xa0", 2) == 0) { /* U+00A0 */
        return 2;
    }
    return 0;
}

/* Length of the white space run ending at s + n. */
static size_t
space_before(const char *s, size_t n)
{
    size_t k = n;

    for (;;) {
        if (k >= 1 && space_at(s + k - 1, 1) == 1) {
            k -= 1;
        } else if (k >= 3 && memcmp(s + k - 3, "\xe3\x80\x80", 3) == 0) {
            k -= 3;
        } else if (k >= 2 && memcmp(s + k - 2, "\xc2\xa0", 2) == 0) {
            k -= 2;
        } else {
            return n - k;
        }
    }
}

static const struct {
    const char *word;
    enum tk_wx_cmd cmd;
    bool takes_key;
} words[] = {
    {"帮助", TK_WX_CMD_HELP, false},
    {"绑定", TK_WX_CMD_BIND, false},
    {"解绑", TK_WX_CMD_UNBIND, false},
    {"抢啥", TK_WX_CMD_BOOK_WHAT, false},
    {"抢票", TK_WX_CMD_BOOK, true},
    {"退票", TK_WX_CMD_REFUND, true},
    {"取票", TK_WX_CMD_TAKE, true},
    {"查票", TK_WX_CMD_TICKETS, false},
};

void
tk_wx_cmd_parse_text(const char *text, size_t len, struct tk_wx_command *out)
{
    size_t n, w, sp;
    const char *arg;

    memset(out, 0, sizeof(*out));
    out->cmd = TK_WX_CMD_UNKNOWN;
    out->source = TK_WX_CMD_FROM_TEXT;
    /* Trim both ends. */
    while (len > 0 && (sp = space_at(text, len)) > 0) {
        text += sp, len -= sp;
    }
    len -= space_before(text, len);
    /* The command word runs up to the first white space. */
    for (w = 0; w < len && space_at(text + w, len - w) == 0; w++) {
    }
    arg = text + w;
    n = len - w;
    while (n > 0 && (sp = space_at(arg, n)) > 0) {
        arg += sp, n -= sp;
    }
    if (w == 4 && strncasecmp(text, "help", 4) == 0) {
        out->cmd = n == 0 ? TK_WX_CMD_HELP : TK_WX_CMD_UNKNOWN;
        return;
    }
    for (size_t i = 0; i < TK_ARRAY_SIZE(words); i++) {
        if (strlen(words[i].word) != w ||
            memcmp(words[i].word, text, w) != 0) {
            continue;
        }
        if (!words[i].takes_key) {
            out->cmd = n == 0 ? words[i].cmd : TK_WX_CMD_UNKNOWN;
            return;
        }
        out->cmd = words[i].cmd;
        if (n == 0) {
            out->arg = TK_WX_CMD_ARG_NONE;
        } else if (n > TK_KEY_MAX) {
            out->arg = TK_WX_CMD_ARG_TOO_LONG;
        } else {
            out->arg = TK_WX_CMD_ARG_KEY;
            memcpy(out->key, arg, n);
            out->key[n] = '\0';
        }
        return;
    }
}

#define BOOKING_PREFIX "BOOKING_ACTIVITY_"

void
tk_wx_cmd_parse_click(const char *key, struct tk_wx_command *out)
{
    static const struct {
        const char *key;
        enum tk_wx_cmd cmd;
    } clicks[] = {
        {"BOOKING_EMPTY", TK_WX_CMD_BOOKING_EMPTY},
        {"SERVICE_BIND", TK_WX_CMD_BIND},
        {"SERVICE_BOOK_WHAT", TK_WX_CMD_BOOK_WHAT},
        {"SERVICE_GET_TICKET", TK_WX_CMD_TICKETS},
        {"SERVICE_HELP", TK_WX_CMD_HELP},
    };
    size_t plen = strlen(BOOKING_PREFIX);

    memset(out, 0, sizeof(*out));
    out->cmd = TK_WX_CMD_UNKNOWN;
    out->source = TK_WX_CMD_FROM_EVENT;
    for (size_t i = 0; i < TK_ARRAY_SIZE(clicks); i++) {
        if (strcmp(key, clicks[i].key) == 0) {
            out->cmd = clicks[i].cmd;
            return;
        }
    }
    if (strncmp(key, BOOKING_PREFIX, plen) == 0) {
        const char *id = key + plen;
        int64_t v;

        /* Digits only: tk_parse_i64 alone would take "-1" or "+1". */
        if (id[0] >= '1' && id[0] <= '9' &&
            strspn(id, "0123456789") == strlen(id) &&
            tk_parse_i64(id, &v) == 0 && v > 0) {
            out->cmd = TK_WX_CMD_BOOK;
            out->arg = TK_WX_CMD_ARG_ID;
            out->activity_id = v;
        }
    }
}

void
tk_wx_cmd_parse(const struct tk_wx_msg *msg, struct tk_wx_command *out)
{
    if (strcmp(msg->msg_type, "text") == 0) {
        tk_wx_cmd_parse_text(msg->content, strlen(msg->content), out);
        return;
    }
    memset(out, 0, sizeof(*out));
    out->cmd = TK_WX_CMD_IGNORE;
    out->source = TK_WX_CMD_FROM_EVENT;
    if (strcmp(msg->msg_type, "event") != 0) {
        return;
    }
    /* Event names as WeChat sends them (case-sensitive, mixed styles). */
    if (strcmp(msg->event, "subscribe") == 0 ||
        strcmp(msg->event, "SCAN") == 0) {
        out->cmd = TK_WX_CMD_HELP;
    } else if (strcmp(msg->event, "unsubscribe") == 0) {
        out->cmd = TK_WX_CMD_UNSUBSCRIBE;
    } else if (strcmp(msg->event, "CLICK") == 0) {
        tk_wx_cmd_parse_click(msg->event_key, out);
    }
}

const char *
tk_wx_cmd_name(enum tk_wx_cmd cmd)
{
    static const char *const names[] = {
        [TK_WX_CMD_IGNORE] = "ignore",
        [TK_WX_CMD_UNKNOWN] = "unknown",
        [TK_WX_CMD_HELP] = "help",
        [TK_WX_CMD_BIND] = "bind",
        [TK_WX_CMD_UNBIND] = "unbind",
        [TK_WX_CMD_UNSUBSCRIBE] = "unsubscribe",
        [TK_WX_CMD_BOOK_WHAT] = "book_what",
        [TK_WX_CMD_BOOK] = "book",
        [TK_WX_CMD_REFUND] = "refund",
        [TK_WX_CMD_TAKE] = "take",
        [TK_WX_CMD_TICKETS] = "tickets",
        [TK_WX_CMD_BOOKING_EMPTY] = "booking_empty",
    };

    if ((unsigned)cmd < TK_ARRAY_SIZE(names)) {
        return names[cmd];
    }
    return "invalid";
}
