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
#include <sys/stat.h>
#include <unistd.h>

#include "conffile.h"
#include "config.h"
#include "err.h"
#include "util.h"

enum opt_type { T_LISTEN, T_STR, T_DUR, T_DUR_S, T_UINT, T_BOOL, T_SVCTTL,
		T_LEVEL, T_CONSUL, T_CONSISTENCY, T_FILE, T_TOKEN, T_CONFIG,
		T_CHECK, T_HELP, T_VERSION, T_ADDR, T_RECURSOR, T_ALLOW };

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
	{"register-self", T_STR, "NAME", NULL, 0, 0, OFF(register_self),
	 "register srvshimd in Consul as service NAME, passing while its "
	 "watch is healthy"},
	{"recursor", T_RECURSOR, "ADDR[:PORT]", NULL, 0, 0, 0,
	 "forward queries outside the zone there (repeatable; port 53)"},
	{"recursor-timeout", T_DUR, "DURATION", "1s", 50, 30000,
	 OFF(recursor_timeout_ms),
	 "wait this long for a recursor, doubled each round (50ms..30s)"},
	{"recursor-tries", T_UINT, "N", "2", 1, 5, OFF(recursor_tries),
	 "rounds through the recursors before SERVFAIL (1..5)"},
	{"cache-size", T_UINT, "N", "1000", 0, 1000000, OFF(cache_size),
	 "forwarded answers cached at most (0: no cache)"},
	{"allow", T_ALLOW, "CIDR", "127.0.0.0/8 and ::1/128", 0, 0, 0,
	 "client network answered at all (repeatable); others get REFUSED"},
	{"user", T_STR, "NAME", NULL, 0, 0, OFF(user),
	 "after binding, drop root privileges to this user"},
	{"log-level", T_LEVEL, "LEVEL", "info", 0, 0, OFF(log_level),
	 "error, warn, info or debug"},
	{"http-listen", T_ADDR, "ADDR:PORT", "off", 0, 0, OFF(http_listen),
	 "serve /metrics (Prometheus), /health and /ready over HTTP there "
	 "(e.g. 127.0.0.1:9153)"},
	{"max-stale", T_DUR, "DURATION", "0 (off)", 0, 7 * DAY_MS,
	 OFF(max_stale_ms),
	 "once the data is older than this (Consul failing), answer "
	 "SERVFAIL in the zone and /ready 503; 0: serve it forever"},
	{"no-diagnostics", T_BOOL, NULL, "off", 0, 0, OFF(no_diagnostics),
	 "refuse the CHAOS diagnostic names (version.bind, status.srvshim, "
	 "<svc>.services.srvshim)"},
	{"query-log", T_BOOL, NULL, "off", 0, 0, OFF(query_log),
	 "log every query at info level: client, name, type, rcode, size"},
	{"syslog", T_BOOL, NULL, "off", 0, 0, OFF(syslog),
	 "log to syslog (daemon facility) instead of stderr"},
	{"token", T_TOKEN, NULL, NULL, 0, 0, 0,
	 "(config file only) the Consul ACL token; keep the file mode 600"},
	{"config", T_CONFIG, "FILE", NULL, 0, 0, 0,
	 "read options from a JSON file; flags override it; SIGHUP re-reads it"},
	{"check-config", T_CHECK, "FILE", NULL, 0, 0, 0,
	 "check FILE (with the flags given), print the effective "
	 "configuration as JSON and exit"},
	{"help", T_HELP, NULL, NULL, 0, 0, 0, "print this help and exit"},
	{"version", T_VERSION, NULL, NULL, 0, 0, 0,
	 "print the version and exit"},
};

/* Options that exist only on the command line, or only in the file. */
static bool
cli_only(const struct option_def *o)
{
	return o->type == T_CONFIG || o->type == T_CHECK || o->type == T_HELP ||
	       o->type == T_VERSION;
}

static const struct option_def *
find_option(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(options); i++)
		if (strcmp(options[i].name, name) == 0)
			return &options[i];
	return NULL;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: srvshimd [OPTION]...\n"
		   "Serve Consul's healthy services as DNS.\n\n");
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		const struct option_def *o = &options[i];
		char left[64];
		if (o->type == T_TOKEN)
			continue;
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
		   "A config file (--config) is a JSON object whose keys are "
		   "these option names,\n  plus \"token\"; see "
		   "srvshim.conf(5).\n"
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
	/* A secret others can read is not a secret: say so, but run (the
	 * operator may have reasons, e.g. a group-managed mount). */
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
	    (st.st_mode & S_IROTH))
		log_warnx("config: token file %s, readable by every user "
			  "(chmod 600 it)", path);
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

int
consul_cfg_set_token_file(struct consul_cfg *c, const char *path, char *err,
			  size_t errlen)
{
	return read_token_file(c, path, err, errlen);
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

static bool
is_wildcard(const struct listen_addr *la)
{
	const struct sockaddr_in *sin = (const void *)&la->ss;
	const struct sockaddr_in6 *sin6 = (const void *)&la->ss;
	return la->ss.ss_family == AF_INET
		   ? sin->sin_addr.s_addr == 0
		   : IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
}

/* Parses ADDR, ADDR:PORT, [V6]:PORT or a bare V6 address (port 53). */
static int
parse_recursor(const char *s, struct listen_addr *la, char *err,
	       size_t errlen)
{
	char buf[INET6_ADDRSTRLEN + 16], why[256];
	struct in6_addr a6;
	struct in_addr a4;

	if (inet_pton(AF_INET, s, &a4) == 1)
		snprintf(buf, sizeof(buf), "%s:53", s);
	else if (inet_pton(AF_INET6, s, &a6) == 1)
		snprintf(buf, sizeof(buf), "[%s]:53", s);
	else
		snprintf(buf, sizeof(buf), "%s", s);
	if (parse_listen(buf, la, why, sizeof(why)) != 0 || is_wildcard(la)) {
		snprintf(err, errlen, "--recursor %s: expected a numeric "
			 "address with an optional port, e.g. 192.0.2.53, "
			 "192.0.2.53:5353, 2001:db8::53 or [2001:db8::53]:53 "
			 "(not a wildcard)", s);
		return -1;
	}
	return 0;
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
		if (is_wildcard(&cfg->listen[cfg->listen_count])) {
			/* It would collide with other stubs (127.0.0.53) and
			 * answer from the wrong source on multi-homed hosts. */
			snprintf(err, errlen, "--listen %s: a wildcard address "
				 "is not accepted; give explicit addresses, e.g. "
				 "--listen 127.0.0.1:53 --listen 192.0.2.10:53", v);
			return -1;
		}
		cfg->listen_count++;
		return 0;
	case T_RECURSOR:
		if (cfg->recursor_count == CONFIG_MAX_RECURSORS) {
			snprintf(err, errlen, "--recursor: at most %d "
				 "addresses", CONFIG_MAX_RECURSORS);
			return -1;
		}
		if (parse_recursor(v, &cfg->recursors[cfg->recursor_count],
				   err, errlen) != 0)
			return -1;
		cfg->recursor_count++;
		return 0;
	case T_ALLOW: {
		struct acl_prefix p;
		if (!cfg->allow_set) {
			cfg->allow.count = 0; /* the first --allow replaces */
			cfg->allow_set = true;
		}
		if (acl_parse(v, &p, err, errlen) != 0)
			return -1;
		if (acl_add(&cfg->allow, &p) != 0) {
			snprintf(err, errlen, "--allow: at most %d networks",
				 ACL_MAX);
			return -1;
		}
		return 0;
	}
	case T_STR:
		if (strcmp(o->name, "datacenter") == 0) {
			set_str(&cfg->consul.datacenter, v);
		} else {
			/* kept even when empty: --zone "" is then rejected
			 * as a name, never left NULL */
			free(*(char **)(base + o->off));
			*(char **)(base + o->off) = xstrdup(v);
		}
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
		if (v != NULL && strcmp(v, "false") == 0)
			*(bool *)(base + o->off) = false;
		else if (v == NULL || strcmp(v, "true") == 0)
			*(bool *)(base + o->off) = true;
		else
			goto bad;
		return 0;
	case T_ADDR:
		if (parse_listen(v, (struct listen_addr *)(base + o->off), err,
				 errlen) != 0) {
			snprintf(err, errlen, "--%s %s: expected ADDR:PORT with "
				 "a numeric IPv4 address or [IPv6]:PORT, e.g. "
				 "127.0.0.1:9153", o->name, v);
			return -1;
		}
		cfg->http_enabled = true;
		return 0;
	case T_TOKEN:
		if (strchr(v, '\n') || strchr(v, '\r'))
			goto bad;
		set_str(&cfg->consul.token, v);
		return 0;
	case T_CONFIG:
	case T_CHECK:
	case T_HELP:
	case T_VERSION:
		break;
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
	cfg->recursor_timeout_ms = 1000;
	cfg->recursor_tries = 2;
	cfg->cache_size = 1000;
	acl_default(&cfg->allow);
}

static bool
same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port &&
		       x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port &&
	       memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

/* A recursor that is one of our own listen addresses is a loop from the
 * first query: refuse to start. */
static int
check_recursors(const struct config *cfg)
{
	for (size_t r = 0; r < cfg->recursor_count; r++) {
		const struct listen_addr *ra = &cfg->recursors[r];
		for (size_t l = 0; l < cfg->listen_count; l++) {
			if (same_addr(&ra->ss, &cfg->listen[l].ss)) {
				fprintf(stderr, "srvshimd: --recursor %s is "
					"srvshimd's own --listen address: "
					"queries would be forwarded to "
					"ourselves (a loop); name the real "
					"upstream resolvers\n", ra->text);
				return -1;
			}
		}
	}
	return 0;
}

/* Where a value came from, so a flag replaces (not extends) a list the
 * file gave. */
struct parse_state {
	struct config *cfg;
	bool from_cli;
	bool cli_listen, cli_svcttl, cli_recursor, cli_allow;
};

static int
apply(struct parse_state *ps, const struct option_def *o, const char *v,
      char *err, size_t errlen)
{
	struct config *cfg = ps->cfg;
	if (ps->from_cli && o->type == T_LISTEN && !ps->cli_listen) {
		ps->cli_listen = true;
		cfg->listen_count = 0;
	}
	if (ps->from_cli && o->type == T_SVCTTL && !ps->cli_svcttl) {
		ps->cli_svcttl = true;
		for (size_t i = 0; i < cfg->svc_ttl_count; i++)
			free(cfg->svc_ttls[i].name);
		cfg->svc_ttl_count = 0;
	}
	if (ps->from_cli && o->type == T_RECURSOR && !ps->cli_recursor) {
		ps->cli_recursor = true;
		cfg->recursor_count = 0;
	}
	if (ps->from_cli && o->type == T_ALLOW && !ps->cli_allow) {
		ps->cli_allow = true;
		cfg->allow_set = false; /* the first flag replaces the file's */
	}
	return set_option(cfg, o, v, err, errlen);
}

static int
file_pair(void *arg, const char *name, const char *value, char *err,
	  size_t errlen)
{
	const struct option_def *o = find_option(name);
	if (o == NULL || cli_only(o)) {
		snprintf(err, errlen, "unknown option \"%s\" (keys are the long "
			 "option names of srvshimd --help, and \"token\")", name);
		return -1;
	}
	if (o->arg == NULL && o->type == T_BOOL && strcmp(value, "true") != 0 &&
	    strcmp(value, "false") != 0) {
		snprintf(err, errlen, "\"%s\": expected true or false", name);
		return -1;
	}
	return apply(arg, o, value, err, errlen);
}

/* The value of --config / --check-config in argv, if any. */
static const char *
config_path_in(int argc, char **argv, bool *check)
{
	const char *path = NULL;
	*check = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		for (int c = 0; c < 2; c++) {
			const char *flag = c ? "--check-config" : "--config";
			size_t n = strlen(flag);
			if (strncmp(a, flag, n) != 0)
				continue;
			if (a[n] == '=') {
				path = a + n + 1;
				*check = *check || c;
			} else if (a[n] == '\0' && i + 1 < argc) {
				path = argv[i + 1];
				*check = *check || c;
			}
		}
		if (strcmp(a, "--") == 0)
			break;
	}
	return path;
}

int
config_parse_args(struct config *cfg, int argc, char **argv)
{
	struct option longopts[ARRAY_SIZE(options) + 1];
	struct parse_state ps = {.cfg = cfg};
	char err[768];
	int idx, ch;
	bool check = false, has_token = false;
	const char *path;

	defaults(cfg);
	cfg->argc = argc;
	cfg->argv = argv;
	if (consul_cfg_from_env(&cfg->consul, err, sizeof(err)) != 0) {
		fprintf(stderr, "srvshimd: %s\n", err);
		return -1;
	}
	/* The file first, so flags override it. */
	path = config_path_in(argc, argv, &check);
	if (path != NULL) {
		set_str(&cfg->config_path, path);
		cfg->check_only = check;
		if (conffile_load(path, file_pair, &ps, &has_token, err,
				  sizeof(err)) != 0) {
			fprintf(stderr, "srvshimd: %s\n", err);
			return -1;
		}
	}
	ps.from_cli = true;

	/* Whole option names only: getopt_long() would take --tok for
	 * --token-file, and a typo must not quietly mean something else. */
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0)
			break;
		if (strncmp(a, "--", 2) != 0 || a[2] == '\0')
			continue;
		char name[64];
		size_t nl = strcspn(a + 2, "=");
		snprintf(name, sizeof(name), "%.*s", (int)MIN(nl, 63), a + 2);
		const struct option_def *o = find_option(name);
		if (o == NULL || o->type == T_TOKEN) {
			fprintf(stderr, "srvshimd: unknown option %s; see "
				"srvshimd --help\n", a);
			return -1;
		}
		if (o->arg != NULL && a[2 + nl] != '=')
			i++; /* its value, whatever it looks like */
	}

	memset(longopts, 0, sizeof(longopts));
	size_t n = 0;
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		if (options[i].type == T_TOKEN)
			continue; /* never on a command line: ps(1) shows it */
		longopts[n].name = options[i].name;
		longopts[n].has_arg = options[i].arg ? required_argument
						     : no_argument;
		longopts[n].val = 0;
		n++;
	}
	/* 0, not 1: glibc then also forgets a short-option cluster left
	 * half-scanned by an earlier parse (it would read that old argv). */
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":hV", longopts, &idx)) != -1) {
		const struct option_def *o =
		    ch == 0 ? find_option(longopts[idx].name) : NULL;
		if (ch == 'h' || (o && o->type == T_HELP)) {
			usage(stdout);
			return 1;
		}
		if (ch == 'V' || (o && o->type == T_VERSION)) {
			printf("srvshimd %s\n", PACKAGE_VERSION);
			return 1;
		}
		if (ch == '?' || ch == ':' || o == NULL) {
			const char *bad = argv[optind - 1];
			if (ch == ':')
				fprintf(stderr, "srvshimd: %s needs a value; see "
					"srvshimd --help\n", bad);
			else
				fprintf(stderr, "srvshimd: unknown option %s; see "
					"srvshimd --help\n", bad);
			return -1;
		}
		if (o->type == T_CONFIG || o->type == T_CHECK)
			continue; /* read above */
		if (apply(&ps, o, optarg, err, sizeof(err)) != 0) {
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
	if (check_recursors(cfg) != 0)
		return -1;
	struct zone_cfg zc;
	if (zone_cfg_init(&zc, cfg->zone_text) != 0) {
		fprintf(stderr, "srvshimd: --zone %s: not a valid DNS name for "
			"a zone (labels of 1..63 bytes, at most ~190 bytes)\n",
			cfg->zone_text);
		return -1;
	}
	if (cfg->check_only) {
		config_print(cfg, stdout);
		return 1;
	}
	return 0;
}

/* ---- printing the effective configuration -------------------------------- */

static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void
print_dur(FILE *f, uint64_t ms)
{
	char buf[32];
	json_str(f, fmt_ms(ms, buf, sizeof(buf)));
}

void
config_print(const struct config *cfg, FILE *f)
{
	const char *sep = "{\n";
	const char *base = (const char *)cfg;

	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		const struct option_def *o = &options[i];
		if (cli_only(o))
			continue;
		fprintf(f, "%s  \"%s\": ", sep, o->name);
		sep = ",\n";
		switch (o->type) {
		case T_LISTEN:
			fputc('[', f);
			for (size_t l = 0; l < cfg->listen_count; l++) {
				fputs(l ? ", " : "", f);
				json_str(f, cfg->listen[l].text);
			}
			fputc(']', f);
			break;
		case T_STR:
			if (strcmp(o->name, "datacenter") == 0)
				cfg->consul.datacenter
				    ? json_str(f, cfg->consul.datacenter)
				    : (void)fputs("null", f);
			else if (*(char *const *)(base + o->off) == NULL)
				fputs("null", f); /* --register-self, --user unset */
			else
				json_str(f, *(char *const *)(base + o->off));
			break;
		case T_RECURSOR:
			fputc('[', f);
			for (size_t r = 0; r < cfg->recursor_count; r++) {
				fputs(r ? ", " : "", f);
				json_str(f, cfg->recursors[r].text);
			}
			fputc(']', f);
			break;
		case T_ALLOW:
			fputc('[', f);
			for (size_t a = 0; a < cfg->allow.count; a++) {
				char text[64];
				fputs(a ? ", " : "", f);
				json_str(f, acl_prefix_text(&cfg->allow.p[a], text,
							    sizeof(text)));
			}
			fputc(']', f);
			break;
		case T_CONSUL:
			json_str(f, cfg->consul.addr_text);
			break;
		case T_FILE:
		case T_TOKEN:
			/* never the token itself */
			fputs(cfg->consul.token ? "\"(set)\"" : "null", f);
			break;
		case T_CONSISTENCY:
			json_str(f, cfg->consul.stale ? "stale" : "default");
			break;
		case T_DUR:
			print_dur(f, strcmp(o->name, "wait") == 0
					 ? cfg->consul.wait_ms
					 : *(const uint64_t *)(base + o->off));
			break;
		case T_DUR_S:
			print_dur(f, (uint64_t)*(const uint32_t *)(base + o->off) *
					 1000);
			break;
		case T_UINT:
			if (strcmp(o->name, "edns-size") == 0)
				fprintf(f, "%u", cfg->edns_size);
			else
				fprintf(f, "%u", *(const unsigned *)(base + o->off));
			break;
		case T_BOOL:
			fputs(*(const bool *)(base + o->off) ? "true" : "false", f);
			break;
		case T_SVCTTL:
			fputc('{', f);
			for (size_t k = 0; k < cfg->svc_ttl_count; k++) {
				fputs(k ? ", " : "", f);
				json_str(f, cfg->svc_ttls[k].name);
				fputs(": ", f);
				print_dur(f, (uint64_t)cfg->svc_ttls[k].ttl_s * 1000);
			}
			fputc('}', f);
			break;
		case T_LEVEL:
			json_str(f, log_level_name(cfg->log_level));
			break;
		case T_ADDR:
			if (cfg->http_enabled)
				json_str(f, cfg->http_listen.text);
			else
				fputs("null", f);
			break;
		case T_CONFIG:
		case T_CHECK:
		case T_HELP:
		case T_VERSION:
			break;
		}
	}
	fputs("\n}\n", f);
}

void
config_fini(struct config *cfg)
{
	consul_cfg_fini(&cfg->consul);
	for (size_t i = 0; i < cfg->svc_ttl_count; i++)
		free(cfg->svc_ttls[i].name);
	free(cfg->svc_ttls);
	free(cfg->zone_text);
	free(cfg->register_self);
	free(cfg->config_path);
	free(cfg->user);
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
