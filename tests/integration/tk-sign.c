/*
 * tk-sign CONFIG NAME=VALUE...: prints the signed query string of a user
 * link ("a=1&b=2&sig=...") with the config's site.link_secret, so the
 * shell tests can build the links ticketd hands out.
 */
#include <stdio.h>
#include <string.h>

#include "arena.h"
#include "conf.h"
#include "sign.h"

int
main(int argc, char **argv)
{
    struct tk_sign_param params[TK_SIGN_MAX_PARAMS];
    struct tk_conf conf;
    struct tk_arena arena;
    char *q;
    int n = argc - 2, rc = 1;

    if (argc < 3 || n > TK_SIGN_MAX_PARAMS) {
        fprintf(stderr, "usage: tk-sign CONFIG NAME=VALUE...\n");
        return 2;
    }
    for (int i = 0; i < n; i++) {
        char *eq = strchr(argv[i + 2], '=');

        if (eq == NULL) {
            fprintf(stderr, "tk-sign: '%s' is not NAME=VALUE\n", argv[i + 2]);
            return 2;
        }
        *eq = '\0';
        params[i].name = argv[i + 2];
        params[i].value = eq + 1;
    }
    if (tk_conf_load(&conf, argv[1], stderr) < 0) {
        return 1;
    }
    tk_arena_init(&arena, 4096);
    q = tk_sign_query(&arena, conf.site.link_secret, params, (size_t)n);
    if (q != NULL) {
        printf("%s\n", q);
        rc = 0;
    } else {
        fprintf(stderr, "tk-sign: cannot sign these parameters\n");
    }
    tk_arena_release(&arena);
    tk_conf_release(&conf);
    return rc;
}
