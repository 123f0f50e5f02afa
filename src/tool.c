/* SPDX-License-Identifier: MIT
 * tool.c -- the srvshim command: `srvshim register` and `srvshim lookup`.
 * Owns:    their command lines; for register, the wrapped COMMAND's process
 *          (fork, exec, signal forwarding, reaping, exit status) and the
 *          main thread's sigwait loop; for lookup, what is printed and the
 *          exit status.
 * Never:   HTTP or JSON (sidecar.c, probe.c), c-ares (lookup.c).
 * Start reading at main(), then cmd_register().
 *
 * Exit status of `srvshim register`: COMMAND's own (128 + N if a signal N
 * killed it; 126 it could not be executed, 127 not found); without
 * COMMAND, 0 after SIGTERM or SIGINT; 2 for a usage error.
 * Exit status of `srvshim lookup`: 0 printed at least one instance, 1 the
 * name has none (NXDOMAIN, NODATA), 2 usage error, 3 the DNS lookup failed
 * (timeout, SERVFAIL, REFUSED, unreachable server). */
#include "config_feat.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "log.h"
#include "lookup.h"
#include "probe.h"
#include "sidecar.h"
#include "util.h"

#define EXIT_USAGE 2
#define EXIT_NOTFOUND 1
#define EXIT_DNSFAIL 3
#define DEREGISTER_TIMEOUT_MS 5000u
#define MAX_TAGS 64
#define MAX_META 64

static void
usage_main(FILE *f)
{
	fprintf(f,
		"usage: srvshim register [OPTION]... [-- COMMAND [ARG]...]\n"
		"       srvshim lookup [OPTION]... NAME\n"
		"       srvshim --help | --version\n\n"
		"register  keep one instance of a service registered in Consul "
		"(uuid ID, TTL\n"
		"          check, heartbeat), run COMMAND, deregister when it "
		"exits\n"
		"lookup    find an instance by DNS SRV (RFC 2782 choice) and "
		"print host:port\n\n"
		"srvshim COMMAND --help lists its options. See srvshim(1).\n");
}

/* ---- register ------------------------------------------------------------ */

static void
usage_register(FILE *f)
{
	fprintf(f,
		"usage: srvshim register --name NAME --port PORT [OPTION]... "
		"[-- COMMAND [ARG]...]\n"
		"Register one instance of NAME in Consul through the local agent, "
		"keep its TTL\ncheck passing while it lives, deregister it when "
		"COMMAND exits or on SIGTERM.\n\n"
		"  --name NAME               service name (required)\n"
		"  --port PORT               service port, 1..65535 (required)\n"
		"  --address ADDR            service address [the node's]\n"
		"  --tag TAG                 a tag (repeatable)\n"
		"  --meta KEY=VALUE          a Service.Meta pair (repeatable)\n"
		"  --weight N                SRV weight while passing, 1..65535 "
		"(warning: 1)\n"
		"  --ttl DURATION            TTL of the check, heartbeat every "
		"TTL/2 [10s]\n"
		"  --deregister-after DURATION  Consul removes the instance "
		"after its check\n"
		"                            was critical this long; 0: never "
		"[1m]\n"
		"  --check-http URL          pass only while GET URL answers 2xx "
		"(429: warn)\n"
		"  --check-tcp HOST:PORT     pass only while HOST:PORT accepts "
		"connections\n"
		"  --consul ADDR             Consul HTTP API [$CONSUL_HTTP_ADDR "
		"or 127.0.0.1:8500]\n"
		"  --token-file FILE         Consul ACL token file "
		"[$CONSUL_HTTP_TOKEN_FILE]\n"
		"  --log-level LEVEL         error, warn, info or debug [info]\n"
		"\nEnvironment: CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN, "
		"CONSUL_HTTP_TOKEN_FILE,\n  CONSUL_CACERT, CONSUL_CAPATH, "
		"CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY,\n"
		"  CONSUL_HTTP_SSL_VERIFY. See srvshim(1).\n");
}

struct reg_opts {
	const char *name, *address, *check_http, *check_tcp;
	uint64_t port, weight, ttl_ms, dereg_ms;
	const char *tags[MAX_TAGS];
	size_t tag_count;
	char *meta_keys[MAX_META];
	const char *meta_values[MAX_META];
	size_t meta_count;
	enum log_level level;
	char **command; /* NULL-terminated, or NULL */
};

/* Consul's rule for Service.Meta (structs.validateMetaPair): keys of
 * letters, digits, '_' and '-', at most 128, none starting "consul-";
 * values at most 512 bytes. Checked here so a typo is a usage error, not
 * a 400 that the sidecar would retry forever. */
static int
parse_meta(struct reg_opts *o, const char *kv, char *err, size_t errlen)
{
	const char *eq = strchr(kv, '=');
	size_t klen, i;

	if (o->meta_count >= MAX_META) {
		snprintf(err, errlen, "--meta: at most %d pairs", MAX_META);
		return -1;
	}
	if (eq == NULL || eq == kv) {
		snprintf(err, errlen, "--meta %s: use KEY=VALUE", kv);
		return -1;
	}
	klen = (size_t)(eq - kv);
	for (i = 0; i < klen; i++) {
		char c = kv[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-'))
			break;
	}
	if (i < klen || klen > 128 || strncmp(kv, "consul-", 7) == 0) {
		snprintf(err, errlen, "--meta %s: a key is 1..128 letters, "
			 "digits, '_' or '-', not starting with consul-", kv);
		return -1;
	}
	if (strlen(eq + 1) > 512) {
		snprintf(err, errlen, "--meta %.*s: a value is at most 512 "
			 "bytes", (int)klen, kv);
		return -1;
	}
	o->meta_keys[o->meta_count] = xstrndup(kv, klen);
	o->meta_values[o->meta_count] = eq + 1;
	o->meta_count++;
	return 0;
}

enum reg_opt {
	O_NAME = 1, O_PORT, O_ADDRESS, O_TAG, O_META, O_WEIGHT, O_TTL,
	O_DEREG, O_CHECK_HTTP, O_CHECK_TCP, O_CONSUL, O_TOKEN_FILE, O_LEVEL,
	O_HELP,
};

static const struct option reg_longopts[] = {
	{"name", required_argument, NULL, O_NAME},
	{"port", required_argument, NULL, O_PORT},
	{"address", required_argument, NULL, O_ADDRESS},
	{"tag", required_argument, NULL, O_TAG},
	{"meta", required_argument, NULL, O_META},
	{"weight", required_argument, NULL, O_WEIGHT},
	{"ttl", required_argument, NULL, O_TTL},
	{"deregister-after", required_argument, NULL, O_DEREG},
	{"check-http", required_argument, NULL, O_CHECK_HTTP},
	{"check-tcp", required_argument, NULL, O_CHECK_TCP},
	{"consul", required_argument, NULL, O_CONSUL},
	{"token-file", required_argument, NULL, O_TOKEN_FILE},
	{"log-level", required_argument, NULL, O_LEVEL},
	{"help", no_argument, NULL, O_HELP},
	{NULL, 0, NULL, 0},
};

/* Returns 0 to run, 1 after --help, -1 after a usage error (printed). */
static int
parse_register(struct reg_opts *o, struct consul_cfg *consul, int argc,
	       char **argv)
{
	char err[512];
	int ch;

	memset(o, 0, sizeof(*o));
	o->ttl_ms = 10000;
	o->dereg_ms = 60000;
	o->level = LOG_LVL_INFO;
	optind = 1;
	opterr = 0;
	/* '+': the first non-option (or "--") ends the options; the rest is
	 * COMMAND and its own arguments, untouched. */
	while ((ch = getopt_long(argc, argv, "+:h", reg_longopts, NULL)) !=
	       -1) {
		const char *flag = argv[optind - 1];
		err[0] = '\0';
		switch (ch) {
		case O_NAME:
			if (optarg[0] == '\0' || strlen(optarg) > 200)
				snprintf(err, sizeof(err), "--name: 1..200 "
					 "characters");
			o->name = optarg;
			break;
		case O_PORT:
			if (parse_uint(optarg, 1, 65535, &o->port) != 0)
				snprintf(err, sizeof(err), "--port %s: use "
					 "1..65535", optarg);
			break;
		case O_ADDRESS:
			o->address = optarg;
			break;
		case O_TAG:
			if (o->tag_count >= MAX_TAGS)
				snprintf(err, sizeof(err), "--tag: at most %d",
					 MAX_TAGS);
			else if (optarg[0] == '\0')
				snprintf(err, sizeof(err), "--tag: empty");
			else
				o->tags[o->tag_count++] = optarg;
			break;
		case O_META:
			parse_meta(o, optarg, err, sizeof(err));
			break;
		case O_WEIGHT:
			if (parse_uint(optarg, 1, 65535, &o->weight) != 0)
				snprintf(err, sizeof(err), "--weight %s: use "
					 "1..65535", optarg);
			break;
		case O_TTL:
			if (parse_duration_ms(optarg, &o->ttl_ms) != 0 ||
			    o->ttl_ms < 1000 || o->ttl_ms > 86400000)
				snprintf(err, sizeof(err), "--ttl %s: use a "
					 "duration from 1s to 24h", optarg);
			break;
		case O_DEREG:
			if (parse_duration_ms(optarg, &o->dereg_ms) != 0 ||
			    o->dereg_ms > 7 * 86400000ull)
				snprintf(err, sizeof(err), "--deregister-after "
					 "%s: use a duration up to 168h, or 0",
					 optarg);
			break;
		case O_CHECK_HTTP:
			o->check_http = optarg;
			break;
		case O_CHECK_TCP:
			o->check_tcp = optarg;
			break;
		case O_CONSUL:
			consul_cfg_set_addr(consul, optarg, err, sizeof(err));
			break;
		case O_TOKEN_FILE:
			consul_cfg_set_token_file(consul, optarg, err,
						  sizeof(err));
			break;
		case O_LEVEL:
			if (log_level_parse(optarg, &o->level) != 0)
				snprintf(err, sizeof(err), "--log-level %s: "
					 "use error, warn, info or debug",
					 optarg);
			break;
		case 'h':
		case O_HELP:
			usage_register(stdout);
			return 1;
		case ':':
			snprintf(err, sizeof(err), "%s needs a value", flag);
			break;
		default:
			snprintf(err, sizeof(err), "unknown option %s", flag);
			break;
		}
		if (err[0] != '\0') {
			fprintf(stderr, "srvshim register: %s; see srvshim "
				"register --help\n", err);
			return -1;
		}
	}
	if (o->name == NULL || o->port == 0) {
		fprintf(stderr, "srvshim register: --name and --port are "
			"required; see srvshim register --help\n");
		return -1;
	}
	if (o->check_http != NULL && o->check_tcp != NULL) {
		fprintf(stderr, "srvshim register: use --check-http or "
			"--check-tcp, not both\n");
		return -1;
	}
	if (optind < argc)
		o->command = argv + optind;
	return 0;
}

/* What the heartbeat says: read on the sidecar thread. */
struct reg_health {
	struct probe *probe; /* NULL: alive is healthy */
	pid_t pid;	     /* COMMAND's, or our own */
};

static enum sidecar_health
reg_health(void *arg, char *note, size_t len)
{
	struct reg_health *rh = arg;
	char text[512];

	if (rh->probe == NULL) {
		snprintf(note, len, "srvshim register: alive, pid %ld",
			 (long)rh->pid);
		return SIDECAR_PASS;
	}
	switch (probe_result(rh->probe, text, sizeof(text))) {
	case PROBE_PASS:
		snprintf(note, len, "srvshim register: pid %ld, %s",
			 (long)rh->pid, text);
		return SIDECAR_PASS;
	case PROBE_WARN:
		snprintf(note, len, "%s", text);
		return SIDECAR_WARN;
	case PROBE_PENDING:
	case PROBE_FAIL:
		break;
	}
	snprintf(note, len, "%s", text);
	return SIDECAR_FAIL;
}

static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1,
				SIGUSR2};

static pid_t
spawn(char **command, const sigset_t *oldmask)
{
	pid_t pid = fork();

	if (pid < 0) {
		log_warn("register: cannot fork for %s", command[0]);
		return -1;
	}
	if (pid == 0) {
		/* The child gets the signal mask and dispositions srvshim
		 * itself started with. */
		signal(SIGPIPE, SIG_DFL);
		sigprocmask(SIG_SETMASK, oldmask, NULL);
		execvp(command[0], command);
		fprintf(stderr, "srvshim register: cannot run %s: %s\n",
			command[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	return pid;
}

static int
status_code(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return 1;
}

static int
cmd_register(int argc, char **argv)
{
	struct reg_opts o;
	struct consul_cfg consul;
	struct sidecar_cfg sc;
	struct sidecar *side = NULL;
	struct reg_health rh = {0};
	sigset_t sigs, oldmask;
	char err[512];
	pid_t child = -1;
	int rc, exit_code = 0;
	bool stopping = false, deregistered = false;
	uint64_t interval_ms;

	if (consul_cfg_from_env(&consul, err, sizeof(err)) != 0) {
		fprintf(stderr, "srvshim register: %s\n", err);
		return EXIT_USAGE;
	}
	rc = parse_register(&o, &consul, argc, argv);
	if (rc != 0) {
		exit_code = rc > 0 ? 0 : EXIT_USAGE;
		goto out;
	}
	log_init("srvshim", o.level, true);

	/* The probe runs four times per TTL, so a failure shows in the
	 * check within about TTL/4 (a status change is sent at once). */
	interval_ms = MIN(MAX(o.ttl_ms / 4, 500), 10000);
	if (o.check_http != NULL || o.check_tcp != NULL) {
		rh.probe = probe_new(o.check_http ? PROBE_HTTP : PROBE_TCP,
				     o.check_http ? o.check_http : o.check_tcp,
				     interval_ms, MIN(interval_ms, 5000), err,
				     sizeof(err));
		if (rh.probe == NULL) {
			fprintf(stderr, "srvshim register: %s\n", err);
			exit_code = EXIT_USAGE;
			goto out;
		}
	}

	/* Every signal is taken here by sigwaitinfo(), never by a handler,
	 * and never by the sidecar or probe threads (they inherit the
	 * mask). */
	sigemptyset(&sigs);
	for (size_t i = 0; i < ARRAY_SIZE(forwarded); i++)
		sigaddset(&sigs, forwarded[i]);
	sigaddset(&sigs, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &sigs, &oldmask);
	signal(SIGPIPE, SIG_IGN);

	rh.pid = getpid();
	if (o.command != NULL) {
		child = spawn(o.command, &oldmask);
		if (child < 0) {
			exit_code = 126;
			goto out;
		}
		rh.pid = child;
	}

	sc = (struct sidecar_cfg){
		.name = o.name,
		.address = o.address,
		.port = (uint16_t)o.port,
		.tags = o.tags,
		.tag_count = o.tag_count,
		.meta_keys = (const char *const *)o.meta_keys,
		.meta_values = o.meta_values,
		.meta_count = o.meta_count,
		.weight = (uint32_t)o.weight,
		.ttl_ms = o.ttl_ms,
		.deregister_after_ms = o.dereg_ms,
		.check_name = "srvshim register",
		.health_poll_ms = rh.probe ? 250 : 0,
		.health = reg_health,
		.health_arg = &rh,
	};
	side = sidecar_new(&consul, &sc);
	log_info("register: instance %s%s%s%s", sidecar_id(side),
		 child > 0 ? ", running " : "", child > 0 ? o.command[0] : "",
		 child > 0 ? "" : ", no command: until SIGTERM");
	if (rh.probe != NULL && probe_start(rh.probe) != 0)
		fatalx("register: cannot start the probe thread");
	if (sidecar_start(side) != 0)
		fatalx("register: cannot start the sidecar thread");

	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&sigs, &si);

		if (sig < 0)
			continue;
		if (sig == SIGCHLD) {
			int wstatus;
			pid_t p;
			bool ended = false;
			/* Reap everything: as a container's PID 1, orphans
			 * are ours too. */
			while ((p = waitpid(-1, &wstatus, WNOHANG)) > 0) {
				if (p == child) {
					exit_code = status_code(wstatus);
					ended = true;
				}
			}
			if (ended) {
				log_info("register: %s exited (status %d)%s",
					 o.command[0], exit_code,
					 deregistered ? "" : ", deregistering");
				break;
			}
			continue;
		}
		if (child < 0) {
			if (sig == SIGINT || sig == SIGTERM) {
				log_info("register: %s, deregistering",
					 strsignal(sig));
				exit_code = 0;
				break;
			}
			continue;
		}
		/* A signal from the terminal already reached COMMAND (same
		 * process group); anything else is passed on. */
		if (si.si_code != SI_KERNEL && kill(child, sig) != 0)
			log_warn("register: cannot pass %s on to pid %ld",
				 strsignal(sig), (long)child);
		if ((sig == SIGINT || sig == SIGTERM) && !stopping) {
			/* Stop routing to it now, while it drains. */
			log_info("register: %s passed on to %s, deregistering",
				 strsignal(sig), o.command[0]);
			stopping = true;
			sidecar_stop(side, DEREGISTER_TIMEOUT_MS);
			deregistered = true;
		}
	}

	if (!deregistered)
		sidecar_stop(side, DEREGISTER_TIMEOUT_MS);
out:
	sidecar_free(side);
	probe_free(rh.probe);
	for (size_t i = 0; i < o.meta_count; i++)
		free(o.meta_keys[i]);
	consul_cfg_fini(&consul);
	return exit_code;
}

/* ---- lookup ---------------------------------------------------------------- */

static void
usage_lookup(FILE *f)
{
	fprintf(f,
		"usage: srvshim lookup [OPTION]... NAME\n"
		"Find an instance of NAME by DNS SRV and print host:port "
		"(RFC 2782: lowest\npriority, then random by weight). A NAME "
		"without a dot means\n_NAME._tcp.ZONE.\n\n"
		"  --server ADDR[:PORT]  DNS server to ask (IPv6 as [::1]:53) "
		"[/etc/resolv.conf]\n"
		"  --all                 print every instance, in RFC 2782 "
		"order, one a line\n"
		"  --url SCHEME          print SCHEME://host:port/\n"
		"  --port PORT           with no SRV records, use NAME's A/AAAA "
		"records and PORT\n"
		"  --zone ZONE           zone for a NAME without a dot "
		"[service.local]\n"
		"  --timeout DURATION    give up after this long [3s]\n"
		"\nExit status: 0 found, 1 no such service or no instance, 2 "
		"usage error,\n3 DNS failure (timeout, SERVFAIL, REFUSED). "
		"See srvshim(1).\n");
}

static uint32_t
rng_fn(void *arg, uint32_t n)
{
	return rng_below(arg, n);
}

static void
print_target(const struct lookup_target *t, const char *scheme)
{
	const char *host = t->addr[0] ? t->addr : t->host;
	bool brackets = strchr(host, ':') != NULL;

	if (scheme != NULL)
		printf("%s://", scheme);
	printf("%s%s%s:%u", brackets ? "[" : "", host, brackets ? "]" : "",
	       (unsigned)t->port);
	printf("%s\n", scheme != NULL ? "/" : "");
}

enum lookup_opt { L_SERVER = 1, L_ALL, L_URL, L_PORT, L_ZONE, L_TIMEOUT,
		  L_HELP };

static const struct option lookup_longopts[] = {
	{"server", required_argument, NULL, L_SERVER},
	{"all", no_argument, NULL, L_ALL},
	{"url", required_argument, NULL, L_URL},
	{"port", required_argument, NULL, L_PORT},
	{"zone", required_argument, NULL, L_ZONE},
	{"timeout", required_argument, NULL, L_TIMEOUT},
	{"help", no_argument, NULL, L_HELP},
	{NULL, 0, NULL, 0},
};

static int
lookup_usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, "srvshim lookup: %s%s%s; see srvshim lookup --help\n",
		msg, arg ? " " : "", arg ? arg : "");
	return EXIT_USAGE;
}

static int
cmd_lookup(int argc, char **argv)
{
	const char *server = NULL, *scheme = NULL, *zone = "service.local";
	uint64_t port = 0, timeout_ms = 3000;
	bool all = false;
	char srvname[512], aname[512], err[512];
	struct lookup *l;
	struct lookup_target *t = NULL;
	size_t count = 0, i;
	struct rng rng;
	int ch, rc, exit_code = 0;
	char *name;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", lookup_longopts, NULL)) !=
	       -1) {
		switch (ch) {
		case L_SERVER:
			server = optarg;
			break;
		case L_ALL:
			all = true;
			break;
		case L_URL:
			if (optarg[0] == '\0' ||
			    strspn(optarg, "abcdefghijklmnopqrstuvwxyz"
					   "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					   "0123456789+-.") != strlen(optarg))
				return lookup_usage_error("--url: a scheme "
							  "such as http, not",
							  optarg);
			scheme = optarg;
			break;
		case L_PORT:
			if (parse_uint(optarg, 1, 65535, &port) != 0)
				return lookup_usage_error("--port: use "
							  "1..65535, not",
							  optarg);
			break;
		case L_ZONE:
			zone = optarg;
			break;
		case L_TIMEOUT:
			if (parse_duration_ms(optarg, &timeout_ms) != 0 ||
			    timeout_ms < 100 || timeout_ms > 600000)
				return lookup_usage_error("--timeout: use 100ms"
							  "..10m, not",
							  optarg);
			break;
		case 'h':
		case L_HELP:
			usage_lookup(stdout);
			return 0;
		case ':':
			return lookup_usage_error("needs a value:",
						  argv[optind - 1]);
		default:
			return lookup_usage_error("unknown option",
						  argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return lookup_usage_error("give exactly one NAME", NULL);
	name = argv[optind];
	size_t nl = strlen(name);
	if (nl > 0 && name[nl - 1] == '.')
		name[--nl] = '\0';
	if (nl == 0 || nl > 253)
		return lookup_usage_error("NAME: 1..253 characters", NULL);
	if (strchr(name, '.') == NULL) {
		snprintf(srvname, sizeof(srvname), "_%s._tcp.%s", name, zone);
		snprintf(aname, sizeof(aname), "%s.%s", name, zone);
	} else {
		snprintf(srvname, sizeof(srvname), "%s", name);
		snprintf(aname, sizeof(aname), "%s", name);
	}

	l = lookup_new(server, timeout_ms, err, sizeof(err));
	if (l == NULL) {
		fprintf(stderr, "srvshim lookup: %s\n", err);
		return EXIT_USAGE;
	}
	rng_seed(&rng);
	rc = lookup_srv(l, srvname, &t, &count, err, sizeof(err));
	if (rc == 0) {
		lookup_order(t, count, rng_fn, &rng);
		if (all)
			lookup_resolve(l, t, count);
		else
			lookup_resolve(l, t, 1);
	} else if (rc == -SRV_ENOENT && port != 0) {
		char err2[512];
		rc = lookup_addrs(l, aname, (uint16_t)port, &t, &count, err2,
				  sizeof(err2));
		if (rc == 0) {
			/* No weights here: a uniform pick, then the rest. */
			size_t k = rng_below(&rng, (uint32_t)count);
			struct lookup_target tmp = t[0];
			t[0] = t[k];
			t[k] = tmp;
		} else {
			size_t el = strlen(err);
			snprintf(err + el, sizeof(err) - el, "; %.200s", err2);
		}
	}
	if (rc != 0) {
		fprintf(stderr, "srvshim lookup: %s\n", err);
		exit_code = rc == -SRV_ENOENT ? EXIT_NOTFOUND : EXIT_DNSFAIL;
	} else {
		for (i = 0; i < (all ? count : 1); i++)
			print_target(&t[i], scheme);
	}
	lookup_targets_free(t, count);
	lookup_free(l);
	return exit_code;
}

/* ---- main ------------------------------------------------------------------- */

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage_main(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage_main(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("srvshim %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "register") == 0)
		return cmd_register(argc - 1, argv + 1);
	if (strcmp(argv[1], "lookup") == 0)
		return cmd_lookup(argc - 1, argv + 1);
	fprintf(stderr, "srvshim: unknown command %s; see srvshim --help\n",
		argv[1]);
	return EXIT_USAGE;
}
