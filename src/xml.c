#include "xml.h"

#include <errno.h>
#include <expat.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "crypto.h"
#include "log.h"
#include "util.h"

enum field {
    F_TO,
    F_FROM,
    F_CTIME,
    F_TYPE,
    F_CONTENT,
    F_MSGID,
    F_EVENT,
    F_EVENT_KEY,
    F_TICKET,
    F_ENCRYPT,
};

static const struct {
    const char *name;
    enum field field;
} fields[] = {
    {"Content", F_CONTENT},
    {"CreateTime", F_CTIME},
    {"Encrypt", F_ENCRYPT},
    {"Event", F_EVENT},
    {"EventKey", F_EVENT_KEY},
    {"FromUserName", F_FROM},
    {"MsgID", F_MSGID},
    {"MsgId", F_MSGID},
    {"MsgType", F_TYPE},
    {"Ticket", F_TICKET},
    {"ToUserName", F_TO},
};

struct parse {
    XML_Parser p;
    struct tk_wx_msg *msg;
    struct tk_arena *arena;
    size_t input_len;
    int depth;
    int err;
    unsigned seen;      /* bit per enum field */
    int cur;            /* enum field being collected, or -1 */
    char *dst;          /* its buffer: cap bytes plus the NUL */
    size_t len;
    size_t cap;
};

static void
fail(struct parse *st, int err)
{
    if (st->err == 0) {
        st->err = err;
        XML_StopParser(st->p, XML_FALSE);
    }
}

static int
field_of(const char *name)
{
    for (size_t i = 0; i < TK_ARRAY_SIZE(fields); i++) {
        if (strcmp(fields[i].name, name) == 0) {
            return (int)fields[i].field;
        }
    }
    return -1;
}

static void
begin_field(struct parse *st, int f)
{
    struct tk_wx_msg *m = st->msg;

    if (st->seen & (1u << f)) {
        /* Two Encrypts (or two MsgIds) would leave it open which one the
         * signature covered: refuse rather than pick. */
        fail(st, TK_XML_FIELD_BAD);
        return;
    }
    st->seen |= 1u << f;
    st->cur = f;
    st->len = 0;
    switch ((enum field)f) {
    case F_TO:
        st->dst = m->to_user, st->cap = sizeof(m->to_user) - 1;
        break;
    case F_FROM:
        st->dst = m->from_user, st->cap = sizeof(m->from_user) - 1;
        break;
    case F_CTIME:
        st->dst = m->create_time_str;
        st->cap = sizeof(m->create_time_str) - 1;
        break;
    case F_TYPE:
        st->dst = m->msg_type, st->cap = sizeof(m->msg_type) - 1;
        break;
    case F_CONTENT:
        st->dst = m->content, st->cap = sizeof(m->content) - 1;
        break;
    case F_MSGID:
        st->dst = m->msg_id, st->cap = sizeof(m->msg_id) - 1;
        break;
    case F_EVENT:
        st->dst = m->event, st->cap = sizeof(m->event) - 1;
        break;
    case F_EVENT_KEY:
        st->dst = m->event_key, st->cap = sizeof(m->event_key) - 1;
        break;
    case F_TICKET:
        st->dst = m->ticket, st->cap = sizeof(m->ticket) - 1;
        break;
    case F_ENCRYPT:
        /* Text is never longer than the document it comes from. */
        st->dst = tk_arena_alloc(st->arena, st->input_len + 1);
        st->cap = st->input_len;
        break;
    }
}

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void
end_field(struct parse *st)
{
    struct tk_wx_msg *m = st->msg;

    st->dst[st->len] = '\0';
    if (st->cur == F_ENCRYPT) {
        m->encrypt = st->dst;
        m->encrypt_len = st->len;
    } else if (st->cur == F_CTIME) {
        char *s = m->create_time_str;
        size_t n = st->len, b = 0;

        while (n > 0 && is_space(s[n - 1])) {
            s[--n] = '\0';
        }
        while (b < n && is_space(s[b])) {
            b++;
        }
        memmove(s, s + b, n - b + 1);
        if (s[0] < '0' || s[0] > '9' ||
            tk_parse_i64(s, &m->create_time) < 0) {
            fail(st, TK_XML_FIELD_BAD);
        }
    }
    st->cur = -1;
}

static void XMLCALL
on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    struct parse *st = ud;

    (void)attrs;
    if (st->err != 0) {
        return;
    }
    st->depth++;
    if (st->depth == 1) {
        if (strcmp(name, "xml") != 0) {
            fail(st, TK_XML_SYNTAX);
        }
    } else if (st->depth == 2) {
        int f = field_of(name);

        if (f >= 0) {
            begin_field(st, f);
        }
    }
}

static void XMLCALL
on_end(void *ud, const XML_Char *name)
{
    struct parse *st = ud;

    (void)name;
    if (st->err != 0) {
        return;
    }
    if (st->depth == 2 && st->cur >= 0) {
        end_field(st);
    }
    st->depth--;
}

static void XMLCALL
on_text(void *ud, const XML_Char *s, int n)
{
    struct parse *st = ud;

    /* Only the direct text of a known child of the root counts; text in
     * nested containers is ignored. */
    if (st->err != 0 || st->depth != 2 || st->cur < 0 || n <= 0) {
        return;
    }
    if ((size_t)n > st->cap - st->len) {
        fail(st, TK_XML_FIELD_LONG);
        return;
    }
    memcpy(st->dst + st->len, s, (size_t)n);
    st->len += (size_t)n;
}

static void XMLCALL
on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
           const XML_Char *pubid, int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    fail(ud, TK_XML_DTD);
}

static void XMLCALL
on_entity(void *ud, const XML_Char *name, int is_param,
          const XML_Char *value, int value_len, const XML_Char *base,
          const XML_Char *sysid, const XML_Char *pubid,
          const XML_Char *notation)
{
    (void)name, (void)is_param, (void)value, (void)value_len, (void)base;
    (void)sysid, (void)pubid, (void)notation;
    fail(ud, TK_XML_DTD);
}

/*
 * One parser per thread, reset between documents: XML_ParserReset keeps
 * its memory, so the request path does not allocate here after warm-up.
 * Worker threads live as long as the process.
 */
static XML_Parser
thread_parser(void)
{
    static _Thread_local XML_Parser p;
    static _Thread_local unsigned long salt;

    if (p != NULL && XML_ParserReset(p, "UTF-8") != XML_TRUE) {
        XML_ParserFree(p);
        p = NULL;
    }
    if (p == NULL) {
        /* The encoding given here overrides any declaration in the
         * document: WeChat sends UTF-8 and nothing else is accepted. */
        p = XML_ParserCreate("UTF-8");
        if (p == NULL) {
            tk_err("xml: cannot create a parser");
            abort();
        }
        tk_random_bytes(&salt, sizeof(salt));
    }
    /* Expat would otherwise draw a fresh hash salt (a getrandom system
     * call) for every document; one secret salt per thread is enough
     * against hash flooding. */
    XML_SetHashSalt(p, salt);
    return p;
}

/* Empties every field without writing the whole (10 KiB) struct. */
static void
clear(struct tk_wx_msg *m)
{
    m->to_user[0] = m->from_user[0] = m->create_time_str[0] = '\0';
    m->msg_type[0] = m->content[0] = m->msg_id[0] = '\0';
    m->event[0] = m->event_key[0] = m->ticket[0] = '\0';
    m->create_time = 0;
    m->encrypt = NULL;
    m->encrypt_len = 0;
}

/*
 * Belt and braces with the handlers: no DTD ever reaches expat, so no
 * entity can be declared, expanded or fetched. One pass over the '!'s
 * (memchr, which is vectorised where memmem's two-byte search is not):
 * each "<!" starts a CDATA section, a comment or a declaration.
 */
static bool
has_declaration(const char *s, size_t n)
{
    const char *end = s + n, *p = s;

    while ((p = memchr(p, '!', (size_t)(end - p))) != NULL) {
        size_t left = (size_t)(end - p);

        if (p > s && p[-1] == '<' &&
            ((left >= 8 && memcmp(p, "!DOCTYPE", 8) == 0) ||
             (left >= 7 && memcmp(p, "!ENTITY", 7) == 0))) {
            return true;
        }
        p++;
    }
    return false;
}

int
tk_xml_parse(const char *xml, size_t len, struct tk_wx_msg *msg,
             struct tk_arena *arena)
{
    struct parse st = {.msg = msg, .arena = arena, .input_len = len,
                       .cur = -1};

    clear(msg);
    if (len == 0) {
        return TK_XML_EMPTY;
    }
    if (len > TK_XML_INPUT_MAX) {
        return TK_XML_TOO_LARGE;
    }
    if (!tk_utf8_is_valid(xml, len)) {
        return TK_XML_ENCODING;
    }
    if (has_declaration(xml, len)) {
        return TK_XML_DTD;
    }
    st.p = thread_parser();
    XML_SetUserData(st.p, &st);
    XML_SetElementHandler(st.p, on_start, on_end);
    XML_SetCharacterDataHandler(st.p, on_text);
    XML_SetStartDoctypeDeclHandler(st.p, on_doctype);
    XML_SetEntityDeclHandler(st.p, on_entity);
    XML_SetParamEntityParsing(st.p, XML_PARAM_ENTITY_PARSING_NEVER);
    if (XML_Parse(st.p, xml, (int)len, XML_TRUE) != XML_STATUS_OK &&
        st.err == 0) {
        st.err = TK_XML_SYNTAX;
    }
    return st.err;
}

const char *
tk_xml_strerror(int rc)
{
    switch (rc) {
    case TK_XML_OK:
        return "ok";
    case TK_XML_EMPTY:
        return "empty document";
    case TK_XML_TOO_LARGE:
        return "document too large";
    case TK_XML_ENCODING:
        return "invalid utf-8";
    case TK_XML_DTD:
        return "dtd or entity declaration";
    case TK_XML_SYNTAX:
        return "malformed xml";
    case TK_XML_FIELD_LONG:
        return "field too long";
    case TK_XML_FIELD_BAD:
        return "invalid or repeated field";
    default:
        return "unknown error";
    }
}
