/* SPDX-License-Identifier: MIT
 * acl.c -- client networks: parse --allow prefixes, match client addresses.
 * Owns:    nothing stateful; works on the caller's struct acl.
 * Never:   sockets, packets, allocation (this runs per packet).
 * Start reading at acl_allows(). */
#include "config_feat.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "acl.h"
#include "util.h"

int
acl_parse(const char *text, struct acl_prefix *p, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	size_t hlen = slash ? (size_t)(slash - text) : strlen(text);
	uint64_t bits;

	memset(p, 0, sizeof(*p));
	if (hlen == 0 || hlen >= sizeof(host))
		goto bad;
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, p->addr) == 1)
		p->family = 4;
	else if (inet_pton(AF_INET6, host, p->addr) == 1)
		p->family = 6;
	else
		goto bad;
	unsigned max = p->family == 4 ? 32 : 128;
	if (slash == NULL)
		bits = max;
	else if (parse_uint(slash + 1, 0, max, &bits) != 0)
		goto bad;
	p->bits = (uint8_t)bits;
	/* Host bits below the prefix must be zero. */
	for (unsigned i = 0; i < max / 8; i++) {
		unsigned lo = i * 8;
		uint8_t mask = lo >= bits ? 0
			       : lo + 8 <= bits
				   ? 0xff
				   : (uint8_t)(0xff << (8 - (bits - lo)));
		if (p->addr[i] & (uint8_t)~mask) {
			snprintf(err, errlen, "--allow %s: address has bits set "
				 "beyond the /%u prefix (did you mean the "
				 "network address?)", text, (unsigned)bits);
			return -1;
		}
	}
	return 0;
bad:
	snprintf(err, errlen, "--allow %s: expected ADDR/BITS or ADDR, e.g. "
		 "127.0.0.0/8, 10.1.0.0/16 or ::1/128", text);
	return -1;
}

int
acl_add(struct acl *a, const struct acl_prefix *p)
{
	if (a->count == ACL_MAX)
		return -1;
	a->p[a->count++] = *p;
	return 0;
}

void
acl_default(struct acl *a)
{
	char err[128];
	memset(a, 0, sizeof(*a));
	acl_parse("127.0.0.0/8", &a->p[a->count++], err, sizeof(err));
	acl_parse("::1/128", &a->p[a->count++], err, sizeof(err));
}

static bool
prefix_match(const struct acl_prefix *p, const uint8_t *addr)
{
	unsigned full = p->bits / 8u, rest = p->bits % 8u;
	if (memcmp(p->addr, addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (addr[full] & mask) == p->addr[full];
}

bool
acl_allows(const struct acl *a, const struct sockaddr *sa)
{
	const uint8_t *addr;
	uint8_t family;

	if (sa->sa_family == AF_INET) {
		addr = (const uint8_t *)&((const struct sockaddr_in *)
					      (const void *)sa)->sin_addr;
		family = 4;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *in6 =
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		addr = in6->s6_addr;
		family = 6;
		if (IN6_IS_ADDR_V4MAPPED(in6)) {
			addr += 12;
			family = 4;
		}
	} else {
		return false;
	}
	for (size_t i = 0; i < a->count; i++)
		if (a->p[i].family == family && prefix_match(&a->p[i], addr))
			return true;
	return false;
}

char *
acl_prefix_text(const struct acl_prefix *p, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	inet_ntop(p->family == 4 ? AF_INET : AF_INET6, p->addr, host,
		  sizeof(host));
	snprintf(out, len, "%s/%u", host, (unsigned)p->bits);
	return out;
}
