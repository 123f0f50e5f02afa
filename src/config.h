/* SPDX-License-Identifier: MIT
 * config.h -- srvshimd's effective configuration.
 * Owns:    the option table (flags, defaults, bounds, help), Consul's
 *          environment variables, and checking all of it before the first
 *          socket opens.
 * Never:   sockets, Consul traffic. */
#ifndef SRVSHIM_CONFIG_H
#define SRVSHIM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "acl.h"
#include "log.h"
#include "zone.h"

#define CONFIG_MAX_LISTEN 16
#define CONFIG_MAX_RECURSORS 8

/* How to reach Consul's HTTP API: from CONSUL_HTTP_ADDR & co., overridden
 * by flags. Shared by the daemon and the srvshim tool. */
struct consul_cfg {
	char *base_url;	 /* "http://127.0.0.1:8500" (no trailing slash);
			  * for unix://, "http://localhost" */
	char *unix_path; /* socket path for unix://, else NULL */
	char *addr_text; /* as given, for logs and diagnostics */
	char *token;	 /* ACL token or NULL; never logged */
	char *cacert, *capath, *client_cert, *client_key; /* NULL if unset */
	bool ssl_verify;  /* CONSUL_HTTP_SSL_VERIFY, default true */
	char *datacenter; /* ?dc=, NULL for the agent's own */
	bool stale;	  /* ?stale (consistency mode "stale") */
	uint64_t wait_ms; /* blocking query wait (default 5 min) */
};

/* Fills c from the environment (CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN,
 * CONSUL_HTTP_TOKEN_FILE, CONSUL_CACERT, CONSUL_CAPATH,
 * CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY, CONSUL_HTTP_SSL_VERIFY).
 * Returns 0, or -1 with a message in err. */
int consul_cfg_from_env(struct consul_cfg *c, char *err, size_t errlen);
/* Sets the address from a CONSUL_HTTP_ADDR-style string: host:port,
 * http://host:port, https://host:port or unix:///path. */
int consul_cfg_set_addr(struct consul_cfg *c, const char *addr, char *err,
			size_t errlen);
/* Reads the token from a file (as CONSUL_HTTP_TOKEN_FILE), replacing any
 * token set before. Returns 0, or -1 with a message in err. */
int consul_cfg_set_token_file(struct consul_cfg *c, const char *path,
			      char *err, size_t errlen);
void consul_cfg_fini(struct consul_cfg *c);

struct listen_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	char text[80]; /* "127.0.0.1:53", "[::1]:53" */
};

struct config {
	struct listen_addr listen[CONFIG_MAX_LISTEN];
	size_t listen_count;
	char *zone_text;
	struct consul_cfg consul;
	uint32_t ttl_s;
	uint32_t neg_ttl_s;
	struct zone_svc_ttl *svc_ttls;
	size_t svc_ttl_count;
	bool only_passing;
	uint32_t weight_scale;
	uint16_t edns_size;
	unsigned max_watches;
	unsigned workers;	 /* UDP worker threads; 0 = one per core */
	unsigned tcp_max_conns;
	uint64_t tcp_idle_ms;
	enum log_level log_level;
	char *register_self; /* --register-self NAME, or NULL */
	bool syslog;		 /* log to syslog instead of stderr */
	bool query_log;		 /* one log line per query */
	char *config_path;	 /* --config / --check-config, or NULL */
	bool check_only;	 /* --check-config: print and exit */
	int argc;		 /* borrowed from main, for reload */
	char **argv;
	struct listen_addr http_listen; /* --http-listen; valid if http_enabled */
	bool http_enabled;
	uint64_t max_stale_ms;	/* --max-stale; 0: off */
	bool no_diagnostics;	/* --no-diagnostics: CH queries REFUSED */
	/* Forwarding (forward.c): empty recursors means no forwarding. */
	struct listen_addr recursors[CONFIG_MAX_RECURSORS];
	size_t recursor_count;
	uint64_t recursor_timeout_ms; /* per try; doubles each round */
	unsigned recursor_tries;
	unsigned cache_size;	      /* forward cache entries; 0 = off */
	struct acl allow;	      /* client networks answered at all */
	bool allow_set;		      /* --allow given: no default */
	char *user;		      /* drop to this user after binding */
};

/* Builds the configuration: defaults, then Consul's environment, then the
 * --config file (a JSON object keyed by long option names), then the flags
 * (a list flag such as --listen replaces the file's list). Keeps argv
 * (borrowed) so a reload can do the same again.
 * Returns 0 to run, 1 when --help, --version or --check-config printed what
 * was asked (exit 0), or -1 after printing an error that names the flag or
 * the file and key (exit 2). */
int config_parse_args(struct config *cfg, int argc, char **argv);
/* Prints the effective configuration as a config file would say it (the
 * token is shown as "(set)"). */
void config_print(const struct config *cfg, FILE *f);
void config_fini(struct config *cfg);
/* Fills a zone_cfg from the configuration. Returns 0 or -1 (logged). */
int config_zone_cfg(const struct config *cfg, struct zone_cfg *zc);

#endif
