/* ticketctl menu: the WeChat custom menu built from the menu table. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "store.h"
#include "ticketctl.h"

#define BUTTON_NAME_MAX 60 /* bytes, WeChat's limit for a sub-button */

static void
click(struct tk_buf *b, const char *name, const char *key, bool first)
{
    char cut[BUTTON_NAME_MAX + 1];
    size_t n = tk_utf8_truncate(name, strlen(name), BUTTON_NAME_MAX);

    memcpy(cut, name, n);
    cut[n] = '\0';
    tk_buf_adds(b, first ? "{\"type\":\"click\",\"name\":"
                         : ",{\"type\":\"click\",\"name\":");
    tk_buf_add_json_str(b, cut);
    tk_buf_adds(b, ",\"key\":");
    tk_buf_add_json_str(b, key);
    tk_buf_addc(b, '}');
}

/*
 * Two top-level buttons (WeChat allows three, five sub-buttons each):
 * 服务 with the fixed commands, 抢票 with the menu's published activities
 * in order, or BOOKING_EMPTY when there is none. Returns 0 or an exit
 * code.
 */
static int
menu_build(struct tk_ctl *ctl, struct tk_buf *out)
{
    static const char *const fixed[][2] = {
        {"抢啥", "SERVICE_BOOK_WHAT"},
        {"查票", "SERVICE_GET_TICKET"},
        {"绑定", "SERVICE_BIND"},
        {"帮助", "SERVICE_HELP"},
    };
    int64_t ids[TK_MENU_MAX];
    struct tk_activity a;
    struct tk_store *s;
    char key[64];
    int n, rc, shown = 0;

    rc = tk_ctl_store(ctl, &s);
    if (rc != 0) {
        return rc;
    }
    n = tk_store_menu_get(s, ids);
    if (n < 0) {
        return EX_UNAVAILABLE;
    }
    tk_buf_adds(out, "{\"button\":[{\"name\":\"服务\",\"sub_button\":[");
    for (size_t i = 0; i < TK_ARRAY_SIZE(fixed); i++) {
        click(out, fixed[i][0], fixed[i][1], i == 0);
    }
    tk_buf_adds(out, "]},{\"name\":\"抢票\",\"sub_button\":[");
    for (int i = 0; i < n; i++) {
        rc = tk_store_activity_get(s, ids[i], &a);
        if (rc < 0) {
            return EX_UNAVAILABLE;
        }
        if (rc == 0 || a.status != TK_ACT_PUBLISHED) {
            continue;
        }
        snprintf(key, sizeof(key), "BOOKING_ACTIVITY_%" PRId64, a.id);
        click(out, a.name, key, shown++ == 0);
    }
    if (shown == 0) {
        click(out, "暂无活动", "BOOKING_EMPTY", true);
    }
    tk_buf_adds(out, "]}]}");
    return 0;
}

static int
menu_show(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd self = {"show", menu_show, "menu show",
                                           ""};
    struct tk_buf b = TK_BUF_INIT;
    int rc;

    if (tk_ctl_getopt(ctl, argc, argv, "") != -1 || optind != argc) {
        return tk_ctl_usage(&self);
    }
    rc = menu_build(ctl, &b);
    if (rc == 0) {
        printf("%s\n", tk_buf_str(&b));
    }
    tk_buf_release(&b);
    return rc;
}

int
tk_cmd_menu(struct tk_ctl *ctl, int argc, char **argv)
{
    static const struct tk_ctl_cmd sub[] = {
        {"show", menu_show, "menu show", "print the WeChat menu JSON"},
    };

    return tk_ctl_dispatch(ctl, sub, TK_ARRAY_SIZE(sub), "menu", argc - 1,
                           argv + 1);
}
