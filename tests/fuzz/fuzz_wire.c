/* SPDX-License-Identifier: MIT
 * fuzz_wire.c -- any bytes as a DNS query: parsing (wire.c, answer.c) and
 *                reply building against a populated snapshot.
 * Owns:    nothing; each input is answered as a UDP query (CHAOS
 *          diagnostics on; a 512-byte EDNS size; recursion configured), as
 *          a TCP query, and by an unsynced snapshot, and every reply is
 *          checked (fuzzutil.c).
 * Never:   I/O. Seeds: tests/fuzz/corpus/wire/ (one raw query per file).
 * Start reading at LLVMFuzzerTestOneInput(). */
#include "config_feat.h"

#include <stddef.h>
#include <stdint.h>

#include "fuzzutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* status.srvshim's source: a fixed, long-running, imperfect status. */
static void
fuzz_status(void *arg, struct answer_status *st)
{
	(void)arg;
	*st = (struct answer_status){
	    .synced = true, .connected = false, .last_sync_ms = 123456,
	    .data_age_ms = UINT64_MAX, .catalog_index = UINT64_MAX - 1,
	    .services = 5, .instances = 612, .watches = 5, .max_watches = 190,
	    .errors = UINT64_MAX};
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* CHAOS diagnostics on (long strings, a status source) in the first,
	 * off in the others (every CH query REFUSED). */
	static const struct answer_cfg plain = {
	    .edns_size = 1232, .diagnostics = true,
	    .version = "srvshim 0.1.0-fuzz",
	    .hostname = "a-rather-long-host-name-for-the-hostname.bind-answer."
			"example.org",
	    .consul = "https://consul.service.example.org:8501",
	    .status = fuzz_status};
	static const struct answer_cfg small = {.edns_size = 512};
	static const struct answer_cfg fwd = {.edns_size = 4096,
					      .recursion = true};

	fuzz_answer_checked(fuzz_zone(), &plain, data, size, false);
	fuzz_answer_checked(fuzz_zone(), &small, data, size, false);
	fuzz_answer_checked(fuzz_zone(), &fwd, data, size, false);
	fuzz_answer_checked(fuzz_zone(), &plain, data, size, true);
	fuzz_answer_checked(fuzz_zone_unsynced(), &plain, data, size, false);
	return 0;
}
