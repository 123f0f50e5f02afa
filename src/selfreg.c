/* SPDX-License-Identifier: MIT
 * selfreg.c -- srvshimd as a Consul service of its own (--register-self).
 * Owns:    the sidecar of the daemon's own instance and its health rule.
 * Borrows: the config and the watch from main.c until selfreg_stop().
 * Never:   DNS, HTTP (sidecar.c), the watch's internals.
 *
 * The fleet's resolvers are then discoverable (`<name>.service.local`) and
 * monitored: the TTL check passes only while this daemon's own view of
 * Consul is good (the watch is connected and has synced once), so a
 * srvshimd that serves stale data because it lost Consul shows critical,
 * and one that died expires after the TTL. */
#include "config_feat.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "selfreg.h"
#include "sidecar.h"
#include "util.h"

#define SELF_TTL_MS 10000u	   /* heartbeat every 5 s */
#define SELF_DEREG_AFTER_MS 60000u /* a crashed srvshimd leaves after 1 min */
#define SELF_POLL_MS 1000u	   /* a watch state change is sent within 1 s */
#define SELF_STOP_MS 3000u

struct selfreg {
	struct sidecar *side;
	struct watch *w; /* borrowed */
};

static enum sidecar_health
self_health(void *arg, char *note, size_t len)
{
	struct selfreg *r = arg;
	struct watch_status st;

	watch_get_status(r->w, &st);
	if (!st.connected) {
		snprintf(note, len, "srvshimd: consul watch not connected "
			 "(%" PRIu64 " failed requests; serving the last good "
			 "data)", st.errors);
		return SIDECAR_FAIL;
	}
	if (!st.synced) {
		snprintf(note, len, "srvshimd: consul watch not synced yet");
		return SIDECAR_FAIL;
	}
	snprintf(note, len, "srvshimd: consul watch synced, %u services, "
		 "%u instances, serial %" PRIu32,
		 st.services, st.instances, st.serial);
	return SIDECAR_PASS;
}

struct selfreg *
selfreg_start(const struct config *cfg, struct watch *w)
{
	static const char *const keys[] = {"srvshim_version", "srvshim_zone"};
	const char *values[2];
	const struct listen_addr *la = &cfg->listen[0];
	char addr[INET6_ADDRSTRLEN] = "";
	uint16_t port = 0;
	struct selfreg *r;
	struct sidecar_cfg sc;

	if (cfg->register_self == NULL || cfg->listen_count == 0)
		return NULL;
	if (la->ss.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)&la->ss;
		if (sin->sin_addr.s_addr != htonl(INADDR_ANY))
			inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof(addr));
		port = ntohs(sin->sin_port);
	} else if (la->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)&la->ss;
		if (!IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr))
			inet_ntop(AF_INET6, &sin6->sin6_addr, addr,
				  sizeof(addr));
		port = ntohs(sin6->sin6_port);
	}
	r = xcalloc(1, sizeof(*r));
	r->w = w;
	values[0] = PACKAGE_VERSION;
	values[1] = cfg->zone_text;
	sc = (struct sidecar_cfg){
		.name = cfg->register_self,
		.address = addr,
		.port = port,
		.meta_keys = keys,
		.meta_values = values,
		.meta_count = 2,
		.ttl_ms = SELF_TTL_MS,
		.deregister_after_ms = SELF_DEREG_AFTER_MS,
		.check_name = "srvshimd consul watch",
		.health_poll_ms = SELF_POLL_MS,
		.health = self_health,
		.health_arg = r,
	};
	r->side = sidecar_new(&cfg->consul, &sc);
	if (sidecar_start(r->side) != 0) {
		sidecar_free(r->side);
		free(r);
		return NULL;
	}
	log_info("main: registering as %s in consul (service %s, %s)",
		 sidecar_id(r->side), cfg->register_self, la->text);
	return r;
}

void
selfreg_stop(struct selfreg *r)
{
	if (r == NULL)
		return;
	sidecar_stop(r->side, SELF_STOP_MS);
	sidecar_free(r->side);
	free(r);
}
