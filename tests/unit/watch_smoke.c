/* SPDX-License-Identifier: MIT
 * watch_smoke.c -- a manual check of watch.c and http.c against a real
 *                  `consul agent -dev` (not part of the build).
 * Owns:    nothing; registers services through the agent's HTTP API with
 *          curl(1), then polls the published zone until each change shows.
 * Never:   runs in make check (it needs a live agent and takes ~1 min).
 *
 * Build and run (the agent listening on 127.0.0.1:22500):
 *   gcc -std=c11 -g -Isrc -o /tmp/watch_smoke tests/unit/watch_smoke.c \
 *     src/util.c src/log.c src/catalog.c src/zone.c src/wire.c src/http.c \
 *     src/watch.c $(pkg-config --cflags --libs libcurl libcjson \
 *     liburcu-qsbr) -pthread
 *   valgrind --leak-check=full /tmp/watch_smoke 127.0.0.1:22500 [PROXY MODEFILE]
 * With PROXY (host:port of a fault-injecting proxy in front of the agent that
 * reads its mode -- ok, 500, garbage, lowindex, zeroindex -- from MODEFILE
 * and logs one line per request to MODEFILE.log), a fault phase runs too. */
#include "config_feat.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <urcu-qsbr.h>

#include "log.h"
#include "util.h"
#include "watch.h"
#include "zone.h"

static const char *addr = "127.0.0.1:22500";
static int failures;

static void
sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs curl against the agent: sh("PUT", "/v1/...", body). */
static void
sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fprintf(stderr, "smoke: command failed: %s\n", cmd);
}

static void
put(const char *path, const char *body)
{
	sh("curl -sf -o /dev/null -X PUT 'http://%s%s' -d '%s'", addr, path,
	   body ? body : "");
}

static void
reg(const char *name, const char *id, int port, bool with_check)
{
	char body[512];
	snprintf(body, sizeof(body),
		 "{\"Name\":\"%s\",\"ID\":\"%s\",\"Address\":\"10.0.0.%d\","
		 "\"Port\":%d%s}",
		 name, id, port % 250 + 1, port,
		 with_check ? ",\"Check\":{\"TTL\":\"10m\"}" : "");
	put("/v1/agent/service/register", body);
}

static void
check(const char *id, const char *state)
{
	char path[256];
	snprintf(path, sizeof(path), "/v1/agent/check/%s/service:%s", state, id);
	put(path, NULL);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Served instances of name in the current zone; -1 when the name does not
 * exist, -2 when there is no synced zone yet. */
static int
served(const char *name)
{
	uint8_t rel[64];
	size_t n = strlen(name);
	struct zone_hit hit;
	const struct zone *z;
	int r;

	rel[0] = (uint8_t)n;
	for (size_t i = 0; i < n; i++)
		rel[1 + i] = ascii_lower((uint8_t)name[i]);
	rcu_thread_online();
	z = zone_current();
	if (z == NULL || !zone_synced(z))
		r = -2;
	else if (!zone_lookup(z, rel, n + 1, &hit) || hit.set == NULL)
		r = -1;
	else
		r = (int)hit.set->count;
	rcu_thread_offline();
	return r;
}

/* Polls until name serves want instances; returns the ms it took. */
static long
expect(const char *what, const char *name, int want, long limit_ms)
{
	uint64_t t0 = now_ms();
	int got = -3;

	while ((long)(now_ms() - t0) < limit_ms) {
		got = served(name);
		if (got == want) {
			printf("ok   %-48s %4ld ms\n", what,
			       (long)(now_ms() - t0));
			return (long)(now_ms() - t0);
		}
		sleep_ms(50);
	}
	printf("FAIL %-48s got %d, want %d\n", what, got, want);
	failures++;
	return -1;
}

static bool
wait_synced(struct watch *w, long limit_ms)
{
	uint64_t t0 = now_ms();
	struct watch_status st;

	while ((long)(now_ms() - t0) < limit_ms) {
		watch_get_status(w, &st);
		if (st.synced)
			return true;
		sleep_ms(50);
	}
	return false;
}

static void
phase_basic(const struct consul_cfg *cc, const struct zone_cfg *zc)
{
	struct watch *w = watch_new(cc, zc, 8);
	struct watch_status st;
	uint32_t serial0;

	reg("web", "web1", 80, true);
	reg("web", "web2", 81, true);
	check("web1", "pass");
	check("web2", "pass");
	if (watch_start(w) != 0 || !wait_synced(w, 10000)) {
		printf("FAIL basic: no sync\n");
		failures++;
		watch_free(w);
		return;
	}
	watch_get_status(w, &st);
	serial0 = st.serial;
	printf("ok   basic: synced, %u services, %u instances, serial %u, "
	       "%u watches\n",
	       st.services, st.instances, st.serial, st.watches);
	expect("basic: web has 2", "web", 2, 5000);
	check("web2", "fail");
	expect("basic: web2 critical -> 1", "web", 1, 5000);
	check("web2", "warn");
	expect("basic: web2 warning -> 2", "web", 2, 5000);
	put("/v1/agent/service/deregister/web1", NULL);
	expect("basic: web1 deregistered -> 1", "web", 1, 5000);
	reg("api", "api1", 90, false);
	expect("basic: api appears (no check) -> 1", "api", 1, 5000);
	put("/v1/agent/service/deregister/api1", NULL);
	expect("basic: api gone", "api", -1, 5000);
	put("/v1/agent/service/deregister/web2", NULL);
	expect("basic: web gone", "web", -1, 5000);
	watch_get_status(w, &st);
	printf("%s basic: serial %u -> %u, errors %llu, connected %d\n",
	       st.serial > serial0 ? "ok  " : "FAIL", serial0, st.serial,
	       (unsigned long long)st.errors, st.connected);
	if (st.serial <= serial0)
		failures++;
	watch_stop(w);
	watch_free(w);
}

/* max_watches=2 with "consul" and s0..s4: slots go to consul and s0; s1..s4
 * rely on the change detector and the sweep. */
static void
phase_cap(const struct consul_cfg *cc, const struct zone_cfg *zc)
{
	struct watch *w = watch_new(cc, zc, 2);
	struct watch_status st;
	char name[16], id[16];

	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		snprintf(id, sizeof(id), "s%d-a", i);
		reg(name, id, 100 + i, true);
		check(id, "pass");
	}
	reg("s9", "s9-a", 109, false); /* no check: only the sweep sees it */
	if (watch_start(w) != 0 || !wait_synced(w, 15000)) {
		printf("FAIL cap: no sync\n");
		failures++;
		watch_free(w);
		return;
	}
	watch_get_status(w, &st);
	printf("%s cap: synced, %u services, %u watches (max %u)\n",
	       st.services == 7 && st.watches <= 2 + 2 ? "ok  " : "FAIL",
	       st.services, st.watches, st.max_watches);
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		expect("cap: sN has 1", name, 1, 3000);
	}
	check("s3-a", "fail");
	expect("cap: slotless s3 critical -> 0 (detector)", "s3", 0, 8000);
	check("s3-a", "pass");
	expect("cap: slotless s3 passing -> 1 (detector)", "s3", 1, 8000);
	check("s0-a", "fail");
	expect("cap: slotted s0 critical -> 0", "s0", 0, 5000);
	reg("s2", "s2-b", 202, true);
	check("s2-b", "pass");
	expect("cap: slotless s2 second instance -> 2", "s2", 2, 8000);
	reg("s9", "s9-b", 209, false);
	expect("cap: check-less s9 second instance (sweep)", "s9", 2, 15000);
	put("/v1/agent/maintenance?enable=true&reason=smoke", NULL);
	expect("cap: node maintenance -> slotless s4 0", "s4", 0, 8000);
	expect("cap: node maintenance -> slotless s9 0", "s9", 0, 8000);
	put("/v1/agent/maintenance?enable=false", NULL);
	expect("cap: node maintenance off -> s4 1", "s4", 1, 8000);
	put("/v1/agent/service/deregister/s0-a", NULL);
	expect("cap: s0 gone, its slot moves on", "s0", -1, 5000);
	check("s1-a", "fail");
	expect("cap: s1 critical -> 0", "s1", 0, 8000);
	watch_get_status(w, &st);
	printf("     cap: %u watches now, errors %llu, serial %u\n", st.watches,
	       (unsigned long long)st.errors, st.serial);
	watch_stop(w);
	watch_free(w);
	for (int i = 1; i < 5; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/v1/agent/service/deregister/s%d-a",
			 i);
		put(path, NULL);
	}
	put("/v1/agent/service/deregister/s2-b", NULL);
	put("/v1/agent/service/deregister/s9-a", NULL);
	put("/v1/agent/service/deregister/s9-b", NULL);
}

/* Consul goes away (a port nobody listens on): no sync, errors counted,
 * and stop still returns promptly. */
static void
phase_unreachable(const struct zone_cfg *zc)
{
	struct consul_cfg bad = {0};
	struct watch *w;
	struct watch_status st;
	uint64_t t0;

	bad.base_url = "http://127.0.0.1:1";
	bad.addr_text = "127.0.0.1:1";
	bad.ssl_verify = true;
	bad.wait_ms = 5000;
	w = watch_new(&bad, zc, 4);
	watch_start(w);
	sleep_ms(1500);
	watch_get_status(w, &st);
	t0 = now_ms();
	watch_stop(w);
	printf("%s unreachable: synced %d, connected %d, errors %llu, stop in "
	       "%llu ms\n",
	       !st.synced && !st.connected && st.errors >= 3 ? "ok  " : "FAIL",
	       st.synced, st.connected, (unsigned long long)st.errors,
	       (unsigned long long)(now_ms() - t0));
	if (st.synced || st.errors < 3)
		failures++;
	watch_free(w);
}


static const char *modefile;

static void
set_mode(const char *m)
{
	FILE *f = fopen(modefile, "w");
	if (f != NULL) {
		fprintf(f, "%s\n", m);
		fclose(f);
	}
}

/* Requests the proxy saw in the last ms milliseconds. */
static int
proxy_requests(long ms)
{
	char path[512], line[512];
	FILE *f;
	int n = 0;
	struct timespec ts;
	double now, t;

	clock_gettime(CLOCK_REALTIME, &ts);
	now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	snprintf(path, sizeof(path), "%s.log", modefile);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "%lf", &t) == 1 && now - t <= (double)ms / 1000)
			n++;
	fclose(f);
	return n;
}

/* Faults from the proxy: a 500 episode and garbage bodies keep the last good
 * data; a backwards or zero index cannot make the watch spin. */
static void
phase_faults(const char *proxy, const struct zone_cfg *zc)
{
	struct consul_cfg pc = {0};
	struct watch_status st, st2;
	struct watch *w;
	char url[128];
	int n;

	snprintf(url, sizeof(url), "http://%s", proxy);
	pc.base_url = url;
	pc.addr_text = (char *)(uintptr_t)proxy;
	pc.ssl_verify = true;
	pc.wait_ms = 10000;
	set_mode("ok");
	reg("f0", "f0-a", 300, true);
	check("f0-a", "pass");
	reg("f1", "f1-a", 301, true);
	check("f1-a", "pass");
	w = watch_new(&pc, zc, 1); /* f0 slotless, f1 slotless, consul slotted */
	if (watch_start(w) != 0 || !wait_synced(w, 15000)) {
		printf("FAIL faults: no sync\n");
		failures++;
		watch_free(w);
		return;
	}
	expect("faults: f0 has 1", "f0", 1, 3000);

	set_mode("500");
	check("f0-a", "fail");
	sleep_ms(4000);
	watch_get_status(w, &st);
	printf("%s faults: 500s keep data (f0 %d, errors %llu, connected %d)\n",
	       served("f0") == 1 && st.errors > 0 && !st.connected ? "ok  "
								   : "FAIL",
	       served("f0"), (unsigned long long)st.errors, st.connected);
	if (served("f0") != 1 || st.errors == 0)
		failures++;
	set_mode("ok");
	expect("faults: recovered, f0 critical -> 0", "f0", 0, 35000);

	set_mode("garbage");
	check("f0-a", "pass");
	sleep_ms(4000);
	printf("%s faults: garbage keeps data (f0 %d)\n",
	       served("f0") == 0 ? "ok  " : "FAIL", served("f0"));
	if (served("f0") != 0)
		failures++;
	set_mode("ok");
	expect("faults: garbage over, f0 passing -> 1", "f0", 1, 35000);

	set_mode("lowindex");
	check("f0-a", "warn"); /* makes the blocking queries return */
	reg("f2", "f2-a", 302, false);
	sleep_ms(5000);
	n = proxy_requests(3000);
	printf("%s faults: index going backwards, %d requests in 3 s\n",
	       n >= 0 && n <= 15 ? "ok  " : "FAIL", n);
	if (n < 0 || n > 15)
		failures++;
	set_mode("zeroindex");
	check("f0-a", "pass");
	put("/v1/agent/service/deregister/f2-a", NULL);
	sleep_ms(5000);
	n = proxy_requests(3000);
	printf("%s faults: index 0, %d requests in 3 s\n",
	       n >= 0 && n <= 15 ? "ok  " : "FAIL", n);
	if (n < 0 || n > 15)
		failures++;
	set_mode("ok");
	check("f1-a", "fail");
	expect("faults: back to normal, f1 critical -> 0", "f1", 0, 15000);
	watch_get_status(w, &st);
	sleep_ms(3000);
	watch_get_status(w, &st2);
	n = proxy_requests(3000);
	printf("     faults: idle: %d requests in 3 s, errors %llu\n", n,
	       (unsigned long long)st2.errors);
	watch_free(w);
	put("/v1/agent/service/deregister/f0-a", NULL);
	put("/v1/agent/service/deregister/f1-a", NULL);
}

int
main(int argc, char **argv)
{
	struct consul_cfg cc = {0};
	struct zone_cfg zc;
	char url[128];

	if (argc > 1)
		addr = argv[1];
	log_init("watch_smoke", getenv("SMOKE_DEBUG") ? LOG_LVL_DEBUG
						      : LOG_LVL_INFO,
		 true);
	snprintf(url, sizeof(url), "http://%s", addr);
	cc.base_url = url;
	cc.addr_text = (char *)(uintptr_t)addr;
	cc.ssl_verify = true;
	cc.wait_ms = 10000; /* short, so timeouts and re-arms happen too */
	if (zone_cfg_init(&zc, "service.local") != 0)
		return 2;
	rcu_register_thread();
	rcu_thread_offline();

	phase_basic(&cc, &zc);
	phase_cap(&cc, &zc);
	phase_unreachable(&zc);
	if (argc > 3) {
		modefile = argv[3];
		phase_faults(argv[2], &zc);
	}

	zone_shutdown();
	rcu_thread_online();
	rcu_unregister_thread();
	printf("%s: %d failures\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}
