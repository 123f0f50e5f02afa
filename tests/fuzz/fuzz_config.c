/* SPDX-License-Identifier: MIT
 * fuzz_config.c -- any bytes as srvshimd's command line: config_parse_args()
 *                  and config_zone_cfg().
 * Owns:    nothing. The input is split at NUL and newline bytes into
 *          arguments (at most 64) after argv[0] = "srvshimd"; an empty
 *          input is no argument at all.
 * Never:   sockets. It may read a file named by --token-file (at most 4 KiB,
 *          as srvshimd does); run it with stdin from /dev/null.
 * Note:    the JSON config file's parser has its own target,
 *          fuzz_conffile.c; this one stays the command line (--config FILE
 *          reads a file too, like --token-file).
 * Seeds: tests/fuzz/corpus/config/. Start reading at LLVMFuzzerTestOneInput(). */
#include "config_feat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util.h"
#include "zone.h"

#include "fuzzcheck.h"

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_ARGS + 2];
	int argc = 0;
	struct config cfg;
	struct zone_cfg zc;

	if (size > 8192)
		return 0;
	char *buf = xmalloc(size + 1);
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[argc++] = (char *)"srvshimd";
	char *p = buf, *end = buf + size;
	while (size > 0 && p <= end && argc <= MAX_ARGS) {
		char *q = p;
		while (q < end && *q != '\0' && *q != '\n')
			q++;
		*q = '\0';
		argv[argc++] = p;
		p = q + 1;
	}
	argv[argc] = NULL;

	int rc = config_parse_args(&cfg, argc, argv);
	CHECK(rc == -1 || rc == 0 || rc == 1);
	if (rc == 0) {
		/* what main() relies on after a successful parse */
		CHECK(cfg.listen_count >= 1 &&
		      cfg.listen_count <= CONFIG_MAX_LISTEN);
		for (size_t i = 0; i < cfg.listen_count; i++)
			CHECK(cfg.listen[i].len > 0 &&
			      memchr(cfg.listen[i].text, '\0',
				     sizeof(cfg.listen[i].text)) != NULL);
		CHECK(cfg.zone_text != NULL);
		CHECK(config_zone_cfg(&cfg, &zc) == 0);
		CHECK(zc.apex_len >= 1 && zc.apex_len <= ZONE_NAME_MAX);
		CHECK(cfg.edns_size >= 512 && cfg.edns_size <= 4096);
		CHECK(cfg.weight_scale >= 1 && cfg.weight_scale <= 256);
		CHECK(cfg.max_watches >= 1 && cfg.max_watches <= 190);
		CHECK(cfg.tcp_max_conns >= 1);
		CHECK(cfg.tcp_idle_ms >= 100);
		CHECK(cfg.neg_ttl_s >= 1);
		CHECK(cfg.consul.base_url != NULL);
		CHECK(cfg.consul.wait_ms >= 1000);
		for (size_t i = 0; i < cfg.svc_ttl_count; i++)
			CHECK(cfg.svc_ttls[i].name != NULL &&
			      cfg.svc_ttls[i].name[0] != '\0');
	}
	config_fini(&cfg);
	free(buf);
	return 0;
}
