/*
 * ticketd: the FastCGI application. This file holds main() only: options,
 * configuration check (-t) and the hand-over to the server.
 */
#include "app.h"
#include "conf.h"
#include "daemon.h"
#include "server.h"

int
main(int argc, char **argv)
{
    struct tk_conf conf;
    int rc = tk_daemon_start(argc, argv, "ticketd", &conf, NULL);

    if (rc >= 0) {
        return rc;
    }
    return tk_server_run(conf.path, &conf, &tk_app_hooks);
}
