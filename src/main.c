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

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu-qsbr.h>

#include "answer.h"
#include "config.h"
#include "frontend.h"
#include "log.h"
#include "util.h"
#include "watch.h"
#include "zone.h"

int
main(int argc, char **argv)
{
	struct config cfg;
	struct zone_cfg zc;
	struct answer_cfg acfg;
	struct frontend *fe;
	struct watch *w;
	sigset_t sigs;
	int rc, sig;

	rc = config_parse_args(&cfg, argc, argv);
	if (rc != 0) {
		config_fini(&cfg);
		return rc > 0 ? 0 : 2;
	}
	log_init("srvshimd", cfg.log_level, true);
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
	watch_set_max_stale(w, cfg.max_stale_ms);
	if (frontend_start(fe) != 0 || watch_start(w) != 0)
		fatalx("main: cannot start threads");
	log_info("main: srvshimd %s, zone %s, consul %s, ready for queries",
		 PACKAGE_VERSION, zc.apex_text, cfg.consul.addr_text);

	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			log_info("main: SIGHUP, nothing to reload (flags are "
				 "fixed at start)");
			continue;
		}
		log_info("main: %s, stopping", sig == SIGINT ? "SIGINT"
							      : "SIGTERM");
		break;
	}

	watch_stop(w);
	frontend_stop(fe);
	watch_free(w);
	frontend_free(fe);
	zone_shutdown();
	config_fini(&cfg);
	log_info("main: stopped");
	return 0;
}
