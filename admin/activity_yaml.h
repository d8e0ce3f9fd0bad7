/*
 * Activity files for ticketctl (the format in API.md): parsing with
 * libyaml and validation, every error reported at once as
 *   FILE:LINE:COLUMN: FIELD: message
 * activity_yaml.c is the only file that includes libyaml.
 */
#ifndef TK_ACTIVITY_YAML_H
#define TK_ACTIVITY_YAML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "model.h"

enum tk_activity_field {
    TK_AF_KEY,
    TK_AF_NAME,
    TK_AF_PLACE,
    TK_AF_DESCRIPTION,
    TK_AF_PIC_URL,
    TK_AF_START_TIME,
    TK_AF_END_TIME,
    TK_AF_BOOK_START,
    TK_AF_BOOK_END,
    TK_AF_TOTAL_TICKETS,
    TK_AF_STATUS,
    TK_AF_COUNT
};

/* Bounded input: a larger file is refused before parsing. */
#define TK_ACTIVITY_YAML_MAX (64 * 1024)

struct tk_activity_doc {
    const char *path;          /* borrowed, for messages */
    struct tk_activity a;      /* the fields present, others zero */
    unsigned present;          /* bit (1u << field) per field given */
    unsigned valid;            /* ... and per field whose value is good */
    unsigned line[TK_AF_COUNT]; /* where each field is, 1-based */
    unsigned column[TK_AF_COUNT];
    unsigned map_line, map_column; /* the mapping, for missing fields */
    bool whole;                    /* the mapping was read to its end */
};

/* The field's name in files and messages ("book_end"). */
const char *tk_activity_field_name(enum tk_activity_field f);

/*
 * Parses and checks each field of text (len bytes) on its own: types,
 * lengths, UTF-8, times, unknown and duplicate keys. Writes every error
 * to err. Returns the number of errors (0: d is filled).
 */
int tk_activity_doc_parse(struct tk_activity_doc *d, const char *path,
                          const char *text, size_t len, FILE *err);

/* Reads path (at most TK_ACTIVITY_YAML_MAX bytes) and parses it. Returns
 * the number of errors, or -errno when the file cannot be read (said). */
int tk_activity_doc_load(struct tk_activity_doc *d, const char *path,
                         FILE *err);

/*
 * Copies the fields present in d over *a; for a new activity (create)
 * every required field must be present and the others get defaults.
 * Then checks the rules between fields (end after start, booking end
 * after booking start) among the values that are good. Returns the
 * number of errors written to err. Call it after a parse with errors
 * too, to report everything at once.
 */
int tk_activity_doc_apply(const struct tk_activity_doc *d,
                          struct tk_activity *a, bool create, FILE *err);

/*
 * Parses an ISO 8601 time with offset ("2026-12-31T19:00:00+08:00" or
 * "...Z") into Unix seconds. Returns 0 or -EINVAL.
 */
int tk_iso8601_parse(const char *s, int64_t *out);

/* Formats t in the local time zone as "2026-12-31T19:00:00+08:00". */
void tk_iso8601_format(int64_t t, char out[32]);

#endif
