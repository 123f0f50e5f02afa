/* SPDX-License-Identifier: MIT
 * sdnotify.h -- the service manager's notification protocol (sd_notify(3)).
 * Owns:    sending READY=1, STATUS=, WATCHDOG=1 and STOPPING=1 datagrams to
 *          $NOTIFY_SOCKET, and reading $WATCHDOG_USEC / $WATCHDOG_PID.
 * Never:   deciding when to send (main.c does), linking libsystemd (the
 *          protocol is one datagram on an AF_UNIX socket; see DESIGN.md). */
#ifndef SRVSHIM_SDNOTIFY_H
#define SRVSHIM_SDNOTIFY_H

#include <stdint.h>

/* Sends msg (newline-separated VAR=value assignments) to the socket named
 * by $NOTIFY_SOCKET: a filesystem path, or an abstract name written with a
 * leading '@'. Returns 1 when sent, 0 when not started with a notification
 * socket, -1 (errno set) when the variable is malformed or sending failed. */
int sdnotify_send(const char *msg);
/* The watchdog period in microseconds the service manager expects pets
 * within ($WATCHDOG_USEC, honoured only when $WATCHDOG_PID is unset or this
 * process's pid), or 0 when no watchdog is asked for or the values are
 * malformed. */
uint64_t sdnotify_watchdog_usec(void);

#endif
