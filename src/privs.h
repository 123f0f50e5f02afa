/* SPDX-License-Identifier: MIT
 * privs.h -- dropping root after the sockets are bound.
 * Owns:    --user: supplementary groups, group and user IDs, and proving
 *          that root cannot be regained.
 * Never:   sockets, threads (it runs before any thread starts, so every
 *          thread inherits the dropped IDs). */
#ifndef SRVSHIM_PRIVS_H
#define SRVSHIM_PRIVS_H

/* Drops to user (a name, or a numeric uid): setgroups() to the user's
 * primary group only, setgid(), setuid(), then checks that every real,
 * effective and saved ID changed and setuid(0) fails. Already running as
 * that user is fine. Returns 0, or -1 after logging what failed: the
 * caller exits (fail closed, never run on as root by accident). */
int privs_drop(const char *user);

#endif
