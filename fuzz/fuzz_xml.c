/*
 * libFuzzer target: the hardened XML parser, then what a handler does
 * with a parsed message (command, dedupe key, text reply), checking that
 * the reply parses back to the same (truncated) content.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "command.h"
#include "util.h"
#include "wechat.h"
#include "xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct tk_wx_msg msg, back;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct tk_arena arena;
    static struct tk_buf out;
    struct tk_wx_command cmd;
    char key[TK_WX_DEDUPE_KEY_MAX + 1];
    size_t n, want;

    if (arena.chunk_size == 0) {
        tk_arena_init(&arena, 1 << 16);
    }
    tk_arena_reset(&arena);
    tk_buf_reset(&out);
    if (tk_xml_parse((const char *)data, size, &msg, &arena) != TK_XML_OK) {
        return 0;
    }
    if (msg.encrypt != NULL && strlen(msg.encrypt) > msg.encrypt_len) {
        abort();
    }
    tk_wx_cmd_parse(&msg, &cmd);
    if (cmd.arg == TK_WX_CMD_ARG_KEY && strlen(cmd.key) > TK_KEY_MAX) {
        abort();
    }
    n = tk_wx_dedupe_key(&msg, key);
    if (n != strlen(key) || n > TK_WX_DEDUPE_KEY_MAX ||
        strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789_-") != n) {
        abort();
    }
    /* The reply echoes user text: it must come back intact. */
    /* Content passed the document's UTF-8 check: a reply never fails. */
    if (tk_wx_reply_text(&out, &msg, msg.create_time, msg.content) != 0) {
        abort();
    }
    if (tk_xml_parse(out.data, out.len, &back, &arena) != TK_XML_OK) {
        abort();
    }
    want = tk_utf8_truncate(msg.content, strlen(msg.content),
                            TK_WX_CONTENT_REPLY_MAX);
    /* XML turns a CR (sent as &#xD;) into LF when the reply is read, even
     * inside CDATA: compare only CR-free text (see test_wechat). */
    if (memchr(msg.content, '\r', want) != NULL) {
        return 0;
    }
    if (strlen(back.content) != want ||
        memcmp(back.content, msg.content, want) != 0 ||
        strcmp(back.to_user, msg.from_user) != 0) {
        abort();
    }
    return 0;
}
