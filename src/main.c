/* SPDX-License-Identifier: MIT
 * main.c -- srvshimd: start-up order, signals, shutdown.
 * Owns:    wiring the rooms together: config -> zone (an unsynced empty
 *          snapshot first) -> frontend and httpd (bind) -> privilege
 *          drop (--user) -> forward -> watch; then waiting for signals;
 *          then stopping in reverse order.
 * Never:   parsing, packet contents, Consul meaning.
 *
 * Exit status: 0 after SIGTERM/SIGINT, 1 on a start-up failure (cannot bind,
 * cannot drop privileges, cannot start threads), 2 on a usage error. */
#include "config_feat.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "answer.h"
#include "config.h"
#include "forward.h"
#include "frontend.h"
#include "httpd.h"
#include "log.h"
#include "privs.h"
#include "sdnotify.h"
#include "selfreg.h"
#include "util.h"
#include "watch.h"
#include "zone.h"

/* status.srvshim's view of the watch, on the query path: lock-free. */
static void
answer_status_of(void *arg, struct answer_status *as)
{
	struct watch_status st;

	watch_get_status(arg, &st);
	*as = (struct answer_status){
	    .synced = st.synced,
	    .connected = st.connected,
	    .last_sync_ms = st.last_sync_ms,
	    .data_age_ms = watch_status_data_age_ms(&st, now_ms()),
	    .catalog_index = st.catalog_index,
	    .services = st.services,
	    .instances = st.instances,
	    .watches = st.watches,
	    .max_watches = st.max_watches,
	    .errors = st.errors,
	};
}

/* SIGHUP: the same flags and the file again. What can change at run time is
 * applied; what needs new sockets or threads is named and kept. A file that
 * does not parse changes nothing. */
static void
reload(const struct config *cfg, struct watch *w, struct frontend *fe,
       struct forward *fw)
{
	struct config next;
	struct zone_cfg zc;
	int rc;

	log_info("main: SIGHUP, reloading%s%s", cfg->config_path ? " " : "",
		 cfg->config_path ? cfg->config_path : "");
	struct zone_cfg running;
	rc = config_parse_args(&next, cfg->argc, cfg->argv);
	if (rc != 0 || config_zone_cfg(&next, &zc) != 0 ||
	    config_zone_cfg(cfg, &running) != 0) {
		log_warnx("main: reload failed (see the message above), keeping "
			  "the running configuration");
		config_fini(&next);
		return;
	}
	if (strcmp(next.zone_text, cfg->zone_text) != 0 ||
	    next.listen_count != cfg->listen_count ||
	    memcmp(next.listen, cfg->listen,
		   next.listen_count * sizeof(next.listen[0])) != 0 ||
	    strcmp(next.consul.base_url, cfg->consul.base_url) != 0 ||
	    next.workers != cfg->workers || next.edns_size != cfg->edns_size ||
	    next.max_watches != cfg->max_watches ||
	    next.tcp_max_conns != cfg->tcp_max_conns ||
	    next.tcp_idle_ms != cfg->tcp_idle_ms ||
	    next.http_enabled != cfg->http_enabled ||
	    memcmp(&next.http_listen, &cfg->http_listen,
		   sizeof(next.http_listen)) != 0 ||
	    next.max_stale_ms != cfg->max_stale_ms ||
	    next.no_diagnostics != cfg->no_diagnostics ||
	    next.query_log != cfg->query_log)
		log_warnx("main: reload, zone, listen, consul, workers, "
			  "edns-size, max-watches, tcp, http-listen, "
			  "max-stale, no-diagnostics and query-log options "
			  "need a restart; their running values stay");
	/* Recursors and allowed clients change at once (issue: a resolver
	 * host's upstreams and networks move); going from no recursor to
	 * some (or back) changes RA and needs the forward thread: restart. */
	if (next.allow.count != cfg->allow.count ||
	    memcmp(next.allow.p, cfg->allow.p,
		   next.allow.count * sizeof(next.allow.p[0])) != 0) {
		frontend_set_acl(fe, &next.allow);
		log_info("main: reload, %zu allowed client networks",
			 next.allow.count);
	}
	if (next.recursor_count != cfg->recursor_count ||
	    memcmp(next.recursors, cfg->recursors,
		   next.recursor_count * sizeof(next.recursors[0])) != 0) {
		if (fw != NULL && next.recursor_count > 0)
			forward_set_recursors(fw, next.recursors,
					      next.recursor_count);
		else
			log_warnx("main: reload, turning forwarding on or off "
				  "needs a restart; the running recursors "
				  "stay");
	}
	if (next.recursor_timeout_ms != cfg->recursor_timeout_ms ||
	    next.recursor_tries != cfg->recursor_tries ||
	    next.cache_size != cfg->cache_size ||
	    (next.user == NULL) != (cfg->user == NULL) ||
	    (next.user && strcmp(next.user, cfg->user) != 0))
		log_warnx("main: reload, recursor-timeout, recursor-tries, "
			  "cache-size and user options need a restart; their "
			  "running values stay");
	if ((next.register_self == NULL) != (cfg->register_self == NULL) ||
	    (next.register_self &&
	     strcmp(next.register_self, cfg->register_self) != 0))
		log_warnx("main: reload, register-self needs a restart; the "
			  "running registration stays");
	/* The apex and the NS addresses are the running ones. */
	memcpy(zc.apex, running.apex, sizeof(zc.apex));
	zc.apex_len = running.apex_len;
	memcpy(zc.apex_text, running.apex_text, sizeof(zc.apex_text));
	memcpy(zc.ns, running.ns, sizeof(zc.ns));
	zc.ns_count = running.ns_count;
	log_set_level(next.log_level);
	watch_set_zone_cfg(w, &zc);
	log_info("main: reload done, log level %s, ttl %us, negative ttl %us",
		 log_level_name(next.log_level), zc.ttl_s, zc.neg_ttl_s);
	config_fini(&next);
}

/* Tells systemd (Type=notify) when the first sync is done, and pets the
 * watchdog while the watch thread keeps turning. */
struct notify {
	bool ready_sent;
	bool failed_logged;
	uint64_t watchdog_us;
	uint64_t last_pet_ms;
};

/* One notification to the service manager; a failure is logged once (a
 * malformed or unreachable $NOTIFY_SOCKET does not get better by itself). */
static void
notify_send(struct notify *n, const char *msg)
{
	if (sdnotify_send(msg) < 0 && !n->failed_logged) {
		log_warn("main: service manager notification, sending to "
			 "NOTIFY_SOCKET=%s failed: %s; readiness and watchdog "
			 "pets are not delivered", getenv("NOTIFY_SOCKET"),
			 strerror(errno));
		n->failed_logged = true;
	}
}

static void
notify_tick(struct notify *n, struct watch *w)
{
	struct watch_status st;
	uint64_t now = now_ms();
	char msg[128];

	watch_get_status(w, &st);
	if (!n->ready_sent && st.synced) {
		snprintf(msg, sizeof(msg), "READY=1\nSTATUS=serving %u services, "
			 "%u instances", st.services, st.instances);
		notify_send(n, msg);
		n->ready_sent = true;
	}
	if (n->watchdog_us != 0 &&
	    now - n->last_pet_ms >= n->watchdog_us / 2000 &&
	    now - st.loop_ms < n->watchdog_us / 1000) {
		notify_send(n, "WATCHDOG=1");
		n->last_pet_ms = now;
	}
}

int
main(int argc, char **argv)
{
	static char hostname[256];
	struct config cfg;
	struct zone_cfg zc;
	struct answer_cfg acfg;
	struct frontend *fe;
	struct httpd *hd = NULL;
	struct forward *fw;
	struct watch *w;
	struct selfreg *self;
	sigset_t sigs;
	int rc, sig;

	rc = config_parse_args(&cfg, argc, argv);
	if (rc != 0) {
		config_fini(&cfg);
		return rc > 0 ? 0 : 2;
	}
	log_init("srvshimd", cfg.log_level, !cfg.syslog);
	if (config_zone_cfg(&cfg, &zc) != 0)
		fatalx("main: zone %s, invalid", cfg.zone_text);

	/* Signals are taken by sigwait() here, never by other threads. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* Until the first complete sync, in-zone queries get SERVFAIL. */
	zone_publish(zone_new(&zc, NULL, 0, (uint32_t)wall_s(), false));

	/* The watch is created (not started) first: the answers' status
	 * callback and the HTTP endpoints read its status. */
	w = watch_new(&cfg.consul, &zc, cfg.max_watches);
	if (gethostname(hostname, sizeof(hostname) - 1) != 0)
		snprintf(hostname, sizeof(hostname), "unknown");
	acfg = (struct answer_cfg){
	    .edns_size = cfg.edns_size,
	    .diagnostics = !cfg.no_diagnostics,
	    .version = "srvshim " PACKAGE_VERSION,
	    .hostname = hostname,
	    .consul = cfg.consul.addr_text,
	    .status = answer_status_of,
	    .status_arg = w,
	    .recursion = cfg.recursor_count > 0,
	};
	fe = frontend_open(&cfg, &acfg);
	if (fe != NULL && cfg.http_enabled && (hd = httpd_open(&cfg)) == NULL) {
		frontend_free(fe);
		fe = NULL;
	}
	if (fe == NULL) {
		watch_free(w);
		zone_shutdown();
		config_fini(&cfg);
		return 1;
	}
	/* Sockets are bound: root is no longer needed. Fail closed, and
	 * before any thread starts, so every thread has the new IDs. */
	if (cfg.user != NULL && privs_drop(cfg.user) != 0) {
		httpd_stop(hd);
		frontend_free(fe);
		watch_free(w);
		zone_shutdown();
		config_fini(&cfg);
		return 1;
	}
	watch_set_max_stale(w, cfg.max_stale_ms);
	fw = forward_new(&cfg);
	frontend_set_forward(fe, fw);
	if ((fw != NULL && forward_start(fw) != 0) || frontend_start(fe) != 0 ||
	    watch_start(w) != 0 || (hd != NULL && httpd_start(hd, w) != 0))
		fatalx("main: cannot start threads");
	log_info("main: srvshimd %s, zone %s, consul %s, ready for queries",
		 PACKAGE_VERSION, zc.apex_text, cfg.consul.addr_text);
	self = selfreg_start(&cfg, w); /* NULL without --register-self */

	struct notify nt = {0};
	nt.watchdog_us = sdnotify_watchdog_usec();
	for (;;) {
		struct timespec tick = {0, 200 * 1000000L};
		notify_tick(&nt, w);
		sig = sigtimedwait(&sigs, NULL, &tick);
		if (sig < 0)
			continue; /* EAGAIN: the tick; EINTR */
		if (sig == SIGHUP) {
			reload(&cfg, w, fe, fw);
			continue;
		}
		log_info("main: %s, stopping", sig == SIGINT ? "SIGINT"
							      : "SIGTERM");
		notify_send(&nt, "STOPPING=1");
		break;
	}

	selfreg_stop(self);
	httpd_stop(hd);
	watch_stop(w);
	frontend_stop(fe);
	forward_stop(fw);
	watch_free(w);
	forward_free(fw); /* replies on the frontend's sockets: free it first */
	frontend_free(fe);
	zone_shutdown();
	config_fini(&cfg);
	log_info("main: stopped");
	return 0;
}
