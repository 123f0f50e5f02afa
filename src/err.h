/* SPDX-License-Identifier: MIT
 * err.h -- srvshim's error codes.
 * Owns:    the SRV_E* values every fallible call returns (negated), and
 *          srv_strerror() to turn one into words.
 * Never:   anything else; keep it small. */
#ifndef SRVSHIM_ERR_H
#define SRVSHIM_ERR_H

enum srv_err {
	SRV_OK = 0,
	SRV_ETRUNC = 1,	 /* input ended early */
	SRV_EFORMAT = 2, /* malformed input (DNS, JSON, option value) */
	SRV_ERANGE = 3,	 /* value out of bounds */
	SRV_ENOSPC = 4,	 /* output buffer full */
	SRV_ENOENT = 5,	 /* not found */
	SRV_EIO = 6,	 /* a system call failed; errno says more */
	SRV_EPROTO = 7,	 /* a peer broke its protocol (HTTP status, Consul) */
	SRV_ETIMEOUT = 8,
	SRV_EEXIST = 9,
};

/* Returns a static string for a negative (or positive) SRV_E* code. */
const char *srv_strerror(int err);

#endif
