/* ticketctl conf check: validate a configuration file like ticketd -t. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ticketctl.h"

static int
conf_check(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd self = {"check", conf_check,
                                           "conf check [-v]", ""};
    bool verbose = false;
    int c, rc;

    while ((c = tk_ctl_getopt(ctl, argc, argv, "v")) != -1) {
        if (c != 'v') {
            return tk_ctl_usage(&self);
        }
        verbose = true;
    }
    if (optind != argc) {
        return tk_ctl_usage(&self);
    }
    rc = tk_ctl_conf(ctl);
    if (rc != 0) {
        return rc;
    }
    if (verbose) {
        tk_conf_dump(&ctl->conf, stdout);
    }
    printf("%s: ok\n", ctl->conf_path);
    return 0;
}

int
tk_cmd_conf(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd sub[] = {
        {"check", conf_check, "conf check [-v]",
         "check the configuration file; -v prints the values"},
    };

    return tk_ctl_dispatch(ctl, sub, TK_ARRAY_SIZE(sub), "conf", argc - 1,
                           argv + 1);
}
