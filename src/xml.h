/*
 * The only user of expat: parses the flat <xml> messages WeChat pushes
 * (WECHAT.md section 2) into a struct of bounded fields. Hardened for
 * outside input: DOCTYPE and ENTITY declarations are refused, the input
 * must be valid UTF-8 of at most TK_XML_INPUT_MAX bytes, and every field
 * has a length bound (an over-long field is an error, never a truncation).
 * Element order does not matter; CDATA and plain text are both accepted;
 * unknown elements and nested containers (ScanCodeInfo...) are ignored.
 * Text is kept exactly as sent (no trimming), except that CreateTime must
 * be a decimal integer.
 */
#ifndef TK_XML_H
#define TK_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

struct tk_arena;

#define TK_XML_INPUT_MAX (64 * 1024) /* whole document, bytes */

#define TK_WX_USER_MAX TK_OPENID_MAX /* ToUserName, FromUserName */
#define TK_WX_TYPE_MAX 32            /* MsgType */
#define TK_WX_CONTENT_MAX 8192       /* Content: user text, bytes */
#define TK_WX_MSGID_MAX 32           /* MsgId / MsgID as sent */
#define TK_WX_EVENT_MAX 64           /* Event */
#define TK_WX_EVENT_KEY_MAX TK_URL_MAX /* EventKey (a URL for VIEW) */
#define TK_WX_TICKET_MAX 256         /* Ticket (QR code ticket) */

/*
 * One pushed message or event. Absent string fields are "", absent
 * numbers 0. Strings are NUL-terminated and may be copied freely, except
 * encrypt, which points into the arena given to tk_xml_parse.
 */
struct tk_wx_msg {
    char to_user[TK_WX_USER_MAX + 1];   /* ToUserName: the account */
    char from_user[TK_WX_USER_MAX + 1]; /* FromUserName: the user */
    int64_t create_time;                /* CreateTime, Unix seconds */
    char create_time_str[24];           /* CreateTime as sent */
    char msg_type[TK_WX_TYPE_MAX + 1];  /* MsgType */
    char content[TK_WX_CONTENT_MAX + 1]; /* Content (text messages) */
    char msg_id[TK_WX_MSGID_MAX + 1];   /* MsgId, or MsgID (template) */
    char event[TK_WX_EVENT_MAX + 1];    /* Event */
    char event_key[TK_WX_EVENT_KEY_MAX + 1]; /* EventKey */
    char ticket[TK_WX_TICKET_MAX + 1];  /* Ticket (QR scans) */
    const char *encrypt;                /* Encrypt; NULL when absent */
    size_t encrypt_len;
};

/* Parse failures, beyond 0 = success. */
enum tk_xml_error {
    TK_XML_OK = 0,
    TK_XML_EMPTY = -1,     /* no input */
    TK_XML_TOO_LARGE = -2, /* more than TK_XML_INPUT_MAX bytes */
    TK_XML_ENCODING = -3,  /* not valid UTF-8 */
    TK_XML_DTD = -4,       /* DOCTYPE or ENTITY declaration */
    TK_XML_SYNTAX = -5,    /* not well-formed, or the root is not <xml> */
    TK_XML_FIELD_LONG = -6, /* a field longer than its bound */
    TK_XML_FIELD_BAD = -7, /* a known field twice, or CreateTime not a
                            * number */
};

/*
 * Parses len bytes of xml into msg (zeroed first). The Encrypt text, when
 * present, is copied into arena (at most len bytes) and msg->encrypt
 * points at it; nothing else is allocated outside expat's parser. Returns
 * TK_XML_OK or a negative enum tk_xml_error; msg is then unspecified.
 * Logs nothing (the caller knows what the input was).
 */
int tk_xml_parse(const char *xml, size_t len, struct tk_wx_msg *msg,
                 struct tk_arena *arena);

/* A short lowercase name of a tk_xml_parse result, for log lines. */
const char *tk_xml_strerror(int rc);

#endif
