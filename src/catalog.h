/* SPDX-License-Identifier: MIT
 * catalog.h -- Consul JSON in, plain C records out.
 * Owns:    parsing /v1/health/service/<svc> and /v1/catalog/services bodies
 *          (and /v1/health/state/<state> for the change detector) into the
 *          structs below; cJSON trees never leave catalog.c.
 * Never:   HTTP, DNS wire, sockets. */
#ifndef SRVSHIM_CATALOG_H
#define SRVSHIM_CATALOG_H

#include <stddef.h>
#include <stdint.h>

enum svc_health {
	SVC_PASSING = 0,
	SVC_WARNING = 1,
	SVC_CRITICAL = 2, /* also maintenance mode and unknown statuses */
};

/* One instance of a service, with its health already aggregated as Consul's
 * DNS does: the worst status of the instance's own checks and its node's
 * checks (those with an empty ServiceID). */
struct svc_instance {
	char *id;	/* Service.ID */
	char *node;	/* Node.Node */
	char *address;	/* Service.Address when non-empty, else Node.Address */
	uint16_t port;	/* Service.Port */
	uint32_t weight_passing; /* Service.Weights.Passing, default 1 */
	uint32_t weight_warning; /* Service.Weights.Warning, default 1 */
	enum svc_health health;
	char **tags;	/* Service.Tags, tag_count entries */
	size_t tag_count;
	char **meta_keys; /* Service.Meta, in the order Consul sent them */
	char **meta_values;
	size_t meta_count;
	char *check_output; /* the output of the worst check; "" if none */
};

/* All instances of one service, as one health/service reply told them. */
struct svc_record {
	char *name;
	struct svc_instance *inst;
	size_t count;
};

/* Parses a /v1/health/service/<name> body (a JSON array) into *out, which
 * the caller passes zeroed. out->name is set to a copy of name.
 * Instances without a usable ID, or with a port outside 0..65535, are
 * skipped (counted in *skipped when not NULL).
 * Returns 0, or -SRV_EFORMAT when the body is not the expected JSON shape;
 * on error *out is left empty (nothing to free, but catalog_record_fini()
 * is safe). Borrows body. */
int catalog_parse_health(const char *body, size_t len, const char *name,
			 struct svc_record *out, size_t *skipped);
/* Frees what catalog_parse_health() put into rec and zeroes it. */
void catalog_record_fini(struct svc_record *rec);

/* Parses a /v1/catalog/services body ({"name": ["tag", ...], ...}) into a
 * newly allocated array of service names, sorted by strcmp, *count entries.
 * Returns 0 or -SRV_EFORMAT. Free with catalog_names_free(). */
int catalog_parse_services(const char *body, size_t len, char ***names,
			   size_t *count);
void catalog_names_free(char **names, size_t count);

/* Parses a /v1/health/state/any body (array of checks) into the sorted,
 * de-duplicated names of the services those checks belong to, each with a
 * fingerprint of the state of its checks (a hash over CheckID, Status,
 * ModifyIndex), so the change detector can tell which services changed.
 * Node checks (empty ServiceName) are reported under the name "" with the
 * node name folded into the fingerprint. Free with catalog_states_free(). */
struct svc_state {
	char *name;
	uint64_t fingerprint;
};
int catalog_parse_states(const char *body, size_t len, struct svc_state **out,
			 size_t *count);
void catalog_states_free(struct svc_state *states, size_t count);

#endif
