/*
 * The route table. Data-bound routes (/wechat, the JSON API, /u/bind, ...)
 * are added here by their modules, each with its kind and, for WeChat, its
 * busy reply.
 */
#include "routes.h"

#include <pthread.h>

#include "api.h"
#include "util.h"
#include "wx.h"

static const struct tk_route table[] = {
    {"/healthz", TK_M_GET, TK_ROUTE_PLAIN, TK_ROUTE_NO_SHED, tk_h_healthz,
     NULL},
    {"/metrics", TK_M_GET, TK_ROUTE_PLAIN, TK_ROUTE_NO_SHED, tk_h_metrics,
     NULL},
    {"/readyz", TK_M_GET, TK_ROUTE_PLAIN, TK_ROUTE_NO_SHED, tk_h_readyz,
     NULL},
    {"/u/help", TK_M_GET, TK_ROUTE_PAGE, 0, tk_page_help, NULL},
    {"/u/bind", TK_M_GET | TK_M_POST, TK_ROUTE_PAGE, 0, tk_page_bind, NULL},
    {"/u/activity", TK_M_GET, TK_ROUTE_PAGE, 0, tk_page_activity, NULL},
    {"/u/ticket", TK_M_GET, TK_ROUTE_PAGE, 0, tk_page_ticket, NULL},
    {"/u/tickets", TK_M_GET, TK_ROUTE_PAGE, 0, tk_page_tickets, NULL},
    {"/api/u/user/bind", TK_M_GET | TK_M_POST, TK_ROUTE_JSON, 0,
     tk_api_user_bind, NULL},
    {"/api/u/activity/detail", TK_M_GET, TK_ROUTE_JSON, 0,
     tk_api_activity_detail, NULL},
    {"/api/u/ticket/detail", TK_M_GET, TK_ROUTE_JSON, 0,
     tk_api_ticket_detail, NULL},
    {"/api/a/login", TK_M_GET | TK_M_POST, TK_ROUTE_JSON, 0, tk_api_a_login,
     NULL},
    {"/api/a/logout", TK_M_POST, TK_ROUTE_JSON, 0, tk_api_a_logout, NULL},
    {"/api/a/activity/list", TK_M_GET, TK_ROUTE_JSON, 0, tk_api_a_list,
     NULL},
    {"/api/a/activity/create", TK_M_POST, TK_ROUTE_JSON, 0, tk_api_a_create,
     NULL},
    {"/api/a/activity/delete", TK_M_POST, TK_ROUTE_JSON, 0, tk_api_a_delete,
     NULL},
    {"/api/a/activity/detail", TK_M_GET | TK_M_POST, TK_ROUTE_JSON, 0,
     tk_api_a_detail, NULL},
    {"/api/a/image/upload", TK_M_POST, TK_ROUTE_JSON, TK_ROUTE_UPLOAD,
     tk_api_a_upload, NULL},
    {"/api/a/activity/menu", TK_M_GET | TK_M_POST, TK_ROUTE_JSON, 0,
     tk_api_a_menu, NULL},
    {"/api/a/activity/checkin", TK_M_POST, TK_ROUTE_JSON, 0,
     tk_api_a_checkin, NULL},
    {"/wechat", TK_M_GET | TK_M_POST, TK_ROUTE_WECHAT, 0, tk_wx_handle,
     tk_wx_busy},
};

_Static_assert(TK_ARRAY_SIZE(table) + 1 <= 32,
               "the route table outgrew TK_METRICS_ROUTES");

static const char *names[TK_ARRAY_SIZE(table) + 1];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void
names_init(void)
{
    names[0] = "unmatched";
    for (size_t i = 0; i < TK_ARRAY_SIZE(table); i++) {
        names[i + 1] = table[i].path;
    }
}

const struct tk_route *
tk_routes(size_t *n)
{
    *n = TK_ARRAY_SIZE(table);
    return table;
}

const char *const *
tk_route_names(size_t *n)
{
    pthread_once(&names_once, names_init);
    *n = TK_ARRAY_SIZE(names);
    return names;
}
