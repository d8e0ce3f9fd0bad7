/* ticketctl activity: activities from YAML files, and their listing. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "activity_yaml.h"
#include "store.h"
#include "ticketctl.h"

/* Parses the one ID argument left after the options. */
static int
arg_id(int argc, char **argv, int64_t *id)
{
    if (optind + 1 != argc || tk_parse_i64(argv[optind], id) < 0 ||
        *id <= 0) {
        return -EINVAL;
    }
    return 0;
}

/* Options "-f FILE" plus, for update, an ID. */
static int
parse_file_args(struct tk_ctl *ctl, const struct tk_ctl_cmd *self, int argc,
                char **argv, bool want_id, const char **file, int64_t *id)
{
    int c;

    *file = NULL;
    while ((c = tk_ctl_getopt(ctl, argc, argv, "f:")) != -1) {
        if (c != 'f') {
            return tk_ctl_usage(self);
        }
        *file = optarg;
    }
    if (*file == NULL || (want_id ? arg_id(argc, argv, id) < 0
                                  : optind != argc)) {
        return tk_ctl_usage(self);
    }
    return 0;
}

/* Loads file and applies it over *a (create: from nothing), reporting
 * every error of the file. a is NULL to load only. */
static int
load_doc(struct tk_activity_doc *d, const char *file, struct tk_activity *a,
         bool create)
{
    int n = tk_activity_doc_load(d, file, stderr);

    if (n < 0) {
        return EX_NOINPUT;
    }
    if (a != NULL) {
        n += tk_activity_doc_apply(d, a, create, stderr);
    }
    return n > 0 ? EX_DATAERR : 0;
}

/* The store's answer to a write, as an exit code; key for -EEXIST. */
static int
write_result(int rc, const struct tk_activity_doc *d, const char *key)
{
    if (rc == -EEXIST) {
        fprintf(stderr, "%s:%u:%u: key: '%s' is already used by another "
                        "activity\n",
                d->path, d->line[TK_AF_KEY], d->column[TK_AF_KEY], key);
        return EX_DATAERR;
    }
    if (rc == -EINVAL) {
        fprintf(stderr, "%s: the database refused the values\n", d->path);
        return EX_DATAERR;
    }
    return rc < 0 ? EX_UNAVAILABLE : 0;
}

static int
act_create(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd self = {
        "create", act_create, "activity create -f FILE.yaml", ""};
    struct tk_activity_doc d;
    struct tk_activity a = {0};
    struct tk_store *s;
    const char *file;
    int64_t id = 0;
    int rc;

    rc = parse_file_args(ctl, &self, argc, argv, false, &file, &id);
    if (rc == 0) {
        rc = load_doc(&d, file, &a, true);
    }
    if (rc == 0) {
        rc = tk_ctl_store(ctl, &s);
    }
    if (rc != 0) {
        return rc;
    }
    rc = write_result(tk_store_activity_create(s, &a, &id), &d, a.key);
    if (rc == 0) {
        printf("%lld\n", (long long)id);
    }
    return rc;
}

static int
act_update(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd self = {
        "update", act_update, "activity update ID -f FILE.yaml", ""};
    struct tk_activity_doc d;
    struct tk_activity a;
    struct tk_store *s;
    const char *file;
    int64_t id = 0;
    int rc;

    rc = parse_file_args(ctl, &self, argc, argv, true, &file, &id);
    if (rc == 0) {
        rc = load_doc(&d, file, NULL, false);
    }
    if (rc == 0) {
        rc = tk_ctl_store(ctl, &s);
    }
    if (rc != 0) {
        return rc;
    }
    rc = tk_store_activity_get(s, id, &a);
    if (rc < 0) {
        return EX_UNAVAILABLE;
    }
    if (rc == 0 || a.status == TK_ACT_DELETED) {
        fprintf(stderr, "ticketctl: no activity %lld\n", (long long)id);
        return EX_DATAERR;
    }
    if (tk_activity_doc_apply(&d, &a, false, stderr) > 0) {
        return EX_DATAERR;
    }
    rc = tk_store_activity_update(s, &a);
    if (rc == 0) {
        fprintf(stderr, "ticketctl: no activity %lld\n", (long long)id);
        return EX_DATAERR;
    }
    return write_result(rc < 0 ? rc : 0, &d, a.key);
}

/* publish and delete: a status change of one activity. */
static int
set_status(struct tk_ctl *ctl, int argc, char **argv,
           const struct tk_ctl_cmd *self, int status)
{
    struct tk_activity a;
    struct tk_store *s;
    int64_t id;
    int rc;

    if (tk_ctl_getopt(ctl, argc, argv, "") != -1) {
        return tk_ctl_usage(self);
    }
    if (arg_id(argc, argv, &id) < 0) {
        return tk_ctl_usage(self);
    }
    rc = tk_ctl_store(ctl, &s);
    if (rc != 0) {
        return rc;
    }
    rc = tk_store_activity_get(s, id, &a);
    if (rc == 1 && a.status != TK_ACT_DELETED) {
        rc = tk_store_activity_set_status(s, id, status);
    } else if (rc == 1) {
        rc = 0;
    }
    if (rc < 0) {
        return EX_UNAVAILABLE;
    }
    if (rc == 0) {
        fprintf(stderr, "ticketctl: no activity %lld\n", (long long)id);
        return EX_DATAERR;
    }
    /* Published activities are in Redis before anyone can grab: a grab
     * never loads one implicitly. */
    if (status == TK_ACT_PUBLISHED) {
        a.status = status;
        rc = tk_ctl_preheat_one(ctl, &a);
        if (rc != 0) {
            fprintf(stderr, "ticketctl: activity %lld is published but not "
                            "in redis; grabs fail until 'ticketctl preheat "
                            "%lld' succeeds\n", (long long)id, (long long)id);
        }
        return rc;
    }
    return 0;
}

static int
act_publish(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd self = {"publish", act_publish,
                                           "activity publish ID", ""};

    return set_status(ctl, argc, argv, &self, TK_ACT_PUBLISHED);
}

static int
act_delete(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd self = {"delete", act_delete,
                                           "activity delete ID", ""};

    return set_status(ctl, argc, argv, &self, TK_ACT_DELETED);
}

static const char *
status_name(int status)
{
    return status == TK_ACT_PUBLISHED ? "published"
           : status == TK_ACT_SAVED   ? "saved"
                                      : "deleted";
}

static int
list_row(const struct tk_activity *a, void *arg)
{
    char start[32], book[32];

    (void)arg;
    tk_iso8601_format(a->start_time, start);
    tk_iso8601_format(a->book_start, book);
    printf("%-6lld %-10s %-20s %-25s %-25s %8lld  %s\n", (long long)a->id,
           status_name(a->status), a->key, start, book,
           (long long)a->total_tickets, a->name);
    return 0;
}

static int
act_list(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd self = {"list", act_list, "activity list",
                                           ""};
    struct tk_store *s;
    int rc;

    if (tk_ctl_getopt(ctl, argc, argv, "") != -1) {
        return tk_ctl_usage(&self);
    }
    if (optind != argc) {
        return tk_ctl_usage(&self);
    }
    rc = tk_ctl_store(ctl, &s);
    if (rc != 0) {
        return rc;
    }
    printf("%-6s %-10s %-20s %-25s %-25s %8s  %s\n", "ID", "STATUS", "KEY",
           "START", "BOOK_START", "TICKETS", "NAME");
    return tk_store_activity_list(s, list_row, NULL) < 0 ? EX_UNAVAILABLE
                                                         : 0;
}

static int
act_show(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd self = {"show", act_show,
                                           "activity show ID", ""};
    struct tk_activity a;
    struct tk_store *s;
    int64_t id, booked, used;
    char t[4][32];
    int rc;

    if (tk_ctl_getopt(ctl, argc, argv, "") != -1) {
        return tk_ctl_usage(&self);
    }
    if (arg_id(argc, argv, &id) < 0) {
        return tk_ctl_usage(&self);
    }
    rc = tk_ctl_store(ctl, &s);
    if (rc != 0) {
        return rc;
    }
    rc = tk_store_activity_get(s, id, &a);
    if (rc == 1) {
        rc = tk_store_activity_counts(s, id, &booked, &used);
        rc = rc < 0 ? rc : 1;
    }
    if (rc < 0) {
        return EX_UNAVAILABLE;
    }
    if (rc == 0) {
        fprintf(stderr, "ticketctl: no activity %lld\n", (long long)id);
        return EX_DATAERR;
    }
    tk_iso8601_format(a.start_time, t[0]);
    tk_iso8601_format(a.end_time, t[1]);
    tk_iso8601_format(a.book_start, t[2]);
    tk_iso8601_format(a.book_end, t[3]);
    printf("id: %lld\nstatus: %s\nkey: %s\nname: %s\nplace: %s\n"
           "pic_url: %s\nstart_time: %s\nend_time: %s\nbook_start: %s\n"
           "book_end: %s\ntotal_tickets: %lld\nbooked_tickets: %lld\n"
           "used_tickets: %lld\ndescription: %s\n",
           (long long)a.id, status_name(a.status), a.key, a.name, a.place,
           a.pic_url, t[0], t[1], t[2], t[3], (long long)a.total_tickets,
           (long long)booked, (long long)used, a.description);
    return 0;
}

int
tk_cmd_activity(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd sub[] = {
        {"create", act_create, "activity create -f FILE.yaml",
         "create an activity; prints its id"},
        {"delete", act_delete, "activity delete ID", "soft-delete"},
        {"list", act_list, "activity list", "activities not deleted"},
        {"publish", act_publish, "activity publish ID", "publish"},
        {"show", act_show, "activity show ID", "every field and counts"},
        {"update", act_update, "activity update ID -f FILE.yaml",
         "change the fields the file gives"},
    };

    return tk_ctl_dispatch(ctl, sub, TK_ARRAY_SIZE(sub), "activity",
                           argc - 1, argv + 1);
}
