/* Unit tests for the hardened WeChat XML parser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "xml.h"

static struct tk_arena arena;
static struct tk_wx_msg msg;

static int
setup(void **state)
{
    (void)state;
    tk_arena_init(&arena, 16384);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    tk_arena_release(&arena);
    return 0;
}

static int
parse(const char *s)
{
    return tk_xml_parse(s, strlen(s), &msg, &arena);
}

static void
test_text_message(void **state)
{
    (void)state;
    assert_int_equal(
        parse("<xml>\n<ToUserName><![CDATA[toUser]]></ToUserName>\n"
              "<FromUserName><![CDATA[fromUser]]></FromUserName>\n"
              "<CreateTime>1348831860</CreateTime>\n"
              "<MsgType><![CDATA[text]]></MsgType>\n"
              "<Content><![CDATA[this is a test]]></Content>\n"
              "<MsgId>1234567890123456</MsgId>\n"
              "<MsgDataId>1234</MsgDataId>\n<Idx>1</Idx>\n</xml>"),
        TK_XML_OK);
    assert_string_equal(msg.to_user, "toUser");
    assert_string_equal(msg.from_user, "fromUser");
    assert_int_equal(msg.create_time, 1348831860);
    assert_string_equal(msg.create_time_str, "1348831860");
    assert_string_equal(msg.msg_type, "text");
    assert_string_equal(msg.content, "this is a test");
    assert_string_equal(msg.msg_id, "1234567890123456");
    assert_null(msg.encrypt);
    assert_string_equal(msg.event, "");
}

static void
test_plain_text_any_order_and_entities(void **state)
{
    (void)state;
    /* Plain text instead of CDATA, another order, predefined and numeric
     * character references, a UTF-8 BOM-less declaration. */
    assert_int_equal(parse("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                           "<xml><MsgId>42</MsgId><Content>a &amp; b &lt;c&gt;"
                           " &#x4E2D;</Content><MsgType>text</MsgType>"
                           "<FromUserName>u</FromUserName>"
                           "<CreateTime> 7 </CreateTime></xml>"),
                     TK_XML_OK);
    assert_string_equal(msg.content, "a & b <c> 中");
    assert_string_equal(msg.msg_id, "42");
    assert_int_equal(msg.create_time, 7);
    assert_string_equal(msg.create_time_str, "7");
    /* Mixed CDATA and text in one field concatenate. */
    assert_int_equal(parse("<xml><Content>a<![CDATA[<b>]]>c</Content></xml>"),
                     TK_XML_OK);
    assert_string_equal(msg.content, "a<b>c");
    /* Text is kept as sent: no trimming. */
    assert_int_equal(parse("<xml><Content>  x \n</Content></xml>"),
                     TK_XML_OK);
    assert_string_equal(msg.content, "  x \n");
}

static void
test_events_and_nested_ignored(void **state)
{
    (void)state;
    assert_int_equal(
        parse("<xml><ToUserName><![CDATA[gh_e136c6e50636]]></ToUserName>\n"
              "<FromUserName><![CDATA[oMgHVjngRipVsoxg6TuX3vz6glDg]]>"
              "</FromUserName>\n<CreateTime>1408090606</CreateTime>\n"
              "<MsgType><![CDATA[event]]></MsgType>\n"
              "<Event><![CDATA[scancode_waitmsg]]></Event>\n"
              "<EventKey><![CDATA[6]]></EventKey>\n"
              "<ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>\n"
              "<ScanResult><![CDATA[2]]></ScanResult>\n"
              "<Content>nested, ignored</Content>\n"
              "</ScanCodeInfo>\n</xml>"),
        TK_XML_OK);
    assert_string_equal(msg.event, "scancode_waitmsg");
    assert_string_equal(msg.event_key, "6");
    assert_string_equal(msg.content, "");
    /* Template job event: MsgID with a capital D. */
    assert_int_equal(
        parse("<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>"
              "<FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]>"
              "</FromUserName><CreateTime>1395658920</CreateTime>"
              "<MsgType><![CDATA[event]]></MsgType>"
              "<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>"
              "<MsgID>200163836</MsgID>"
              "<Status><![CDATA[success]]></Status></xml>"),
        TK_XML_OK);
    assert_string_equal(msg.msg_id, "200163836");
    /* QR scan by a new follower. */
    assert_int_equal(
        parse("<xml><MsgType><![CDATA[event]]></MsgType>"
              "<Event><![CDATA[subscribe]]></Event>"
              "<EventKey><![CDATA[qrscene_123123]]></EventKey>"
              "<Ticket><![CDATA[TICKET]]></Ticket></xml>"),
        TK_XML_OK);
    assert_string_equal(msg.ticket, "TICKET");
    /* Attributes are ignored. */
    assert_int_equal(parse("<xml a=\"1\"><Event x='y'>VIEW</Event></xml>"),
                     TK_XML_OK);
    assert_string_equal(msg.event, "VIEW");
}

static void
test_encrypt_into_arena(void **state)
{
    (void)state;
    assert_int_equal(parse("<xml>\n <ToUserName><![CDATA[gh_1]]></ToUserNam"
                           "e>\n <Encrypt><![CDATA[abc+/=]]></Encrypt>\n"
                           "</xml>"),
                     TK_XML_OK);
    assert_non_null(msg.encrypt);
    assert_int_equal(msg.encrypt_len, 6);
    assert_string_equal(msg.encrypt, "abc+/=");
    /* An empty Encrypt is present but empty. */
    assert_int_equal(parse("<xml><Encrypt></Encrypt></xml>"), TK_XML_OK);
    assert_non_null(msg.encrypt);
    assert_int_equal(msg.encrypt_len, 0);
}

static void
test_dtd_refused(void **state)
{
    (void)state;
    assert_int_equal(parse("<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY x"
                           " \"boom\">]><xml><Content>&x;</Content></xml>"),
                     TK_XML_DTD);
    assert_int_equal(parse("<!DOCTYPE xml SYSTEM \"file:///etc/passwd\">"
                           "<xml/>"),
                     TK_XML_DTD);
    assert_int_equal(parse("<xml><Content><![CDATA[<!ENTITY]]></Content>"
                           "</xml>"),
                     TK_XML_DTD);
    /* Found wherever it starts, after other '!'s and "<!"s. */
    assert_int_equal(parse("<!DOCTYPE x><xml/>"), TK_XML_DTD);
    assert_int_equal(parse("<xml><Content><![CDATA[!!<!]]></Content>"
                           "</xml><!DOCTYPE"),
                     TK_XML_DTD);
    assert_int_equal(parse("<xml><Content>!<!ENTITY</Content></xml>"),
                     TK_XML_DTD);
    /* Cut short, or without its "<", it is not one. */
    assert_int_equal(parse("<xml><Content><![CDATA[!DOCTYPE !ENTITY]]>"
                           "</Content></xml>"),
                     TK_XML_OK);
    assert_int_equal(parse("<xml><Content><![CDATA[抢票!]]></Content>"
                           "</xml>"),
                     TK_XML_OK);
    assert_int_equal(parse("<xml></xml><!DOCTYP"), TK_XML_SYNTAX);
    /* Undeclared entities are simply malformed. */
    assert_int_equal(parse("<xml><Content>&x;</Content></xml>"),
                     TK_XML_SYNTAX);
}

static void
test_garbage_and_empty(void **state)
{
    (void)state;
    assert_int_equal(tk_xml_parse("", 0, &msg, &arena), TK_XML_EMPTY);
    assert_int_equal(parse("garbage"), TK_XML_SYNTAX);
    assert_int_equal(parse("<xml><Content>x</xml>"), TK_XML_SYNTAX);
    assert_int_equal(parse("<xml><Content>x</Content>"), TK_XML_SYNTAX);
    assert_int_equal(parse("<xml></xml><xml></xml>"), TK_XML_SYNTAX);
    assert_int_equal(parse("<root><Content>x</Content></root>"),
                     TK_XML_SYNTAX);
    assert_int_equal(parse("{\"ToUserName\":\"gh\"}"), TK_XML_SYNTAX);
    assert_int_equal(tk_xml_parse("<xml>\0</xml>", 12, &msg, &arena),
                     TK_XML_SYNTAX);
    assert_string_equal(tk_xml_strerror(TK_XML_DTD),
                        "dtd or entity declaration");
}

static void
test_invalid_utf8(void **state)
{
    (void)state;
    assert_int_equal(parse("<xml><Content>\xff</Content></xml>"),
                     TK_XML_ENCODING);
    /* Overlong '/' and a UTF-16 surrogate. */
    assert_int_equal(parse("<xml><Content>\xc0\xaf</Content></xml>"),
                     TK_XML_ENCODING);
    assert_int_equal(parse("<xml><Content>\xed\xa0\x80</Content></xml>"),
                     TK_XML_ENCODING);
    /* A declared encoding does not switch us away from UTF-8. */
    assert_int_equal(parse("<?xml version=\"1.0\" encoding=\"GBK\"?>"
                           "<xml><Content>\xd6\xd0</Content></xml>"),
                     TK_XML_ENCODING);
}

static void
test_bounds(void **state)
{
    struct tk_buf b = TK_BUF_INIT;

    (void)state;
    /* A field exactly at its bound passes; one byte more fails. */
    tk_buf_adds(&b, "<xml><FromUserName>");
    for (int i = 0; i < TK_WX_USER_MAX; i++) {
        tk_buf_addc(&b, 'o');
    }
    tk_buf_adds(&b, "</FromUserName></xml>");
    assert_int_equal(tk_xml_parse(b.data, b.len, &msg, &arena), TK_XML_OK);
    assert_int_equal(strlen(msg.from_user), TK_WX_USER_MAX);
    tk_buf_reset(&b);
    tk_buf_adds(&b, "<xml><FromUserName><![CDATA[");
    for (int i = 0; i <= TK_WX_USER_MAX; i++) {
        tk_buf_addc(&b, 'o');
    }
    tk_buf_adds(&b, "]]></FromUserName></xml>");
    assert_int_equal(tk_xml_parse(b.data, b.len, &msg, &arena),
                     TK_XML_FIELD_LONG);
    /* Content over its bound, even in pieces (entities split text). */
    tk_buf_reset(&b);
    tk_buf_adds(&b, "<xml><Content>");
    for (int i = 0; i <= TK_WX_CONTENT_MAX / 3; i++) {
        tk_buf_adds(&b, "ab&amp;");
    }
    tk_buf_adds(&b, "</Content></xml>");
    assert_int_equal(tk_xml_parse(b.data, b.len, &msg, &arena),
                     TK_XML_FIELD_LONG);
    /* The whole document. */
    tk_buf_reset(&b);
    tk_buf_adds(&b, "<xml>");
    while (b.len <= TK_XML_INPUT_MAX) {
        tk_buf_adds(&b, "<Pad>pppppppppppppppppppppppppppp</Pad>");
    }
    tk_buf_adds(&b, "</xml>");
    assert_int_equal(tk_xml_parse(b.data, b.len, &msg, &arena),
                     TK_XML_TOO_LARGE);
    tk_buf_release(&b);
}

static void
test_bad_fields(void **state)
{
    (void)state;
    assert_int_equal(parse("<xml><CreateTime>12a</CreateTime></xml>"),
                     TK_XML_FIELD_BAD);
    assert_int_equal(parse("<xml><CreateTime>-5</CreateTime></xml>"),
                     TK_XML_FIELD_BAD);
    assert_int_equal(parse("<xml><CreateTime></CreateTime></xml>"),
                     TK_XML_FIELD_BAD);
    assert_int_equal(parse("<xml><CreateTime>99999999999999999999</CreateTim"
                           "e></xml>"),
                     TK_XML_FIELD_BAD);
    /* A field twice: which one was signed? Refused. */
    assert_int_equal(parse("<xml><Encrypt>a</Encrypt><Encrypt>b</Encrypt>"
                           "</xml>"),
                     TK_XML_FIELD_BAD);
    assert_int_equal(parse("<xml><MsgId>1</MsgId><MsgID>2</MsgID></xml>"),
                     TK_XML_FIELD_BAD);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_message),
        cmocka_unit_test(test_plain_text_any_order_and_entities),
        cmocka_unit_test(test_events_and_nested_ignored),
        cmocka_unit_test(test_encrypt_into_arena),
        cmocka_unit_test(test_dtd_refused),
        cmocka_unit_test(test_garbage_and_empty),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_bad_fields),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
