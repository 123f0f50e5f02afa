/* SPDX-License-Identifier: MIT
 * privs.c -- --user: give up root for good once the sockets are bound.
 * Owns:    nothing stateful.
 * Never:   sockets, threads, configuration parsing.
 * Start reading at privs_drop().
 *
 * Order matters: supplementary groups and the group must go while we are
 * still root (afterwards setgroups() and setgid() are not allowed), the
 * user last. Binding happened before, so port 53 needs root or
 * CAP_NET_BIND_SERVICE only at start; with the capability and no root
 * (systemd's AmbientCapabilities=) --user is not needed at all. */
#include "config_feat.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <unistd.h>

#include "log.h"
#include "privs.h"
#include "util.h"

int
privs_drop(const char *user)
{
	struct passwd *pw;
	uid_t uid, ruid, euid, suid;
	gid_t gid, rgid, egid, sgid;
	uint64_t n;

	errno = 0;
	pw = getpwnam(user);
	if (pw == NULL && parse_uint(user, 1, 0xfffffffe, &n) == 0)
		pw = getpwuid((uid_t)n);
	if (pw == NULL) {
		log_msg(LOG_LVL_ERROR, "privs: --user %s, no such user%s%s; "
			"create it or name another", user, errno ? ": " : "",
			errno ? strerror(errno) : "");
		return -1;
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (uid == 0) {
		log_msg(LOG_LVL_ERROR, "privs: --user %s is root; name an "
			"unprivileged user", user);
		return -1;
	}
	if (getuid() == uid && geteuid() == uid) {
		log_info("privs: already running as %s (uid %u)", user,
			 (unsigned)uid);
		return 0;
	}
	if (geteuid() != 0) {
		log_msg(LOG_LVL_ERROR, "privs: --user %s needs srvshimd to "
			"start as root (running as uid %u); start it as root "
			"or drop --user", user, (unsigned)geteuid());
		return -1;
	}
	if (setgroups(1, &gid) != 0) {
		log_msg(LOG_LVL_ERROR, "privs: setgroups for %s: %s", user,
			strerror(errno));
		return -1;
	}
	if (setresgid(gid, gid, gid) != 0) {
		log_msg(LOG_LVL_ERROR, "privs: setgid %u for %s: %s",
			(unsigned)gid, user, strerror(errno));
		return -1;
	}
	if (setresuid(uid, uid, uid) != 0) {
		log_msg(LOG_LVL_ERROR, "privs: setuid %u for %s: %s",
			(unsigned)uid, user, strerror(errno));
		return -1;
	}
	/* Prove it: every ID moved, and root cannot come back. */
	if (getresuid(&ruid, &euid, &suid) != 0 ||
	    getresgid(&rgid, &egid, &sgid) != 0 || ruid != uid ||
	    euid != uid || suid != uid || rgid != gid || egid != gid ||
	    sgid != gid || setuid(0) == 0 || seteuid(0) == 0) {
		log_msg(LOG_LVL_ERROR, "privs: dropping to %s did not stick "
			"(uid %u/%u/%u gid %u/%u/%u); refusing to run",
			user, (unsigned)ruid, (unsigned)euid, (unsigned)suid,
			(unsigned)rgid, (unsigned)egid, (unsigned)sgid);
		return -1;
	}
	/* No setuid binary run from here could give root back either. */
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	log_info("privs: running as %s (uid %u, gid %u)", user, (unsigned)uid,
		 (unsigned)gid);
	return 0;
}
