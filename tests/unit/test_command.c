/* Unit tests for command parsing and the reply text table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "buf.h"
#include "command.h"
#include "texts.h"
#include "util.h"

static struct tk_wx_command c;

static void
text(const char *s)
{
    tk_wx_cmd_parse_text(s, strlen(s), &c);
    assert_int_equal(c.source, TK_WX_CMD_FROM_TEXT);
}

static void
test_simple_commands(void **state)
{
    (void)state;
    text("帮助");
    assert_int_equal(c.cmd, TK_WX_CMD_HELP);
    text("help");
    assert_int_equal(c.cmd, TK_WX_CMD_HELP);
    text("HeLP");
    assert_int_equal(c.cmd, TK_WX_CMD_HELP);
    text("绑定");
    assert_int_equal(c.cmd, TK_WX_CMD_BIND);
    text("解绑");
    assert_int_equal(c.cmd, TK_WX_CMD_UNBIND);
    text("抢啥");
    assert_int_equal(c.cmd, TK_WX_CMD_BOOK_WHAT);
    text("查票");
    assert_int_equal(c.cmd, TK_WX_CMD_TICKETS);
    assert_int_equal(c.arg, TK_WX_CMD_ARG_NONE);
}

static void
test_white_space(void **state)
{
    (void)state;
    /* Surrounding ASCII and full-width (U+3000) white space. */
    text("  \t帮助\r\n");
    assert_int_equal(c.cmd, TK_WX_CMD_HELP);
    text("\xe3\x80\x80查票\xe3\x80\x80 ");
    assert_int_equal(c.cmd, TK_WX_CMD_TICKETS);
    /* Separator: any run of half- and full-width spaces. */
    text("抢票 concert2026");
    assert_int_equal(c.cmd, TK_WX_CMD_BOOK);
    assert_int_equal(c.arg, TK_WX_CMD_ARG_KEY);
    assert_string_equal(c.key, "concert2026");
    text("抢票\xe3\x80\x80" "concert2026");
    assert_string_equal(c.key, "concert2026");
    text(" 退票 \xe3\x80\x80\t  concert2026\xe3\x80\x80 ");
    assert_int_equal(c.cmd, TK_WX_CMD_REFUND);
    assert_string_equal(c.key, "concert2026");
    text("取票\xc2\xa0k");
    assert_int_equal(c.cmd, TK_WX_CMD_TAKE);
    assert_string_equal(c.key, "k");
    /* Chinese keys are fine. */
    text("抢票 新年音乐会");
    assert_string_equal(c.key, "新年音乐会");
}

static void
test_missing_and_long_key(void **state)
{
    char buf[TK_KEY_MAX + 16];

    (void)state;
    text("抢票");
    assert_int_equal(c.cmd, TK_WX_CMD_BOOK);
    assert_int_equal(c.arg, TK_WX_CMD_ARG_NONE);
    assert_string_equal(c.key, "");
    text("退票\xe3\x80\x80 ");
    assert_int_equal(c.cmd, TK_WX_CMD_REFUND);
    assert_int_equal(c.arg, TK_WX_CMD_ARG_NONE);
    /* Exactly TK_KEY_MAX bytes is a key; one more is "too long". */
    memcpy(buf, "抢票 ", 7);
    memset(buf + 7, 'k', TK_KEY_MAX);
    buf[7 + TK_KEY_MAX] = '\0';
    text(buf);
    assert_int_equal(c.arg, TK_WX_CMD_ARG_KEY);
    assert_int_equal(strlen(c.key), TK_KEY_MAX);
    buf[7 + TK_KEY_MAX] = 'k';
    buf[8 + TK_KEY_MAX] = '\0';
    text(buf);
    assert_int_equal(c.cmd, TK_WX_CMD_BOOK);
    assert_int_equal(c.arg, TK_WX_CMD_ARG_TOO_LONG);
    assert_string_equal(c.key, "");
}

static void
test_unknown(void **state)
{
    (void)state;
    text("");
    assert_int_equal(c.cmd, TK_WX_CMD_UNKNOWN);
    text("   ");
    assert_int_equal(c.cmd, TK_WX_CMD_UNKNOWN);
    text("hello");
    assert_int_equal(c.cmd, TK_WX_CMD_UNKNOWN);
    text("抢票concert"); /* no separator */
    assert_int_equal(c.cmd, TK_WX_CMD_UNKNOWN);
    text("帮助 我");  /* no argument taken */
    assert_int_equal(c.cmd, TK_WX_CMD_UNKNOWN);
    text("help me");
    assert_int_equal(c.cmd, TK_WX_CMD_UNKNOWN);
    text("helpme");
    assert_int_equal(c.cmd, TK_WX_CMD_UNKNOWN);
    text("抢");
    assert_int_equal(c.cmd, TK_WX_CMD_UNKNOWN);
}

static void
event(const char *type, const char *ev, const char *key)
{
    struct tk_wx_msg m;

    memset(&m, 0, sizeof(m));
    tk_strlcpy(m.msg_type, type, sizeof(m.msg_type));
    tk_strlcpy(m.event, ev, sizeof(m.event));
    tk_strlcpy(m.event_key, key, sizeof(m.event_key));
    tk_wx_cmd_parse(&m, &c);
}

static void
test_events(void **state)
{
    struct tk_wx_msg m;

    (void)state;
    event("event", "subscribe", "");
    assert_int_equal(c.cmd, TK_WX_CMD_HELP);
    assert_int_equal(c.source, TK_WX_CMD_FROM_EVENT);
    event("event", "subscribe", "qrscene_123");
    assert_int_equal(c.cmd, TK_WX_CMD_HELP);
    event("event", "SCAN", "123");
    assert_int_equal(c.cmd, TK_WX_CMD_HELP);
    event("event", "unsubscribe", "");
    assert_int_equal(c.cmd, TK_WX_CMD_UNSUBSCRIBE);
    event("event", "CLICK", "SERVICE_HELP");
    assert_int_equal(c.cmd, TK_WX_CMD_HELP);
    event("event", "CLICK", "SERVICE_BIND");
    assert_int_equal(c.cmd, TK_WX_CMD_BIND);
    event("event", "CLICK", "SERVICE_BOOK_WHAT");
    assert_int_equal(c.cmd, TK_WX_CMD_BOOK_WHAT);
    assert_int_equal(c.source, TK_WX_CMD_FROM_EVENT);
    event("event", "CLICK", "SERVICE_GET_TICKET");
    assert_int_equal(c.cmd, TK_WX_CMD_TICKETS);
    event("event", "CLICK", "BOOKING_EMPTY");
    assert_int_equal(c.cmd, TK_WX_CMD_BOOKING_EMPTY);
    event("event", "CLICK", "BOOKING_ACTIVITY_42");
    assert_int_equal(c.cmd, TK_WX_CMD_BOOK);
    assert_int_equal(c.arg, TK_WX_CMD_ARG_ID);
    assert_int_equal(c.activity_id, 42);
    event("event", "CLICK", "BOOKING_ACTIVITY_9223372036854775807");
    assert_int_equal(c.activity_id, INT64_MAX);
    /* Ids must be positive int64 in plain digits. */
    static const char *const bad[] = {
        "BOOKING_ACTIVITY_", "BOOKING_ACTIVITY_0", "BOOKING_ACTIVITY_-1",
        "BOOKING_ACTIVITY_+1", "BOOKING_ACTIVITY_01", "BOOKING_ACTIVITY_1x",
        "BOOKING_ACTIVITY_ 1", "BOOKING_ACTIVITY_9223372036854775808",
        "SERVICE_NOPE",
    };
    for (size_t i = 0; i < TK_ARRAY_SIZE(bad); i++) {
        event("event", "CLICK", bad[i]);
        assert_int_equal(c.cmd, TK_WX_CMD_UNKNOWN);
        assert_int_equal(c.activity_id, 0);
    }
    /* Everything else is acknowledged with "success". */
    event("event", "VIEW", "https://example.edu");
    assert_int_equal(c.cmd, TK_WX_CMD_IGNORE);
    event("event", "TEMPLATESENDJOBFINISH", "");
    assert_int_equal(c.cmd, TK_WX_CMD_IGNORE);
    event("event", "click", "SERVICE_HELP");
    assert_int_equal(c.cmd, TK_WX_CMD_IGNORE);
    event("image", "", "");
    assert_int_equal(c.cmd, TK_WX_CMD_IGNORE);
    event("location", "", "");
    assert_int_equal(c.cmd, TK_WX_CMD_IGNORE);
    /* A text message goes through the text parser. */
    memset(&m, 0, sizeof(m));
    tk_strlcpy(m.msg_type, "text", sizeof(m.msg_type));
    tk_strlcpy(m.content, "取票 abc", sizeof(m.content));
    tk_wx_cmd_parse(&m, &c);
    assert_int_equal(c.cmd, TK_WX_CMD_TAKE);
    assert_int_equal(c.source, TK_WX_CMD_FROM_TEXT);
    assert_string_equal(c.key, "abc");
    assert_string_equal(tk_wx_cmd_name(TK_WX_CMD_BOOK), "book");
}

/* API.md key phrases, each of which must appear verbatim. */
static void
test_texts_key_phrases(void **state)
{
    static const struct {
        enum tk_text_id id;
        const char *phrase;
    } want[] = {
        {TK_TEXT_HELP_TITLE, "使用指南"},
        {TK_TEXT_HELP_DESC_UNBOUND, "回复“绑定”"},
        {TK_TEXT_BIND_FIRST, "请先绑定学号"},
        {TK_TEXT_ALREADY_BOUND, "您已经绑定了学号%s"},
        {TK_TEXT_UNBOUND, "学号绑定已经解除"},
        {TK_TEXT_NOTHING_OPEN, "现在没有可以抢票的活动"},
        {TK_TEXT_NEED_KEY, "请输入：抢票 活动代称"},
        {TK_TEXT_NO_ACTIVITY, "活动不存在"},
        {TK_TEXT_NOT_STARTED, "抢票尚未开始"},
        {TK_TEXT_ENDED, "抢票已经结束"},
        {TK_TEXT_ALREADY_HAVE, "您已经抢到票了"},
        {TK_TEXT_SOLD_OUT, "对不起，票已经被抢光啦"},
        {TK_TEXT_BOOK_OK, "抢票成功"},
        {TK_TEXT_BOOK_OK_TITLE, "抢票成功"},
        {TK_TEXT_BUSY, "系统繁忙，请稍后再试"},
        {TK_TEXT_NO_TICKET, "您没有该活动的票"},
        {TK_TEXT_TICKET_USED, "票已使用，无法退票"},
        {TK_TEXT_REFUND_STARTED, "活动已开始，无法退票"},
        {TK_TEXT_REFUND_OK, "退票成功"},
        {TK_TEXT_NO_TICKETS, "您还没有票"},
        {TK_TEXT_UNKNOWN, "对不起，没有找到您需要的信息"},
    };

    (void)state;
    for (size_t i = 0; i < TK_ARRAY_SIZE(want); i++) {
        assert_non_null(strstr(tk_text(want[i].id), want[i].phrase));
    }
    /* Every entry is filled, short, valid UTF-8, and has no "%" other
     * than "%s" placeholders. */
    for (int id = 0; id < TK_TEXT_COUNT; id++) {
        const char *s = tk_text((enum tk_text_id)id);

        assert_true(strlen(s) > 0);
        assert_true(strlen(s) < 600);
        assert_true(tk_utf8_is_valid(s, strlen(s)));
        for (const char *p = strchr(s, '%'); p; p = strchr(p + 2, '%')) {
            assert_int_equal(p[1], 's');
        }
    }
    assert_string_equal(tk_text(TK_TEXT_COUNT), "");
    assert_int_equal(tk_text_nargs(TK_TEXT_BOOK_OK), 2);
    assert_int_equal(tk_text_nargs(TK_TEXT_BUSY), 0);
}

static void
test_texts_render(void **state)
{
    struct tk_buf b = TK_BUF_INIT;

    (void)state;
    tk_text_render(&b, TK_TEXT_ALREADY_BOUND, TK_TEXT_ARGS("2020011234"));
    assert_non_null(strstr(b.data, "您已经绑定了学号2020011234"));
    tk_buf_reset(&b);
    /* A "%s" inside an argument is not expanded again. */
    tk_text_render(&b, TK_TEXT_BOOK_OK, TK_TEXT_ARGS("%s%n", "https://x/t"));
    assert_non_null(strstr(b.data, "活动：%s%n"));
    assert_non_null(strstr(b.data, "https://x/t"));
    tk_buf_reset(&b);
    /* Missing arguments render empty. */
    tk_text_render(&b, TK_TEXT_BOOK_OK, NULL, 0);
    assert_null(strstr(b.data, "%s"));
    assert_non_null(strstr(b.data, "抢票成功"));
    tk_buf_release(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_commands),
        cmocka_unit_test(test_white_space),
        cmocka_unit_test(test_missing_and_long_key),
        cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_texts_key_phrases),
        cmocka_unit_test(test_texts_render),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
