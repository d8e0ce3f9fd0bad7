/*
 * Logging to stderr with sd-daemon "<N>" priority prefixes, so journald
 * keeps the level. Never pass a secret to these functions.
 */
#ifndef TK_LOG_H
#define TK_LOG_H

#include <stdbool.h>

#include "util.h"

enum tk_log_level {
    TK_LOG_ERR = 3,
    TK_LOG_WARNING = 4,
    TK_LOG_NOTICE = 5,
    TK_LOG_INFO = 6,
    TK_LOG_DEBUG = 7,
};

/* Messages above this level are dropped. Default TK_LOG_INFO. */
void tk_log_set_level(enum tk_log_level level);
enum tk_log_level tk_log_get_level(void);
/* "err", "warning", "notice", "info", "debug" -> level; -1 if unknown. */
int tk_log_level_from_name(const char *name);
/* Program name shown after the prefix ("ticketd[pid]: ..."). */
void tk_log_set_ident(const char *ident);
/* Omit the "<N>" prefix, for interactive use of ticketctl. */
void tk_log_set_plain(bool plain);

void tk_log(enum tk_log_level level, const char *fmt, ...) TK_PRINTF(2, 3);

#define tk_err(...) tk_log(TK_LOG_ERR, __VA_ARGS__)
#define tk_warn(...) tk_log(TK_LOG_WARNING, __VA_ARGS__)
#define tk_notice(...) tk_log(TK_LOG_NOTICE, __VA_ARGS__)
#define tk_info(...) tk_log(TK_LOG_INFO, __VA_ARGS__)
#define tk_debug(...)                                                         \
    do {                                                                      \
        if (tk_log_get_level() >= TK_LOG_DEBUG) {                             \
            tk_log(TK_LOG_DEBUG, __VA_ARGS__);                                \
        }                                                                     \
    } while (0)

#endif
