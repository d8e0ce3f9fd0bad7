/*
 * libFuzzer target: roster CSV files as `ticketctl user import` reads
 * them (tk_roster_open and tk_roster_next over a stream) and as
 * `user check` does (tk_roster_check). Every row accepted is a valid
 * roster entry (bounded, NUL- and control-free UTF-8, ids of the allowed
 * characters, lines increasing); each message is one "r.csv:L:C: " line;
 * the check counts the same records and finds errors exactly when the
 * reader did, or when ids repeat.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "roster_csv.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The number of message lines, each "r.csv:L:C: ...". */
static int
message_lines(const char *msgs, size_t len)
{
    int lines = 0;

    for (const char *p = msgs; p < msgs + len; lines++) {
        const char *nl = memchr(p, '\n', (size_t)(msgs + len - p));
        unsigned line, column;
        int used = 0;

        if (nl == NULL ||
            sscanf(p, "r.csv:%u:%u: %n", &line, &column, &used) != 2 ||
            used == 0 || line == 0 || column == 0 || p + used > nl) {
            abort();
        }
        p = nl + 1;
    }
    return lines;
}

static void
check_string(const char *s, size_t max, bool may_be_empty)
{
    size_t len = strlen(s);

    if (len > max || (len == 0 && !may_be_empty) ||
        !tk_utf8_is_valid(s, len)) {
        abort();
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            abort();
        }
    }
}

static void
check_id(const char *s, bool dot)
{
    for (; *s != '\0'; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' ||
              (dot && *s == '.'))) {
            abort();
        }
    }
}

static FILE *
open_input(const uint8_t *data, size_t size)
{
    /* fmemopen wants a non-empty buffer; an empty file reads the same. */
    FILE *f = size > 0 ? fmemopen((void *)data, size, "r")
                       : fopen("/dev/null", "r");

    if (f == NULL) {
        abort();
    }
    return f;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tk_roster r;
    struct tk_roster_row row;
    char *msgs = NULL;
    size_t len = 0, records = 0, rows;
    unsigned last_line = 1;
    FILE *f = open_input(data, size), *err = open_memstream(&msgs, &len);
    int opened, rc, bad = 0, lines, count;

    if (err == NULL) {
        abort();
    }
    opened = tk_roster_open(&r, "r.csv", f, err);
    if (opened < 0) {
        abort();
    }
    while (opened == 0 && (rc = tk_roster_next(&r, &row)) != 0) {
        records++;
        if (rc == -EINVAL) {
            bad++;
            continue;
        }
        if (rc != 1 || row.line <= last_line) {
            abort();
        }
        last_line = row.line;
        check_string(row.student_id, TK_SID_MAX, false);
        check_id(row.student_id, true);
        check_string(row.name, TK_STUDENT_NAME_MAX, false);
        check_string(row.password, TK_ROSTER_PASSWORD_MAX, false);
        check_string(row.openid, TK_OPENID_MAX, true);
        check_id(row.openid, false);
        if (!r.has_openid && row.openid[0] != '\0') {
            abort();
        }
    }
    fflush(err);
    lines = message_lines(msgs, len);
    /* Open says each error; each bad record said at least one thing. */
    if (opened > 0 ? lines != opened
                   : lines < bad || (bad > 0) != (lines > 0)) {
        abort();
    }
    fclose(f);
    fclose(err);
    free(msgs);

    f = open_input(data, size);
    msgs = NULL;
    len = 0;
    err = open_memstream(&msgs, &len);
    if (err == NULL) {
        abort();
    }
    count = tk_roster_check("r.csv", f, err, &rows);
    fflush(err);
    lines = message_lines(msgs, len);
    if (count < 0 || lines < count || (count > 0) != (lines > 0) ||
        (opened > 0 && count != opened) || (opened == 0 && rows != records) ||
        count < bad || (bad > 0 && count == 0)) {
        abort();
    }
    fclose(f);
    fclose(err);
    free(msgs);
    return 0;
}
