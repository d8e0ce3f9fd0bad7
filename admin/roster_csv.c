/*
 * RFC 4180 reading a byte at a time: fields are copied into bounded
 * buffers (over-long ones are measured, not stored), so memory stays
 * small whatever the file holds.
 */
#include "roster_csv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define FIELDS_MAX 4
#define FIELD_CAP 512 /* stored bytes per field; more is an error anyway */

enum { F_SID, F_NAME, F_PASSWORD, F_OPENID };

static const char *const field_names[FIELDS_MAX] = {"student_id", "name",
                                                    "password", "openid"};
static const size_t field_max[FIELDS_MAX] = {TK_SID_MAX, TK_STUDENT_NAME_MAX,
                                             TK_ROSTER_PASSWORD_MAX,
                                             TK_OPENID_MAX};

struct field {
    char data[FIELD_CAP];
    size_t len; /* true length, may exceed FIELD_CAP - 1 */
    unsigned line, column;
    bool quoted;
};

struct record {
    struct field f[FIELDS_MAX + 1]; /* one extra to count too many */
    size_t n;                       /* fields seen (may exceed the array) */
    unsigned line;
    bool syntax_error;
};

static void TK_PRINTF(6, 7)
report(struct tk_roster *r, int *count, unsigned line, unsigned column,
       const char *field, const char *fmt, ...)
{
    va_list ap;

    fprintf(r->err, "%s:%u:%u: %s: ", r->path, line, column, field);
    va_start(ap, fmt);
    vfprintf(r->err, fmt, ap);
    va_end(ap);
    fputc('\n', r->err);
    (*count)++;
}

static int
next_byte(struct tk_roster *r)
{
    int c = getc_unlocked(r->f);

    r->last_line = r->line;
    r->last_column = r->column;
    if (c == '\n') {
        r->line++;
        r->column = 1;
    } else if (c != EOF) {
        r->column++;
    }
    return c;
}

static int
peek_byte(struct tk_roster *r)
{
    int c = getc_unlocked(r->f);

    if (c != EOF) {
        ungetc(c, r->f);
    }
    return c;
}

static void
field_add(struct field *f, int c)
{
    if (f->len < FIELD_CAP - 1) {
        f->data[f->len] = (char)c;
    }
    f->len++;
}

/* Reads one record; returns false at end of file (nothing read). */
static bool
read_record(struct tk_roster *r, struct record *rec, int *count)
{
    int c = next_byte(r);
    struct field *f;

    rec->n = 0;
    rec->line = r->line;
    rec->syntax_error = false;
    if (c == EOF) {
        r->eof = true;
        return false;
    }
    for (;;) {
        /* start of a field; c is its first byte */
        f = &rec->f[rec->n < FIELDS_MAX ? rec->n : FIELDS_MAX];
        rec->n++;
        f->len = 0;
        f->line = r->last_line;
        f->column = r->last_column;
        f->quoted = c == '"';
        if (f->quoted) {
            for (;;) {
                c = next_byte(r);
                if (c == EOF) {
                    report(r, count, f->line, f->column, "(record)",
                           "unterminated quoted field");
                    rec->syntax_error = true;
                    goto end;
                }
                if (c == '"') {
                    c = next_byte(r);
                    if (c != '"') {
                        break;
                    }
                }
                field_add(f, c);
            }
            if (c == '\r' && peek_byte(r) == '\n') {
                c = next_byte(r);
            }
            if (c != ',' && c != '\n' && c != EOF) {
                report(r, count, r->last_line, r->last_column, "(record)",
                       "unexpected character after a closing quote");
                rec->syntax_error = true;
                while (c != '\n' && c != EOF) {
                    c = next_byte(r);
                }
                goto end;
            }
        } else {
            while (c != ',' && c != '\n' && c != EOF) {
                if (c == '\r' && peek_byte(r) == '\n') {
                    c = next_byte(r);
                    break;
                }
                if (c == '"' && !rec->syntax_error) {
                    report(r, count, r->last_line, r->last_column,
                           "(record)", "quote inside an unquoted field");
                    rec->syntax_error = true;
                }
                field_add(f, c);
                c = next_byte(r);
            }
        }
        f->data[TK_MIN(f->len, (size_t)FIELD_CAP - 1)] = '\0';
        if (c != ',') {
            break;
        }
        c = next_byte(r);
    }
end:
    if (c == EOF) {
        r->eof = true;
    }
    return true;
}

static bool
is_id_char(char c, bool dot)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || (dot && c == '.');
}

static bool
has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f) {
            return true;
        }
    }
    return false;
}

/* Checks field i of a record; reports and returns false when bad. */
static bool
check_field(struct tk_roster *r, int *count, const struct field *f, int i)
{
    const char *name = field_names[i];
    size_t max = field_max[i];

    if (f->len > max) {
        report(r, count, f->line, f->column, name,
               "is %zu bytes long; the limit is %zu", f->len, max);
        return false;
    }
    if (strlen(f->data) != f->len) {
        report(r, count, f->line, f->column, name, "contains a NUL byte");
        return false;
    }
    if (!tk_utf8_is_valid(f->data, f->len)) {
        report(r, count, f->line, f->column, name, "invalid UTF-8");
        return false;
    }
    if (f->len == 0 && i != F_OPENID) {
        report(r, count, f->line, f->column, name, "must not be empty");
        return false;
    }
    if (i == F_SID || i == F_OPENID) {
        for (size_t k = 0; k < f->len; k++) {
            if (!is_id_char(f->data[k], i == F_SID)) {
                char q[65];

                report(r, count, f->line, f->column, name,
                       "'%s' may only hold letters, digits, '-', '_'%s",
                       tk_utf8_printable(q, f->data, f->len, 64),
                       i == F_SID ? " and '.'" : "");
                return false;
            }
        }
        return true;
    }
    if (has_control(f->data)) {
        report(r, count, f->line, f->column, name,
               "contains control characters");
        return false;
    }
    return true;
}

int
tk_roster_open(struct tk_roster *r, const char *path, FILE *f, FILE *err)
{
    struct record *rec = tk_xcalloc(1, sizeof(*rec));
    int count = 0;
    char *h;

    memset(r, 0, sizeof(*r));
    r->f = f;
    r->path = path;
    r->err = err;
    r->line = 1;
    r->column = 1;
    /* A UTF-8 byte order mark, as spreadsheets write it, is skipped. */
    if (peek_byte(r) == 0xef) {
        unsigned char bom[3];

        if (fread(bom, 1, 3, f) != 3 || memcmp(bom, "\xef\xbb\xbf", 3)) {
            report(r, &count, 1, 1, "(header)", "invalid UTF-8");
            goto out;
        }
    }
    if (!read_record(r, rec, &count) || rec->syntax_error) {
        if (count == 0) {
            report(r, &count, 1, 1, "(header)", "the file is empty");
        }
        goto out;
    }
    h = rec->f[0].data;
    if (rec->n < 3 || rec->n > 4 || strcmp(h, "student_id") != 0 ||
        strcmp(rec->f[1].data, "name") != 0 ||
        strcmp(rec->f[2].data, "password") != 0 ||
        (rec->n == 4 && strcmp(rec->f[3].data, "openid") != 0)) {
        report(r, &count, 1, 1, "(header)",
               "expected 'student_id,name,password' or "
               "'student_id,name,password,openid'");
        goto out;
    }
    r->has_openid = rec->n == 4;
out:
    free(rec);
    return count;
}

int
tk_roster_next(struct tk_roster *r, struct tk_roster_row *row)
{
    struct record *rec = tk_xmalloc(sizeof(*rec));
    size_t want = r->has_openid ? 4 : 3;
    int count = 0, rc;

    for (;;) {
        if (r->eof || !read_record(r, rec, &count)) {
            rc = 0;
            goto out;
        }
        /* Blank lines (a trailing newline, mostly) are not records. */
        if (rec->n == 1 && rec->f[0].len == 0 && !rec->f[0].quoted &&
            !rec->syntax_error) {
            continue;
        }
        break;
    }
    if (rec->syntax_error) {
        rc = -EINVAL;
        goto out;
    }
    if (rec->n != want) {
        report(r, &count, rec->line, 1, "(record)",
               "expected %zu fields, found %zu", want, rec->n);
        rc = -EINVAL;
        goto out;
    }
    for (size_t i = 0; i < want; i++) {
        check_field(r, &count, &rec->f[i], (int)i);
    }
    if (count > 0) {
        rc = -EINVAL;
        goto out;
    }
    memcpy(row->student_id, rec->f[F_SID].data, rec->f[F_SID].len + 1);
    memcpy(row->name, rec->f[F_NAME].data, rec->f[F_NAME].len + 1);
    memcpy(row->password, rec->f[F_PASSWORD].data,
           rec->f[F_PASSWORD].len + 1);
    row->openid[0] = '\0';
    if (want == 4) {
        memcpy(row->openid, rec->f[F_OPENID].data, rec->f[F_OPENID].len + 1);
    }
    row->line = rec->line;
    rc = 1;
out:
    tk_wipe(rec, sizeof(*rec));
    free(rec);
    return rc;
}

void
tk_roster_row_wipe(struct tk_roster_row *row)
{
    tk_wipe(row->password, sizeof(row->password));
}

/* A set of strings with the line each was first seen on (open
 * addressing; keys live in one growing pool, referred to by offset). */
struct seen {
    uint32_t *slot_off; /* offset + 1 into pool; 0 empty */
    uint32_t *slot_line;
    size_t cap, n;
    char *pool;
    size_t pool_len, pool_cap;
};

static uint64_t
hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;

    while (*s) {
        h ^= (unsigned char)*s++;
        h *= 1099511628211ULL;
    }
    return h;
}

static void
seen_grow(struct seen *t)
{
    size_t cap = t->cap ? t->cap * 2 : 1024;
    uint32_t *off = tk_xcalloc(cap, sizeof(*off));
    uint32_t *line = tk_xcalloc(cap, sizeof(*line));

    for (size_t i = 0; i < t->cap; i++) {
        if (t->slot_off[i] != 0) {
            size_t j = hash_str(t->pool + t->slot_off[i] - 1) & (cap - 1);

            while (off[j] != 0) {
                j = (j + 1) & (cap - 1);
            }
            off[j] = t->slot_off[i];
            line[j] = t->slot_line[i];
        }
    }
    free(t->slot_off);
    free(t->slot_line);
    t->slot_off = off;
    t->slot_line = line;
    t->cap = cap;
}

/* Adds s; returns 0 when new, else the line it was first seen on. */
static unsigned
seen_add(struct seen *t, const char *s, unsigned line)
{
    size_t len = strlen(s) + 1, j;

    if ((t->n + 1) * 2 > t->cap) {
        seen_grow(t);
    }
    j = hash_str(s) & (t->cap - 1);
    while (t->slot_off[j] != 0) {
        if (strcmp(t->pool + t->slot_off[j] - 1, s) == 0) {
            return t->slot_line[j];
        }
        j = (j + 1) & (t->cap - 1);
    }
    if (t->pool_len + len > t->pool_cap) {
        t->pool_cap = TK_MAX(t->pool_cap * 2, (size_t)65536);
        t->pool = tk_xrealloc(t->pool, t->pool_cap);
    }
    memcpy(t->pool + t->pool_len, s, len);
    t->slot_off[j] = (uint32_t)(t->pool_len + 1);
    t->slot_line[j] = line;
    t->pool_len += len;
    t->n++;
    return 0;
}

static void
seen_release(struct seen *t)
{
    free(t->slot_off);
    free(t->slot_line);
    free(t->pool);
}

int
tk_roster_check(const char *path, FILE *f, FILE *err, size_t *rows)
{
    struct seen sids = {0}, openids = {0};
    struct tk_roster r;
    struct tk_roster_row row;
    int count, rc;
    unsigned first;

    *rows = 0;
    count = tk_roster_open(&r, path, f, err);
    if (count > 0) {
        return count;
    }
    while ((rc = tk_roster_next(&r, &row)) != 0) {
        (*rows)++;
        if (rc < 0) {
            count++;
            continue;
        }
        first = seen_add(&sids, row.student_id, row.line);
        if (first != 0) {
            report(&r, &count, row.line, 1, "student_id",
                   "duplicate '%s' (first on line %u)", row.student_id,
                   first);
        }
        if (row.openid[0] != '\0') {
            first = seen_add(&openids, row.openid, row.line);
            if (first != 0) {
                report(&r, &count, row.line, 1, "openid",
                       "duplicate '%s' (first on line %u)", row.openid,
                       first);
            }
        }
        tk_roster_row_wipe(&row);
    }
    seen_release(&sids);
    seen_release(&openids);
    return count;
}
