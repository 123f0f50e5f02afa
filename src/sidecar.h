/* SPDX-License-Identifier: MIT
 * sidecar.h -- one service instance kept registered in Consul.
 * Owns:    the instance ID (<name>-<uuid v4>, libuuid), a thread with its
 *          own struct http that registers the instance through the local
 *          agent, heartbeats its TTL check, registers again when the agent
 *          forgot it, backs off while the agent is unreachable, and
 *          deregisters at sidecar_stop().
 * Never:   DNS, processes, signals (the caller: tool.c, selfreg.c), JSON
 *          (catalog.c builds the body).
 *
 * The instance's health comes from the caller's health function, asked
 * before every heartbeat (every TTL/2) and every health_poll_ms in between:
 * a change of status is sent at once, not at the next heartbeat. */
#ifndef SRVSHIM_SIDECAR_H
#define SRVSHIM_SIDECAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

enum sidecar_health {
	SIDECAR_PASS = 0, /* PUT /v1/agent/check/pass/... */
	SIDECAR_WARN = 1, /* .../warn/... */
	SIDECAR_FAIL = 2, /* .../fail/... */
};

/* Runs on the sidecar thread. Writes a one-line note (NUL-terminated, at
 * most len bytes) that becomes the check's output, and returns the status
 * to report. Must not block for long: read state another thread keeps. */
typedef enum sidecar_health sidecar_health_fn(void *arg, char *note,
					      size_t len);

struct sidecar_cfg {
	const char *name;    /* Consul service name */
	const char *address; /* NULL or "": the node's address */
	uint16_t port;
	const char *const *tags;
	size_t tag_count;
	const char *const *meta_keys; /* meta_count pairs */
	const char *const *meta_values;
	size_t meta_count;
	uint32_t weight;	      /* Weights.Passing; 0: Consul's default */
	uint64_t ttl_ms;	      /* the TTL check's TTL, >= 1000 */
	uint64_t deregister_after_ms; /* DeregisterCriticalServiceAfter; 0 off */
	const char *check_name;	      /* e.g. "srvshim register" */
	uint64_t health_poll_ms;      /* 0: ask only at heartbeats */
	sidecar_health_fn *health;    /* NULL: always passing */
	void *health_arg;
};

struct sidecar;

/* Returns new, with a fresh ID. Copies everything in cfg except
 * health_arg; borrows consul until sidecar_free(). Nothing is sent before
 * sidecar_start(). */
struct sidecar *sidecar_new(const struct consul_cfg *consul,
			    const struct sidecar_cfg *cfg);
/* The instance ID, "<name>-<uuid>"; valid until sidecar_free(). */
const char *sidecar_id(const struct sidecar *s);
/* Starts the thread: register, then heartbeat. Returns 0 or -SRV_EIO. */
int sidecar_start(struct sidecar *s);
/* Stops heartbeating and deregisters the instance, trying for at most
 * timeout_ms, then joins the thread. Returns 0 when the agent confirmed the
 * deregistration (or nothing was ever sent), else -SRV_ETIMEOUT or
 * -SRV_EPROTO (logged). Safe to call once, from any one thread. */
int sidecar_stop(struct sidecar *s, uint64_t timeout_ms);
/* Takes NULL. Stops first (with a 5 s deadline) if still running. */
void sidecar_free(struct sidecar *s);

/* The delay before retry number attempt (0-based) after a failure: doubles
 * from SIDECAR_BACKOFF_MIN_MS up to cap_ms, and is drawn uniformly from the
 * upper half ("equal jitter") with r. Exposed for the unit test. */
#define SIDECAR_BACKOFF_MIN_MS 250u
struct rng;
uint64_t sidecar_backoff_ms(unsigned attempt, uint64_t cap_ms, struct rng *r);

#endif
