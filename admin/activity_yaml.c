/*
 * Activity YAML files: libyaml's event parser, one flat mapping of scalar
 * values. Field checks happen as the values arrive so that every error in
 * the file is reported in one run; rules between fields wait for apply.
 */
#include "activity_yaml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yaml.h>

#include "buf.h"
#include "util.h"

enum field_kind { KIND_STRING, KIND_TIME, KIND_COUNT, KIND_STATUS };

struct field_def {
    const char *name;
    enum field_kind kind;
    size_t max;     /* bytes, for strings */
    bool required;  /* on create */
    bool multiline; /* newlines and tabs allowed */
};

static const struct field_def fields[TK_AF_COUNT] = {
    [TK_AF_KEY] = {"key", KIND_STRING, TK_KEY_MAX, true, false},
    [TK_AF_NAME] = {"name", KIND_STRING, TK_NAME_MAX, true, false},
    [TK_AF_PLACE] = {"place", KIND_STRING, TK_PLACE_MAX, false, false},
    [TK_AF_DESCRIPTION] = {"description", KIND_STRING, TK_DESC_MAX, false,
                           true},
    [TK_AF_PIC_URL] = {"pic_url", KIND_STRING, TK_URL_MAX, false, false},
    [TK_AF_START_TIME] = {"start_time", KIND_TIME, 0, true, false},
    [TK_AF_END_TIME] = {"end_time", KIND_TIME, 0, true, false},
    [TK_AF_BOOK_START] = {"book_start", KIND_TIME, 0, true, false},
    [TK_AF_BOOK_END] = {"book_end", KIND_TIME, 0, true, false},
    [TK_AF_TOTAL_TICKETS] = {"total_tickets", KIND_COUNT, 0, true, false},
    [TK_AF_STATUS] = {"status", KIND_STATUS, 0, false, false},
};

/* The largest ticket count the schema's INT column holds. */
#define TICKETS_MAX 2147483647

const char *
tk_activity_field_name(enum tk_activity_field f)
{
    return fields[f].name;
}

static void TK_PRINTF(6, 7)
error_at(FILE *err, int *count, const char *path, unsigned line,
         unsigned column, const char *fmt, ...)
{
    va_list ap;

    fprintf(err, "%s:%u:%u: ", path, line, column);
    va_start(ap, fmt);
    vfprintf(err, fmt, ap);
    va_end(ap);
    fputc('\n', err);
    (*count)++;
}

/* --- times -------------------------------------------------------------*/

static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool
digits(const char *s, size_t n, int *out)
{
    int v = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

int
tk_iso8601_parse(const char *s, int64_t *out)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30,
                                31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 1, dim;
    size_t len = strlen(s);

    /* YYYY-MM-DDTHH:MM:SS then Z or +HH:MM / -HH:MM */
    if (len < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
        s[13] != ':' || s[16] != ':' || !digits(s, 4, &y) ||
        !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) ||
        !digits(s + 17, 2, &sec)) {
        return -EINVAL;
    }
    if (len == 20 && s[19] == 'Z') {
        sign = 0;
    } else if (len != 25 || (s[19] != '+' && s[19] != '-') ||
               s[22] != ':' || !digits(s + 20, 2, &oh) ||
               !digits(s + 23, 2, &om) || oh > 14 || om > 59) {
        return -EINVAL;
    } else if (s[19] == '-') {
        sign = -1;
    }
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 ||
        sec > 59) {
        return -EINVAL;
    }
    dim = mdays[mo - 1];
    if (mo == 2 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) {
        dim = 28;
    }
    if (d > dim) {
        return -EINVAL;
    }
    *out = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
           h * 3600 + mi * 60 + sec - sign * (oh * 3600 + om * 60);
    return 0;
}

void
tk_iso8601_format(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    int off;

    localtime_r(&tt, &tm);
    off = (int)(tm.tm_gmtoff % 86400);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + 19, 13, "%c%02d:%02d", off < 0 ? '-' : '+',
             abs(off) / 3600 % 24, abs(off) % 3600 / 60);
}

/* --- fields ------------------------------------------------------------*/

static bool
has_control(const char *s, bool multiline)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p < 0x20 && !(multiline && (*p == '\n' || *p == '\t'))) ||
            *p == 0x7f) {
            return true;
        }
    }
    return false;
}

/* Checks one value and stores it in d->a; returns an error message or
 * NULL. buf holds messages that need formatting. */
static const char *
set_field(struct tk_activity_doc *d, enum tk_activity_field f,
          const char *v, size_t len, bool plain, char *buf, size_t bufsz)
{
    const struct field_def *def = &fields[f];
    struct tk_activity *a = &d->a;
    char q[41]; /* v quoted in a message */
    int64_t n;

    if (plain && (strcmp(v, "~") == 0 || strcmp(v, "null") == 0)) {
        v = "";
        len = 0;
    }
    /* A quoted "\0" would end the value early for every check below. */
    if (strlen(v) != len) {
        return "contains a NUL byte";
    }
    tk_utf8_printable(q, v, len, 40);
    switch (def->kind) {
    case KIND_STRING: {
        static const size_t offs[] = {
            [TK_AF_KEY] = offsetof(struct tk_activity, key),
            [TK_AF_NAME] = offsetof(struct tk_activity, name),
            [TK_AF_PLACE] = offsetof(struct tk_activity, place),
            [TK_AF_DESCRIPTION] = offsetof(struct tk_activity, description),
            [TK_AF_PIC_URL] = offsetof(struct tk_activity, pic_url),
        };

        if (len > def->max) {
            snprintf(buf, bufsz, "is %zu bytes long; the limit is %zu", len,
                     def->max);
            return buf;
        }
        if (has_control(v, def->multiline)) {
            return "contains control characters";
        }
        if (def->required && len == 0) {
            return "must not be empty";
        }
        if (f == TK_AF_KEY && strpbrk(v, " \t\n\r") != NULL) {
            return "must not contain white space";
        }
        if (f == TK_AF_KEY && strstr(v, "\xe3\x80\x80") != NULL) {
            return "must not contain white space";
        }
        if (f == TK_AF_PIC_URL && len > 0 && strncmp(v, "http://", 7) != 0 &&
            strncmp(v, "https://", 8) != 0) {
            return "must be an http:// or https:// URL";
        }
        memcpy((char *)a + offs[f], v, len + 1);
        return NULL;
    }
    case KIND_TIME: {
        int64_t *dst[] = {&a->start_time, &a->end_time, &a->book_start,
                          &a->book_end};

        if (tk_iso8601_parse(v, &n) < 0) {
            snprintf(buf, bufsz,
                     "'%s' is not a time like 2026-12-31T19:00:00+08:00",
                     q);
            return buf;
        }
        *dst[f - TK_AF_START_TIME] = n;
        return NULL;
    }
    case KIND_COUNT:
        if (!plain || tk_parse_i64(v, &n) < 0) {
            snprintf(buf, bufsz, "'%s' is not an integer", q);
            return buf;
        }
        if (n < 0) {
            return "must not be negative";
        }
        if (n > TICKETS_MAX) {
            snprintf(buf, bufsz, "must be at most %d", TICKETS_MAX);
            return buf;
        }
        a->total_tickets = n;
        return NULL;
    case KIND_STATUS:
        if (strcmp(v, "published") == 0) {
            a->status = TK_ACT_PUBLISHED;
        } else if (strcmp(v, "saved") == 0) {
            a->status = TK_ACT_SAVED;
        } else {
            snprintf(buf, bufsz, "'%s' is not 'published' or 'saved'", q);
            return buf;
        }
        return NULL;
    }
    return "unknown kind";
}

/* --- parsing -----------------------------------------------------------*/

/* The field name at the start of the line at text[start], for errors
 * that libyaml cannot place in a field. */
static void
line_key(const char *text, size_t start, size_t end, char *out, size_t n)
{
    size_t i = start, k = 0;

    while (i < end && (text[i] == ' ' || text[i] == '\t')) {
        i++;
    }
    while (i < end && k + 1 < n &&
           ((text[i] >= 'a' && text[i] <= 'z') || text[i] == '_')) {
        out[k++] = text[i++];
    }
    if (k == 0 || i >= end || text[i] != ':') {
        k = 0;
        tk_strlcpy(out, "(document)", n);
        return;
    }
    out[k] = '\0';
}

/* Reports each line with invalid UTF-8, at its first bad byte. */
static int
check_utf8(const char *path, const char *text, size_t len, FILE *err)
{
    int count = 0;
    size_t start = 0;
    unsigned line = 1;

    while (start < len) {
        const char *nl = memchr(text + start, '\n', len - start);
        size_t end = nl != NULL ? (size_t)(nl - text) : len;

        for (size_t i = start; i < end;) {
            unsigned char c = (unsigned char)text[i];
            size_t n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;

            if (i + n > end || !tk_utf8_is_valid(text + i, n)) {
                char key[32];

                line_key(text, start, end, key, sizeof(key));
                error_at(err, &count, path, line, (unsigned)(i - start + 1),
                         "%s: invalid UTF-8", key);
                break;
            }
            i += n;
        }
        start = end + 1;
        line++;
    }
    return count;
}

/* The field called name[0..len) (which may hold a NUL), or -1. */
static int
field_by_name(const char *name, size_t len)
{
    for (int i = 0; i < TK_AF_COUNT; i++) {
        if (strlen(fields[i].name) == len &&
            memcmp(fields[i].name, name, len) == 0) {
            return i;
        }
    }
    return -1;
}

/* Skips the rest of a nested value whose start event was just read. */
static bool
skip_nested(yaml_parser_t *p)
{
    int depth = 1;
    yaml_event_t ev;

    while (depth > 0) {
        if (!yaml_parser_parse(p, &ev)) {
            return false;
        }
        if (ev.type == YAML_SEQUENCE_START_EVENT ||
            ev.type == YAML_MAPPING_START_EVENT) {
            depth++;
        } else if (ev.type == YAML_SEQUENCE_END_EVENT ||
                   ev.type == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        yaml_event_delete(&ev);
    }
    return true;
}

/* Parses the pairs of the top mapping until its end. */
static int
parse_mapping(struct tk_activity_doc *d, yaml_parser_t *p, FILE *err,
              int *count)
{
    char msg[160], key[65];

    for (;;) {
        yaml_event_t kev, vev;
        unsigned kl, kc, vl, vc;
        int f;

        if (!yaml_parser_parse(p, &kev)) {
            return -1;
        }
        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&kev);
            return 0;
        }
        kl = (unsigned)kev.start_mark.line + 1;
        kc = (unsigned)kev.start_mark.column + 1;
        if (kev.type != YAML_SCALAR_EVENT) {
            error_at(err, count, d->path, kl, kc,
                     "(document): keys must be plain names");
            if ((kev.type == YAML_SEQUENCE_START_EVENT ||
                 kev.type == YAML_MAPPING_START_EVENT) &&
                !skip_nested(p)) {
                yaml_event_delete(&kev);
                return -1;
            }
            f = -2;
        } else {
            f = field_by_name((const char *)kev.data.scalar.value,
                              kev.data.scalar.length);
        }
        if (!yaml_parser_parse(p, &vev)) {
            yaml_event_delete(&kev);
            return -1;
        }
        vl = (unsigned)vev.start_mark.line + 1;
        vc = (unsigned)vev.start_mark.column + 1;
        if (f == -1) {
            error_at(err, count, d->path, kl, kc, "%s: unknown field",
                     tk_utf8_printable(key,
                                       (const char *)kev.data.scalar.value,
                                       kev.data.scalar.length, 64));
        } else if (f >= 0 && (d->present & (1u << f))) {
            error_at(err, count, d->path, kl, kc,
                     "%s: duplicate key (first on line %u)", fields[f].name,
                     d->line[f]);
        } else if (f >= 0) {
            d->present |= 1u << f;
            d->line[f] = kl;
            d->column[f] = kc;
        }
        if (vev.type == YAML_SEQUENCE_START_EVENT ||
            vev.type == YAML_MAPPING_START_EVENT) {
            if (f >= 0) {
                error_at(err, count, d->path, vl, vc,
                         "%s: expected a single value, not a %s",
                         fields[f].name,
                         vev.type == YAML_SEQUENCE_START_EVENT ? "list"
                                                               : "mapping");
            }
            if (!skip_nested(p)) {
                yaml_event_delete(&kev);
                yaml_event_delete(&vev);
                return -1;
            }
        } else if (vev.type == YAML_ALIAS_EVENT) {
            error_at(err, count, d->path, vl, vc, "%s: aliases are not allowed",
                     f >= 0 ? fields[f].name : "(document)");
        } else if (vev.type == YAML_SCALAR_EVENT && f >= 0 &&
                   d->line[f] == kl && d->column[f] == kc) {
            const char *e = set_field(
                d, (enum tk_activity_field)f,
                (const char *)vev.data.scalar.value, vev.data.scalar.length,
                vev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE, msg,
                sizeof(msg));

            if (e != NULL) {
                error_at(err, count, d->path, vl, vc, "%s: %s",
                         fields[f].name, e);
            } else {
                d->valid |= 1u << f;
            }
        }
        yaml_event_delete(&kev);
        yaml_event_delete(&vev);
    }
}

int
tk_activity_doc_parse(struct tk_activity_doc *d, const char *path,
                      const char *text, size_t len, FILE *err)
{
    yaml_parser_t p;
    yaml_event_t ev;
    int count = 0, docs = 0;
    bool done = false;

    memset(d, 0, sizeof(*d));
    d->path = path;
    d->map_line = d->map_column = 1;
    count = check_utf8(path, text, len, err);
    if (count > 0) {
        return count;
    }
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    while (!done) {
        if (!yaml_parser_parse(&p, &ev)) {
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                error_at(err, &count, path,
                         (unsigned)ev.start_mark.line + 1,
                         (unsigned)ev.start_mark.column + 1,
                         "(document): one activity per file");
                d->whole = false;
                done = true;
            }
            break;
        case YAML_MAPPING_START_EVENT:
            d->map_line = (unsigned)ev.start_mark.line + 1;
            d->map_column = (unsigned)ev.start_mark.column + 1;
            if (parse_mapping(d, &p, err, &count) < 0) {
                done = true;
            } else {
                d->whole = true;
            }
            break;
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_END_EVENT:
            break;
        default:
            error_at(err, &count, path, (unsigned)ev.start_mark.line + 1,
                     (unsigned)ev.start_mark.column + 1,
                     "(document): expected a mapping of fields");
            done = true;
            break;
        }
        yaml_event_delete(&ev);
    }
    if (p.error != YAML_NO_ERROR) {
        d->whole = false;
        error_at(err, &count, path, (unsigned)p.problem_mark.line + 1,
                 (unsigned)p.problem_mark.column + 1, "(document): %s%s%s",
                 p.problem != NULL ? p.problem : "syntax error",
                 p.context != NULL ? " " : "",
                 p.context != NULL ? p.context : "");
    } else if (docs == 0) {
        error_at(err, &count, path, 1, 1, "(document): the file is empty");
    }
    yaml_parser_delete(&p);
    return count;
}

int
tk_activity_doc_load(struct tk_activity_doc *d, const char *path, FILE *err)
{
    struct tk_buf b = TK_BUF_INIT;
    char chunk[8192];
    FILE *f = fopen(path, "r");
    size_t n;
    int rc;

    memset(d, 0, sizeof(*d));
    if (f == NULL) {
        rc = -errno;
        fprintf(err, "%s: cannot open: %s\n", path, strerror(errno));
        return rc;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 &&
           b.len <= TK_ACTIVITY_YAML_MAX) {
        tk_buf_add(&b, chunk, n);
    }
    if (ferror(f)) {
        fprintf(err, "%s: cannot read\n", path);
        rc = -EIO;
    } else if (b.len > TK_ACTIVITY_YAML_MAX) {
        fprintf(err, "%s: larger than %d bytes\n", path, TK_ACTIVITY_YAML_MAX);
        rc = -EFBIG;
    } else {
        rc = tk_activity_doc_parse(d, path, tk_buf_str(&b), b.len, err);
    }
    fclose(f);
    tk_buf_release(&b);
    return rc;
}

/* --- between fields ----------------------------------------------------*/

/* Where to report a rule about field f: its line, else the mapping. */
static void
place_of(const struct tk_activity_doc *d, enum tk_activity_field f,
         unsigned *line, unsigned *column)
{
    if (d->present & (1u << f)) {
        *line = d->line[f];
        *column = d->column[f];
    } else {
        *line = d->map_line;
        *column = d->map_column;
    }
}

/* A value to compare: given and good, or not given on an update (the
 * stored one). A missing field on create is already an error. */
static bool
usable(const struct tk_activity_doc *d, enum tk_activity_field f, bool create)
{
    unsigned bit = 1u << f;

    return (d->present & bit) ? (d->valid & bit) != 0 : !create;
}

int
tk_activity_doc_apply(const struct tk_activity_doc *d, struct tk_activity *a,
                      bool create, FILE *err)
{
    const struct tk_activity *s = &d->a;
    unsigned line, column;
    int count = 0;

    if (create) {
        int64_t id = a->id;

        memset(a, 0, sizeof(*a));
        a->id = id;
        a->status = TK_ACT_SAVED;
        /* A file that could not be read whole has told its error. */
        for (int f = 0; d->whole && f < TK_AF_COUNT; f++) {
            if (fields[f].required && !(d->present & (1u << f))) {
                error_at(err, &count, d->path, d->map_line, d->map_column,
                         "%s: missing", fields[f].name);
            }
        }
    }
#define COPY(bit, field)                                                      \
    do {                                                                      \
        if (d->valid & (1u << (bit))) {                                       \
            memcpy(&a->field, &s->field, sizeof(a->field));                   \
        }                                                                     \
    } while (0)
    COPY(TK_AF_KEY, key);
    COPY(TK_AF_NAME, name);
    COPY(TK_AF_PLACE, place);
    COPY(TK_AF_DESCRIPTION, description);
    COPY(TK_AF_PIC_URL, pic_url);
    COPY(TK_AF_START_TIME, start_time);
    COPY(TK_AF_END_TIME, end_time);
    COPY(TK_AF_BOOK_START, book_start);
    COPY(TK_AF_BOOK_END, book_end);
    COPY(TK_AF_TOTAL_TICKETS, total_tickets);
    COPY(TK_AF_STATUS, status);
#undef COPY
    if (usable(d, TK_AF_START_TIME, create) && usable(d, TK_AF_END_TIME, create) &&
        a->end_time < a->start_time) {
        place_of(d, (d->present & (1u << TK_AF_END_TIME)) ? TK_AF_END_TIME
                                                          : TK_AF_START_TIME,
                 &line, &column);
        error_at(err, &count, d->path, line, column,
                 "end_time: is before start_time");
    }
    if (usable(d, TK_AF_BOOK_START, create) && usable(d, TK_AF_BOOK_END, create) &&
        a->book_end < a->book_start) {
        place_of(d, (d->present & (1u << TK_AF_BOOK_END)) ? TK_AF_BOOK_END
                                                          : TK_AF_BOOK_START,
                 &line, &column);
        error_at(err, &count, d->path, line, column,
                 "book_end: is before book_start");
    }
    return count;
}
