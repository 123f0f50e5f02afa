/* SPDX-License-Identifier: MIT
 * main.c -- srvshimd: start-up order, signals, shutdown.
 * Owns:    wiring the rooms together: config -> zone (an unsynced empty
 *          snapshot first) -> frontend and httpd (bind) -> watch; then
 *          waiting for signals; then stopping in reverse order.
 * Never:   parsing, packet contents, Consul meaning.
 *
 * Exit status: 0 after SIGTERM/SIGINT, 1 on a start-up failure (cannot bind,
 * cannot start threads), 2 on a usage error. */
#include "config_feat.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <urcu-qsbr.h>

#include "answer.h"
#include "config.h"
#include "frontend.h"
#include "httpd.h"
#include "log.h"
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

int
main(int argc, char **argv)
{
	static char hostname[256];
	struct config cfg;
	struct zone_cfg zc;
	struct answer_cfg acfg;
	struct frontend *fe;
	struct httpd *hd = NULL;
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
	if (frontend_start(fe) != 0 || watch_start(w) != 0 ||
	    (hd != NULL && httpd_start(hd, w) != 0))
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

	httpd_stop(hd);
	watch_stop(w);
	frontend_stop(fe);
	watch_free(w);
	frontend_free(fe);
	zone_shutdown();
	config_fini(&cfg);
	log_info("main: stopped");
	return 0;
}
