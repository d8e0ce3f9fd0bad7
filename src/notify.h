/*
 * Service manager notifications (sd_notify). The only file that knows
 * about libsystemd; without it (configure --without-systemd) every call is
 * a no-op and the watchdog interval is 0.
 */
#ifndef TK_NOTIFY_H
#define TK_NOTIFY_H

#include <stdint.h>

void tk_notify_ready(void);
/* RELOADING=1 with the MONOTONIC_USEC systemd 253 asks for. */
void tk_notify_reloading(void);
void tk_notify_stopping(void);
void tk_notify_watchdog(void);
/* The watchdog interval the service manager expects, in ms; 0 if none. */
int64_t tk_notify_watchdog_ms(void);

#endif
