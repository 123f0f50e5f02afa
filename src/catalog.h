/* SPDX-License-Identifier: MIT
 * catalog.h -- Consul JSON in, plain C records out.
 * Owns:    parsing /v1/health/service/<svc> and /v1/catalog/services bodies
 *          (and /v1/health/state/<state> for the change detector) into the
 *          structs below, and building /v1/agent/service/register bodies
 *          for sidecar.c; cJSON trees never leave catalog.c.
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

/* The change detector, for services beyond the watcher's connection cap.
 * Parses a /v1/health/state/any body (a JSON array of checks) into one entry
 * per service and one per node that has checks:
 *   SVC_STATE_SERVICE, name = ServiceName: folds every check with a
 *     non-empty ServiceID, over all nodes (that service's own checks);
 *   SVC_STATE_NODE, name = Node: folds every check with an empty or absent
 *     ServiceID (node checks such as serfHealth and node maintenance).
 * A fingerprint is the sum (mod 2^64) of a 64-bit hash per check over Node,
 * CheckID, ServiceID, Status and ModifyIndex, so it does not depend on the
 * order Consul lists checks in and changes when any check of that service
 * or node is added, removed or modified (a changed Output bumps
 * ModifyIndex). Entries are sorted by kind (services first), then by
 * strcmp on name, with no duplicates, so two replies can be merge-compared.
 * A service needs a refetch when its entry appeared, disappeared or changed
 * fingerprint, or when the entry of any node its last health/service reply
 * placed an instance on did. What this cannot see: services without any
 * check, and registration changes (address, port, tags, meta) that touch
 * no check. Those move the X-Consul-Index of /v1/catalog/services (the
 * services table index in Consul 1.8) without saying which service.
 * Checks that are not objects, service checks without a ServiceName and
 * node checks without a Node are ignored.
 * Returns 0 (*out may be NULL when *count is 0) or -SRV_EFORMAT when the
 * body is not a JSON array (*out NULL, *count 0). Borrows body; free the
 * result with catalog_states_free(). */
enum svc_state_kind {
	SVC_STATE_SERVICE = 0,
	SVC_STATE_NODE = 1,
};
struct svc_state {
	enum svc_state_kind kind;
	char *name; /* ServiceName or Node */
	uint64_t fingerprint;
};
int catalog_parse_states(const char *body, size_t len, struct svc_state **out,
			 size_t *count);
/* Takes NULL. */
void catalog_states_free(struct svc_state *states, size_t count);

/* One service instance to register through the agent
 * (PUT /v1/agent/service/register), with one TTL check. Everything is
 * borrowed during catalog_register_body() only. */
struct catalog_reg {
	const char *id;	     /* Service.ID */
	const char *name;    /* Service.Name */
	const char *address; /* NULL or "": the node's address */
	uint16_t port;
	const char *const *tags;
	size_t tag_count;
	const char *const *meta_keys; /* meta_count pairs */
	const char *const *meta_values;
	size_t meta_count;
	uint32_t weight_passing; /* 0: leave Weights out (Consul's 1/1) */
	uint32_t weight_warning;
	const char *check_id;	 /* the TTL check, e.g. "service:<id>" */
	const char *check_name;
	const char *check_notes;  /* NULL: none */
	const char *check_status; /* initial status: "passing", "warning" or
				   * "critical" (NULL: Consul's, critical) */
	uint64_t ttl_ms;
	uint64_t deregister_after_ms; /* 0: never (field left out) */
};

/* Returns the JSON body for r, new and NUL-terminated; free with free().
 * Durations are written as Go durations ("10s", "1500ms"). */
char *catalog_register_body(const struct catalog_reg *r);

#endif
