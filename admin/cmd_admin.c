/* ticketctl admin add: web admin accounts; the password from stdin. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "store.h"
#include "ticketctl.h"

#define PASSWORD_MAX 256

/* Reads one line from stdin without echo on a terminal. Returns its
 * length, or -1 when there is none. */
static long
read_password(char *buf, size_t size)
{
    struct termios old, quiet;
    bool tty = isatty(0) && tcgetattr(0, &old) == 0;
    size_t n;

    if (tty) {
        fprintf(stderr, "password: ");
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(0, TCSAFLUSH, &quiet);
    }
    if (fgets(buf, (int)size, stdin) == NULL) {
        buf[0] = '\0';
    }
    if (tty) {
        tcsetattr(0, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    n = strcspn(buf, "\r\n");
    if (buf[n] == '\0' && n == size - 1) {
        return -1; /* longer than the buffer */
    }
    buf[n] = '\0';
    return (long)n;
}

static int
admin_add(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd self = {"add", admin_add,
                                           "admin add USERNAME", ""};
    char pw[PASSWORD_MAX + 2];
    struct tk_store *s;
    const char *user;
    long n;
    int rc;

    if (tk_ctl_getopt(ctl, argc, argv, "") != -1 || optind + 1 != argc) {
        return tk_ctl_usage(&self);
    }
    user = argv[optind];
    if (*user == '\0' || strlen(user) > TK_USERNAME_MAX ||
        strpbrk(user, " \t\r\n") != NULL) {
        fprintf(stderr, "ticketctl: username must be 1 to %d bytes without "
                        "white space\n",
                TK_USERNAME_MAX);
        return EX_DATAERR;
    }
    n = read_password(pw, sizeof(pw));
    if (n < 8) {
        fprintf(stderr, "ticketctl: the password on stdin must be 8 to %d "
                        "bytes\n",
                PASSWORD_MAX);
        tk_wipe(pw, sizeof(pw));
        return EX_DATAERR;
    }
    rc = tk_ctl_store(ctl, &s);
    if (rc == 0) {
        rc = tk_store_admin_add(s, user, pw);
        if (rc == -EEXIST) {
            fprintf(stderr, "ticketctl: admin '%s' already exists\n", user);
            rc = EX_DATAERR;
        } else {
            rc = rc < 0 ? EX_UNAVAILABLE : 0;
        }
    }
    tk_wipe(pw, sizeof(pw));
    return rc;
}

int
tk_cmd_admin(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd sub[] = {
        {"add", admin_add, "admin add USERNAME",
         "add a web admin; the password is read from stdin"},
    };

    return tk_ctl_dispatch(ctl, sub, TK_ARRAY_SIZE(sub), "admin", argc - 1,
                           argv + 1);
}
