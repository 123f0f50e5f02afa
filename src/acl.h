/* SPDX-License-Identifier: MIT
 * acl.h -- which clients srvshimd answers at all.
 * Owns:    a short list of address prefixes (--allow CIDR), parsing them
 *          and matching a client address against them.
 * Never:   sockets, packets. Pure and allocation-free.
 *
 * srvshim must never be an open resolver: a client outside every prefix
 * gets REFUSED for everything, zone answers and forwarding alike. */
#ifndef SRVSHIM_ACL_H
#define SRVSHIM_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ACL_MAX 32

struct acl_prefix {
	uint8_t family;	  /* 4 or 6 */
	uint8_t bits;	  /* prefix length */
	uint8_t addr[16]; /* network address, host bits zero */
};

struct acl {
	struct acl_prefix p[ACL_MAX];
	size_t count;
};

/* Parses "ADDR/BITS" or a bare ADDR (a host: /32 or /128) into *p.
 * Host bits set below the prefix are an error (10.0.0.1/8 is a typo more
 * often than a wish). Returns 0 or -1 with a message in err. */
int acl_parse(const char *text, struct acl_prefix *p, char *err,
	      size_t errlen);
/* Appends a prefix. Returns 0, or -1 when the list is full. */
int acl_add(struct acl *a, const struct acl_prefix *p);
/* The default: 127.0.0.0/8 and ::1/128. */
void acl_default(struct acl *a);
/* True when the client address (AF_INET or AF_INET6; an IPv4-mapped IPv6
 * address is matched as IPv4) falls in any prefix. */
bool acl_allows(const struct acl *a, const struct sockaddr *sa);
/* Writes "127.0.0.0/8" for logs and -n -v output. Returns out. */
char *acl_prefix_text(const struct acl_prefix *p, char *out, size_t len);

#endif
