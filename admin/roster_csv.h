/*
 * Roster CSV files for `ticketctl user import`: RFC 4180 records (quoted
 * fields, "" escapes, CRLF or LF), the header `student_id,name,password`
 * with an optional fourth column `openid`, every field bounded and
 * validated. Errors read
 *   FILE:LINE:COLUMN: FIELD: message
 * where LINE and COLUMN (bytes, 1-based) are where the field starts.
 */
#ifndef TK_ROSTER_CSV_H
#define TK_ROSTER_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "model.h"

#define TK_ROSTER_PASSWORD_MAX 128

struct tk_roster_row {
    char student_id[TK_SID_MAX + 1];
    char name[TK_STUDENT_NAME_MAX + 1];
    char password[TK_ROSTER_PASSWORD_MAX + 1];
    char openid[TK_OPENID_MAX + 1]; /* "" when not given */
    unsigned line;
};

/* A reader over f (borrowed; not closed). */
struct tk_roster {
    FILE *f;
    const char *path; /* borrowed, for messages */
    FILE *err;
    unsigned line;    /* physical line of the next byte */
    unsigned column;  /* byte column of the next byte, 1-based */
    unsigned last_line, last_column; /* of the byte read last */
    bool has_openid;
    bool eof;
};

/* Starts reading f and checks the header. Returns 0 or the number of
 * errors reported. */
int tk_roster_open(struct tk_roster *r, const char *path, FILE *f,
                   FILE *err);

/* The next record into row: 1 a valid row, 0 end of file, -EINVAL when
 * the record had errors (all reported; reading may go on). */
int tk_roster_next(struct tk_roster *r, struct tk_roster_row *row);

/* Reads the whole of f: every record checked, duplicate student ids and
 * openids reported with the line of the first. *rows gets the number of
 * records. Returns the number of errors. */
int tk_roster_check(const char *path, FILE *f, FILE *err, size_t *rows);

/* Wipes the password of row. */
void tk_roster_row_wipe(struct tk_roster_row *row);

#endif
