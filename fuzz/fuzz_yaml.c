/*
 * libFuzzer target: activity YAML files as `ticketctl activity create`
 * and `update` read them (tk_activity_doc_parse, then
 * tk_activity_doc_apply onto a new and onto a stored activity). Each
 * error is one "a.yaml:LINE:COLUMN: " line and the count returned is the
 * number of lines; an activity accepted without errors satisfies every
 * rule of API.md: bounded, NUL- and control-free UTF-8 strings, a key
 * without white space, end >= start, book_end >= book_start, tickets in
 * [0, INT_MAX].
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activity_yaml.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Checks the messages written: count lines, each "a.yaml:L:C: ...". */
static void
check_messages(const char *msgs, size_t len, int count)
{
    int lines = 0;

    for (const char *p = msgs; p < msgs + len; lines++) {
        const char *nl = memchr(p, '\n', (size_t)(msgs + len - p));
        unsigned line, column;
        int used = 0;

        if (nl == NULL ||
            sscanf(p, "a.yaml:%u:%u: %n", &line, &column, &used) != 2 ||
            used == 0 || line == 0 || column == 0 || p + used > nl) {
            abort();
        }
        p = nl + 1;
    }
    if (lines != count) {
        abort();
    }
}

static void
check_string(const char *s, size_t max, bool required, bool multiline)
{
    size_t len = strlen(s);

    if (len > max || (required && len == 0) || !tk_utf8_is_valid(s, len)) {
        abort();
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if ((c < 0x20 && !(multiline && (c == '\n' || c == '\t'))) ||
            c == 0x7f) {
            abort();
        }
    }
}

/* The rules for an activity that would be stored. */
static void
check_activity(const struct tk_activity *a)
{
    check_string(a->key, TK_KEY_MAX, true, false);
    check_string(a->name, TK_NAME_MAX, true, false);
    check_string(a->place, TK_PLACE_MAX, false, false);
    check_string(a->description, TK_DESC_MAX, false, true);
    check_string(a->pic_url, TK_URL_MAX, false, false);
    if (strpbrk(a->key, " \t\r\n") != NULL ||
        strstr(a->key, "\xe3\x80\x80") != NULL ||
        (a->pic_url[0] != '\0' && strncmp(a->pic_url, "http://", 7) != 0 &&
         strncmp(a->pic_url, "https://", 8) != 0) ||
        a->end_time < a->start_time || a->book_end < a->book_start ||
        a->total_tickets < 0 || a->total_tickets > 2147483647 ||
        (a->status != TK_ACT_SAVED && a->status != TK_ACT_PUBLISHED)) {
        abort();
    }
}

/* A stored activity, as create would have left it. */
static void
stored(struct tk_activity *a)
{
    memset(a, 0, sizeof(*a));
    a->id = 7;
    tk_strlcpy(a->key, "concert2026", sizeof(a->key));
    tk_strlcpy(a->name, "concert", sizeof(a->name));
    a->start_time = 1798714800;
    a->end_time = 1798723800;
    a->book_start = 1797739200;
    a->book_end = 1798603200;
    a->total_tickets = 1000;
    a->status = TK_ACT_PUBLISHED;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tk_activity_doc d;
    struct tk_activity a;
    char *msgs = NULL;
    size_t len = 0;
    FILE *err;
    int n, m, u;

    if (size > TK_ACTIVITY_YAML_MAX) {
        return 0;
    }
    err = open_memstream(&msgs, &len);
    if (err == NULL) {
        abort();
    }
    n = tk_activity_doc_parse(&d, "a.yaml", (const char *)data, size, err);
    if (n < 0) {
        abort();
    }
    /* create */
    a.id = 7;
    m = tk_activity_doc_apply(&d, &a, true, err);
    if (m < 0 || a.id != 7) {
        abort();
    }
    if (n == 0 && m == 0) {
        check_activity(&a);
    }
    /* update */
    stored(&a);
    u = tk_activity_doc_apply(&d, &a, false, err);
    if (u < 0 || a.id != 7) {
        abort();
    }
    if (n == 0 && u == 0) {
        check_activity(&a);
    }
    fflush(err);
    check_messages(msgs, len, n + m + u);
    fclose(err);
    free(msgs);
    return 0;
}
