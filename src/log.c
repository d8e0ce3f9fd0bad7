#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static enum tk_log_level log_level = TK_LOG_INFO;
static const char *log_ident = "ticketd";
static bool log_plain;

void
tk_log_set_level(enum tk_log_level level)
{
    log_level = level;
}

enum tk_log_level
tk_log_get_level(void)
{
    return log_level;
}

int
tk_log_level_from_name(const char *name)
{
    static const struct {
        const char *name;
        enum tk_log_level level;
    } names[] = {
        {"err", TK_LOG_ERR},   {"error", TK_LOG_ERR},
        {"warning", TK_LOG_WARNING}, {"notice", TK_LOG_NOTICE},
        {"info", TK_LOG_INFO}, {"debug", TK_LOG_DEBUG},
    };

    for (size_t i = 0; i < TK_ARRAY_SIZE(names); i++) {
        if (strcmp(names[i].name, name) == 0) {
            return (int)names[i].level;
        }
    }
    return -1;
}

void
tk_log_set_ident(const char *ident)
{
    log_ident = ident;
}

void
tk_log_set_plain(bool plain)
{
    log_plain = plain;
}

void
tk_log(enum tk_log_level level, const char *fmt, ...)
{
    char line[2048];
    size_t n;
    va_list ap;

    if (level > log_level) {
        return;
    }
    if (log_plain) {
        n = (size_t)snprintf(line, sizeof(line), "%s: ", log_ident);
    } else {
        n = (size_t)snprintf(line, sizeof(line), "<%d>%s[%ld]: ", (int)level,
                             log_ident, (long)getpid());
    }
    va_start(ap, fmt);
    if (n < sizeof(line)) {
        vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    }
    va_end(ap);
    n = strlen(line);
    /* One write per line so lines from many threads do not interleave. */
    if (n >= sizeof(line) - 1) {
        n = sizeof(line) - 2;
    }
    line[n++] = '\n';
    (void)!write(STDERR_FILENO, line, n);
}
