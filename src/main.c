/* SPDX-License-Identifier: MIT
 * main.c -- srvshimd: start-up order, signals, shutdown.
 * Owns:    wiring the rooms together: config -> zone (an unsynced empty
 *          snapshot first) -> frontend (bind) -> watch; then waiting for
 *          signals; then stopping in reverse order.
 * Never:   parsing, packet contents, Consul meaning.
 *
 * Exit status: 0 after SIGTERM/SIGINT, 1 on a start-up failure (cannot bind,
 * cannot start threads), 2 on a usage error. */
#include "config_feat.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <urcu-qsbr.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "answer.h"
#include "config.h"
#include "frontend.h"
#include "log.h"
#include "selfreg.h"
#include "util.h"
#include "watch.h"
#include "zone.h"

/* SIGHUP: the same flags and the file again. What can change at run time is
 * applied; what needs new sockets or threads is named and kept. A file that
 * does not parse changes nothing. */
static void
reload(const struct config *cfg, struct watch *w)
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
	    next.tcp_idle_ms != cfg->tcp_idle_ms)
		log_warnx("main: reload, zone, listen, consul, workers, "
			  "edns-size, max-watches and tcp options need a "
			  "restart; their running values stay");
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
	uint64_t watchdog_us;
	uint64_t last_pet_ms;
};

static void
notify_tick(struct notify *n, struct watch *w)
{
#ifdef HAVE_SYSTEMD
	struct watch_status st;
	uint64_t now = now_ms();

	watch_get_status(w, &st);
	if (!n->ready_sent && st.synced) {
		sd_notifyf(0, "READY=1\nSTATUS=serving %u services, %u "
			   "instances", st.services, st.instances);
		n->ready_sent = true;
	}
	if (n->watchdog_us != 0 &&
	    now - n->last_pet_ms >= n->watchdog_us / 2000 &&
	    now - st.loop_ms < n->watchdog_us / 1000) {
		sd_notify(0, "WATCHDOG=1");
		n->last_pet_ms = now;
	}
#else
	(void)n;
	(void)w;
#endif
}

int
main(int argc, char **argv)
{
	struct config cfg;
	struct zone_cfg zc;
	struct answer_cfg acfg;
	struct frontend *fe;
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

	acfg = (struct answer_cfg){.edns_size = cfg.edns_size};
	fe = frontend_open(&cfg, &acfg);
	if (fe == NULL) {
		zone_shutdown();
		config_fini(&cfg);
		return 1;
	}
	w = watch_new(&cfg.consul, &zc, cfg.max_watches);
	if (frontend_start(fe) != 0 || watch_start(w) != 0)
		fatalx("main: cannot start threads");
	log_info("main: srvshimd %s, zone %s, consul %s, ready for queries",
		 PACKAGE_VERSION, zc.apex_text, cfg.consul.addr_text);
	self = selfreg_start(&cfg, w); /* NULL without --register-self */

	struct notify nt = {0};
#ifdef HAVE_SYSTEMD
	if (sd_watchdog_enabled(0, &nt.watchdog_us) <= 0)
		nt.watchdog_us = 0;
#endif
	for (;;) {
		struct timespec tick = {0, 200 * 1000000L};
		notify_tick(&nt, w);
		sig = sigtimedwait(&sigs, NULL, &tick);
		if (sig < 0)
			continue; /* EAGAIN: the tick; EINTR */
		if (sig == SIGHUP) {
			reload(&cfg, w);
			continue;
		}
		log_info("main: %s, stopping", sig == SIGINT ? "SIGINT"
							      : "SIGTERM");
		break;
	}

	selfreg_stop(self);
	watch_stop(w);
	frontend_stop(fe);
	watch_free(w);
	frontend_free(fe);
	zone_shutdown();
	config_fini(&cfg);
#ifdef HAVE_SYSTEMD
	sd_notify(0, "STOPPING=1");
#endif
	log_info("main: stopped");
	return 0;
}
