#include "keys.h"

#include <inttypes.h>
#include <stdio.h>

#define KEYF(buf, ...) ((size_t)snprintf(buf, TK_KEY_BUF, __VA_ARGS__))

size_t
tk_key_stock(char *buf, int64_t act)
{
    return KEYF(buf, "tk:{a:%" PRId64 "}:stock", act);
}

size_t
tk_key_holders(char *buf, int64_t act)
{
    return KEYF(buf, "tk:{a:%" PRId64 "}:holders", act);
}

size_t
tk_key_tickets(char *buf, int64_t act)
{
    return KEYF(buf, "tk:{a:%" PRId64 "}:tickets", act);
}

size_t
tk_key_events(char *buf, int64_t act)
{
    return KEYF(buf, "tk:{a:%" PRId64 "}:events", act);
}

size_t
tk_key_info(char *buf, int64_t act)
{
    return KEYF(buf, "tk:{a:%" PRId64 "}:info", act);
}

size_t
tk_key_dedupe(char *buf, int64_t act, const char *msgkey)
{
    return KEYF(buf, "tk:{a:%" PRId64 "}:dd:%.160s", act, msgkey);
}

size_t
tk_key_act_by_key(char *buf, const char *key)
{
    return KEYF(buf, "tk:act:key:%.64s", key);
}

size_t
tk_key_act_by_id(char *buf, int64_t act)
{
    return KEYF(buf, "tk:act:id:%" PRId64, act);
}

size_t
tk_key_act_open(char *buf)
{
    return KEYF(buf, "tk:act:open");
}

size_t
tk_key_binding(char *buf, const char *openid)
{
    return KEYF(buf, "tk:bind:%.64s", openid);
}

size_t
tk_key_my_tickets(char *buf, const char *student_id)
{
    return KEYF(buf, "tk:mytix:%.32s", student_id);
}

size_t
tk_key_lock(char *buf, const char *key)
{
    return KEYF(buf, "tk:lock:%.200s", key);
}

size_t
tk_key_reply(char *buf, const char *msgkey)
{
    return KEYF(buf, "tk:reply:%.200s", msgkey);
}

size_t
tk_key_session(char *buf, const char *token)
{
    return KEYF(buf, "tk:sess:%.128s", token);
}

size_t
tk_key_login_fail(char *buf, const char *who)
{
    return KEYF(buf, "tk:login:fail:%.128s", who);
}
