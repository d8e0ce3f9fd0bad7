/*
 * sd_notify adapter. Calls are cheap when NOTIFY_SOCKET is unset (ticketd
 * started by hand or by scripts/stack): libsystemd returns at once.
 */
#include "config.h"

#include "notify.h"

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#include <time.h>

void
tk_notify_ready(void)
{
    (void)sd_notify(0, "READY=1\nSTATUS=serving");
}

void
tk_notify_reloading(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    (void)sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
                     (unsigned long long)ts.tv_sec * 1000000ULL +
                         (unsigned long long)ts.tv_nsec / 1000ULL);
}

void
tk_notify_stopping(void)
{
    (void)sd_notify(0, "STOPPING=1");
}

void
tk_notify_watchdog(void)
{
    (void)sd_notify(0, "WATCHDOG=1");
}

int64_t
tk_notify_watchdog_ms(void)
{
    uint64_t usec = 0;

    if (sd_watchdog_enabled(0, &usec) <= 0) {
        return 0;
    }
    return (int64_t)(usec / 1000);
}

#else

void
tk_notify_ready(void)
{
}

void
tk_notify_reloading(void)
{
}

void
tk_notify_stopping(void)
{
}

void
tk_notify_watchdog(void)
{
}

int64_t
tk_notify_watchdog_ms(void)
{
    return 0;
}

#endif
