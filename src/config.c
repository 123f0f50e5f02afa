/* SPDX-License-Identifier: MIT
 * config.c -- the option table: flags, defaults, bounds and help, all from
 *             one table; Consul's environment variables.
 * Owns:    struct config and struct consul_cfg contents.
 * Never:   sockets, Consul traffic. Everything is checked before the first
 *          socket opens.
 * Start reading at the options[] table. */
#include "config_feat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "util.h"

enum opt_type { T_LISTEN, T_STR, T_DUR, T_DUR_S, T_UINT, T_BOOL, T_SVCTTL,
		T_LEVEL, T_CONSUL, T_CONSISTENCY, T_FILE };

struct option_def {
	const char *name;
	enum opt_type type;
	const char *arg;     /* metavariable for --help, NULL for booleans */
	const char *def;     /* default shown in --help */
	uint64_t lo, hi;     /* bounds (uint: value; durations: ms) */
	size_t off;	     /* offsetof(struct config, field) */
	const char *help;
};

#define OFF(f) offsetof(struct config, f)
#define DAY_MS (86400ull * 1000)

static const struct option_def options[] = {
	{"listen", T_LISTEN, "ADDR:PORT", "127.0.0.1:53", 0, 0, 0,
	 "address to answer DNS on, UDP and TCP (repeatable; IPv6 as [::1]:53)"},
	{"zone", T_STR, "NAME", "service.local", 0, 0, OFF(zone_text),
	 "the zone srvshim is authoritative for"},
	{"consul", T_CONSUL, "ADDR", "$CONSUL_HTTP_ADDR or 127.0.0.1:8500", 0, 0, 0,
	 "Consul HTTP API: host:port, http://, https:// or unix:///path"},
	{"token-file", T_FILE, "FILE", "$CONSUL_HTTP_TOKEN_FILE", 0, 0, 0,
	 "read the Consul ACL token from FILE"},
	{"datacenter", T_STR, "DC", "the agent's", 0, 0, 0,
	 "Consul datacenter to serve"},
	{"consistency", T_CONSISTENCY, "MODE", "default", 0, 0, 0,
	 "Consul read consistency: default or stale"},
	{"wait", T_DUR, "DURATION", "5m", 1000, 10 * 60 * 1000, 0,
	 "how long a Consul blocking query waits (1s..10m)"},
	{"ttl", T_DUR_S, "DURATION", "0", 0, 7 * DAY_MS, OFF(ttl_s),
	 "TTL of positive answers"},
	{"negative-ttl", T_DUR_S, "DURATION", "5s", 1000, DAY_MS, OFF(neg_ttl_s),
	 "TTL of negative answers (SOA minimum, RFC 2308); at least 1s"},
	{"service-ttl", T_SVCTTL, "NAME=DURATION", NULL, 0, 7 * DAY_MS, 0,
	 "positive TTL for one service (repeatable)"},
	{"only-passing", T_BOOL, NULL, "off", 0, 0, OFF(only_passing),
	 "serve passing instances only (default: warning ones too)"},
	{"weight-scale", T_UINT, "N", "1", 1, 256, OFF(weight_scale),
	 "multiply SRV weights by N (256 suits HAProxy)"},
	{"edns-size", T_UINT, "N", "1232", 512, 4096, OFF(edns_size),
	 "largest UDP reply srvshim sends with EDNS (512..4096)"},
	{"max-watches", T_UINT, "N", "64", 1, 190, OFF(max_watches),
	 "blocking queries open to Consul at once (1..190)"},
	{"workers", T_UINT, "N", "one per core", 0, 64, OFF(workers),
	 "UDP worker threads (0: one per core)"},
	{"tcp-max-conns", T_UINT, "N", "512", 1, 65536, OFF(tcp_max_conns),
	 "open TCP connections at most"},
	{"tcp-idle-timeout", T_DUR, "DURATION", "10s", 100, 10 * 60 * 1000,
	 OFF(tcp_idle_ms), "close a TCP connection idle this long"},
	{"log-level", T_LEVEL, "LEVEL", "info", 0, 0, OFF(log_level),
	 "error, warn, info or debug"},
	{"max-stale", T_DUR, "DURATION", "0 (off)", 0, 7 * DAY_MS,
	 OFF(max_stale_ms),
	 "answer SERVFAIL in the zone once the data is older than this "
	 "(Consul failing); 0: serve the last good data forever"},
	{"help", T_BOOL, NULL, NULL, 0, 0, 0, "print this help and exit"},
	{"version", T_BOOL, NULL, NULL, 0, 0, 0, "print the version and exit"},
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: srvshimd [OPTION]...\n"
		   "Serve Consul's healthy services as DNS.\n\n");
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		const struct option_def *o = &options[i];
		char left[64];
		snprintf(left, sizeof(left), "--%s%s%s", o->name,
			 o->arg ? " " : "", o->arg ? o->arg : "");
		fprintf(f, "  %-28s %s", left, o->help);
		if (o->def)
			fprintf(f, " [%s]", o->def);
		fputc('\n', f);
	}
	fprintf(f, "\nEnvironment: CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN, "
		   "CONSUL_HTTP_TOKEN_FILE, CONSUL_CACERT,\n  CONSUL_CAPATH, "
		   "CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY, "
		   "CONSUL_HTTP_SSL_VERIFY.\n"
		   "Durations: 250ms, 10s, 5m, 1h; a bare number is seconds.\n"
		   "See srvshimd(8).\n");
}

/* ---- Consul's environment ------------------------------------------------ */

static void
set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = v && *v ? xstrdup(v) : NULL;
}

int
consul_cfg_set_addr(struct consul_cfg *c, const char *addr, char *err,
		    size_t errlen)
{
	char buf[512];
	const char *scheme = "http";
	const char *rest = addr;

	if (addr == NULL || *addr == '\0') {
		snprintf(err, errlen, "empty Consul address");
		return -1;
	}
	set_str(&c->addr_text, addr);
	if (strncmp(addr, "unix://", 7) == 0) {
		if (addr[7] != '/') {
			snprintf(err, errlen, "Consul address %s: a unix socket "
				 "needs an absolute path (unix:///path)", addr);
			return -1;
		}
		set_str(&c->unix_path, addr + 7);
		set_str(&c->base_url, "http://localhost");
		return 0;
	}
	if (strncmp(addr, "http://", 7) == 0) {
		rest = addr + 7;
	} else if (strncmp(addr, "https://", 8) == 0) {
		scheme = "https";
		rest = addr + 8;
	} else if (strstr(addr, "://") != NULL) {
		snprintf(err, errlen, "Consul address %s: scheme must be "
			 "http, https or unix", addr);
		return -1;
	}
	size_t n = strcspn(rest, "/");
	if (n == 0 || n > 300) {
		snprintf(err, errlen, "Consul address %s: no host", addr);
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s://%.*s", scheme, (int)n, rest);
	set_str(&c->base_url, buf);
	set_str(&c->unix_path, NULL);
	return 0;
}

static int
read_token_file(struct consul_cfg *c, const char *path, char *err,
		size_t errlen)
{
	char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL) {
		snprintf(err, errlen, "cannot read token file %s: %s", path,
			 strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
			 buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		buf[--n] = '\0';
	set_str(&c->token, buf);
	return 0;
}

int
consul_cfg_from_env(struct consul_cfg *c, char *err, size_t errlen)
{
	char why[400];
	const char *v;

	memset(c, 0, sizeof(*c));
	c->ssl_verify = true;
	c->wait_ms = 5 * 60 * 1000;
	v = getenv("CONSUL_HTTP_ADDR");
	if (consul_cfg_set_addr(c, v && *v ? v : "127.0.0.1:8500", why,
				sizeof(why)) != 0) {
		snprintf(err, errlen, "CONSUL_HTTP_ADDR: %s", why);
		return -1;
	}
	set_str(&c->token, getenv("CONSUL_HTTP_TOKEN"));
	v = getenv("CONSUL_HTTP_TOKEN_FILE"); /* wins over the token */
	if (v && *v && read_token_file(c, v, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "CONSUL_HTTP_TOKEN_FILE: %s", why);
		return -1;
	}
	set_str(&c->cacert, getenv("CONSUL_CACERT"));
	set_str(&c->capath, getenv("CONSUL_CAPATH"));
	set_str(&c->client_cert, getenv("CONSUL_CLIENT_CERT"));
	set_str(&c->client_key, getenv("CONSUL_CLIENT_KEY"));
	v = getenv("CONSUL_HTTP_SSL_VERIFY");
	if (v && *v) {
		if (strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0)
			c->ssl_verify = false;
		else if (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0)
			c->ssl_verify = true;
		else {
			snprintf(err, errlen, "CONSUL_HTTP_SSL_VERIFY=%s: use "
				 "true or false", v);
			return -1;
		}
	}
	return 0;
}

void
consul_cfg_fini(struct consul_cfg *c)
{
	free(c->base_url);
	free(c->unix_path);
	free(c->addr_text);
	if (c->token)
		explicit_bzero(c->token, strlen(c->token));
	free(c->token);
	free(c->cacert);
	free(c->capath);
	free(c->client_cert);
	free(c->client_key);
	free(c->datacenter);
	memset(c, 0, sizeof(*c));
}

/* ---- values ---------------------------------------------------------------- */

/* Parses ADDR:PORT, [V6]:PORT. */
static int
parse_listen(const char *s, struct listen_addr *la, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN];
	const char *colon;
	uint64_t port;

	memset(la, 0, sizeof(*la));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':' ||
		    (size_t)(close - s - 1) >= sizeof(host))
			goto bad;
		memcpy(host, s + 1, (size_t)(close - s - 1));
		host[close - s - 1] = '\0';
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || (size_t)(colon - s) >= sizeof(host) ||
		    strchr(s, ':') != colon)
			goto bad;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
	}
	if (parse_uint(colon + 1, 1, 65535, &port) != 0)
		goto bad;
	struct sockaddr_in *sin = (struct sockaddr_in *)&la->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&la->ss;
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		la->len = sizeof(*sin);
		snprintf(la->text, sizeof(la->text), "%s:%u", host,
			 (unsigned)port);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		la->len = sizeof(*sin6);
		snprintf(la->text, sizeof(la->text), "[%s]:%u", host,
			 (unsigned)port);
	} else {
		goto bad;
	}
	return 0;
bad:
	snprintf(err, errlen, "--listen %s: expected ADDR:PORT with a numeric "
		 "IPv4 address or [IPv6]:PORT, e.g. 127.0.0.1:53 or [::1]:53", s);
	return -1;
}

static const char *
fmt_ms(uint64_t ms, char *out, size_t len)
{
	if (ms % 3600000 == 0 && ms != 0)
		snprintf(out, len, "%lluh", (unsigned long long)(ms / 3600000));
	else if (ms % 60000 == 0 && ms != 0)
		snprintf(out, len, "%llum", (unsigned long long)(ms / 60000));
	else if (ms % 1000 == 0)
		snprintf(out, len, "%llus", (unsigned long long)(ms / 1000));
	else
		snprintf(out, len, "%llums", (unsigned long long)ms);
	return out;
}

static int
set_option(struct config *cfg, const struct option_def *o, const char *v,
	   char *err, size_t errlen)
{
	char *base = (char *)cfg;
	uint64_t n;
	int rc;

	switch (o->type) {
	case T_LISTEN:
		if (cfg->listen_count == CONFIG_MAX_LISTEN) {
			snprintf(err, errlen, "--listen: at most %d addresses",
				 CONFIG_MAX_LISTEN);
			return -1;
		}
		if (parse_listen(v, &cfg->listen[cfg->listen_count], err,
				 errlen) != 0)
			return -1;
		cfg->listen_count++;
		return 0;
	case T_STR:
		if (strcmp(o->name, "datacenter") == 0)
			set_str(&cfg->consul.datacenter, v);
		else
			set_str((char **)(base + o->off), v);
		return 0;
	case T_CONSUL:
	case T_FILE: {
		char why[400];
		rc = o->type == T_CONSUL
			 ? consul_cfg_set_addr(&cfg->consul, v, why, sizeof(why))
			 : read_token_file(&cfg->consul, v, why, sizeof(why));
		if (rc != 0)
			snprintf(err, errlen, "--%s: %s", o->name, why);
		return rc;
	}
	case T_CONSISTENCY:
		if (strcmp(v, "default") == 0)
			cfg->consul.stale = false;
		else if (strcmp(v, "stale") == 0)
			cfg->consul.stale = true;
		else
			goto bad;
		return 0;
	case T_UINT:
		if ((rc = parse_uint(v, o->lo, o->hi, &n)) != 0)
			goto bad;
		if (strcmp(o->name, "edns-size") == 0)
			*(uint16_t *)(base + o->off) = (uint16_t)n;
		else
			*(unsigned *)(base + o->off) = (unsigned)n;
		if (strcmp(o->name, "weight-scale") == 0)
			cfg->weight_scale = (uint32_t)n;
		return 0;
	case T_DUR:
		if (parse_duration_ms(v, &n) != 0 || n < o->lo || n > o->hi)
			goto bad;
		if (strcmp(o->name, "wait") == 0)
			cfg->consul.wait_ms = n;
		else
			*(uint64_t *)(base + o->off) = n;
		return 0;
	case T_DUR_S:
		if (parse_duration_ms(v, &n) != 0 || n < o->lo || n > o->hi ||
		    n % 1000 != 0)
			goto bad;
		*(uint32_t *)(base + o->off) = (uint32_t)(n / 1000);
		return 0;
	case T_SVCTTL: {
		const char *eq = strchr(v, '=');
		if (eq == NULL || eq == v ||
		    parse_duration_ms(eq + 1, &n) != 0 || n > o->hi ||
		    n % 1000 != 0)
			goto bad;
		cfg->svc_ttls = xreallocarray(cfg->svc_ttls,
					      cfg->svc_ttl_count + 1,
					      sizeof(*cfg->svc_ttls));
		cfg->svc_ttls[cfg->svc_ttl_count].name =
		    xstrndup(v, (size_t)(eq - v));
		cfg->svc_ttls[cfg->svc_ttl_count].ttl_s = (uint32_t)(n / 1000);
		cfg->svc_ttl_count++;
		return 0;
	}
	case T_LEVEL:
		if (log_level_parse(v, (enum log_level *)(base + o->off)) != 0)
			goto bad;
		return 0;
	case T_BOOL:
		*(bool *)(base + o->off) = true;
		return 0;
	}
bad:
	if (o->type == T_UINT)
		snprintf(err, errlen, "--%s %s: expected a whole number from "
			 "%llu to %llu", o->name, v, (unsigned long long)o->lo,
			 (unsigned long long)o->hi);
	else if (o->type == T_DUR || o->type == T_DUR_S || o->type == T_SVCTTL) {
		char lo[32], hi[32];
		snprintf(err, errlen, "--%s %s: expected %s%s from %s to %s, "
			 "e.g. %s", o->name, v,
			 o->type == T_SVCTTL ? "NAME=" : "",
			 o->type == T_DUR ? "a duration" : "whole seconds",
			 fmt_ms(o->lo, lo, sizeof(lo)),
			 fmt_ms(o->hi, hi, sizeof(hi)),
			 o->type == T_SVCTTL ? "web=30s"
			 : o->type == T_DUR  ? "250ms, 10s, 5m"
					     : "10s, 5m, 1h");
	}
	else if (o->type == T_LEVEL)
		snprintf(err, errlen, "--%s %s: expected error, warn, info or "
			 "debug", o->name, v);
	else
		snprintf(err, errlen, "--%s %s: expected %s", o->name, v,
			 o->type == T_CONSISTENCY ? "default or stale"
						  : "a valid value");
	return -1;
}

static void
defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->zone_text = xstrdup("service.local");
	cfg->ttl_s = 0;
	cfg->neg_ttl_s = 5;
	cfg->weight_scale = 1;
	cfg->edns_size = 1232;
	cfg->max_watches = 64;
	cfg->workers = 0;
	cfg->tcp_max_conns = 512;
	cfg->tcp_idle_ms = 10000;
	cfg->log_level = LOG_LVL_INFO;
}

int
config_parse_args(struct config *cfg, int argc, char **argv)
{
	struct option longopts[ARRAY_SIZE(options) + 1];
	char err[512];
	int idx, ch;

	defaults(cfg);
	if (consul_cfg_from_env(&cfg->consul, err, sizeof(err)) != 0) {
		fprintf(stderr, "srvshimd: %s\n", err);
		return -1;
	}
	memset(longopts, 0, sizeof(longopts));
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		longopts[i].name = options[i].name;
		longopts[i].has_arg = options[i].arg ? required_argument
						     : no_argument;
		longopts[i].val = 0;
	}
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":hV", longopts, &idx)) != -1) {
		if (ch == 'h' || (ch == 0 && strcmp(options[idx].name, "help") == 0)) {
			usage(stdout);
			return 1;
		}
		if (ch == 'V' ||
		    (ch == 0 && strcmp(options[idx].name, "version") == 0)) {
			printf("srvshimd %s\n", PACKAGE_VERSION);
			return 1;
		}
		if (ch == '?' || ch == ':') {
			const char *bad = argv[optind - 1];
			if (ch == ':')
				fprintf(stderr, "srvshimd: %s needs a value; see "
					"srvshimd --help\n", bad);
			else
				fprintf(stderr, "srvshimd: unknown option %s; see "
					"srvshimd --help\n", bad);
			return -1;
		}
		if (set_option(cfg, &options[idx], optarg, err, sizeof(err)) != 0) {
			fprintf(stderr, "srvshimd: %s\n", err);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "srvshimd: unexpected argument %s; see "
			"srvshimd --help\n", argv[optind]);
		return -1;
	}
	if (cfg->listen_count == 0) {
		parse_listen("127.0.0.1:53", &cfg->listen[0], err, sizeof(err));
		cfg->listen_count = 1;
	}
	struct zone_cfg zc;
	if (zone_cfg_init(&zc, cfg->zone_text) != 0) {
		fprintf(stderr, "srvshimd: --zone %s: not a valid DNS name for "
			"a zone (labels of 1..63 bytes, at most ~190 bytes)\n",
			cfg->zone_text);
		return -1;
	}
	return 0;
}

void
config_fini(struct config *cfg)
{
	consul_cfg_fini(&cfg->consul);
	for (size_t i = 0; i < cfg->svc_ttl_count; i++)
		free(cfg->svc_ttls[i].name);
	free(cfg->svc_ttls);
	free(cfg->zone_text);
	memset(cfg, 0, sizeof(*cfg));
}

int
config_zone_cfg(const struct config *cfg, struct zone_cfg *zc)
{
	if (zone_cfg_init(zc, cfg->zone_text) != 0)
		return -1;
	zc->ttl_s = cfg->ttl_s;
	zc->neg_ttl_s = cfg->neg_ttl_s;
	zc->only_passing = cfg->only_passing;
	zc->weight_scale = cfg->weight_scale;
	zc->svc_ttls = cfg->svc_ttls;
	zc->svc_ttl_count = cfg->svc_ttl_count;
	for (size_t i = 0; i < cfg->listen_count && zc->ns_count < ZONE_MAX_NS;
	     i++) {
		const struct sockaddr_storage *ss = &cfg->listen[i].ss;
		if (ss->ss_family == AF_INET) {
			const struct sockaddr_in *sin = (const void *)ss;
			uint8_t *a = zc->ns[zc->ns_count].addr;
			memcpy(a, &sin->sin_addr, 4);
			if (a[0] == 0) /* 0.0.0.0: name loopback instead */
				a[0] = 127, a[3] = 1;
			zc->ns[zc->ns_count++].family = 4;
		} else {
			const struct sockaddr_in6 *sin6 = (const void *)ss;
			if (IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr))
				continue;
			memcpy(zc->ns[zc->ns_count].addr, &sin6->sin6_addr, 16);
			zc->ns[zc->ns_count++].family = 6;
		}
	}
	return 0;
}
