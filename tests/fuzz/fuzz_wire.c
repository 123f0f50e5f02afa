/* SPDX-License-Identifier: MIT
 * fuzz_wire.c -- any bytes as a DNS query: parsing (wire.c, answer.c) and
 *                reply building against a populated snapshot.
 * Owns:    nothing; each input is answered as a UDP query (with and without
 *          recursion configured), as a TCP query, and by an unsynced
 *          snapshot, and every reply is checked (fuzzutil.c).
 * Never:   I/O. Seeds: tests/fuzz/corpus/wire/ (one raw query per file).
 * Start reading at LLVMFuzzerTestOneInput(). */
#include "config_feat.h"

#include <stddef.h>
#include <stdint.h>

#include "fuzzutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct answer_cfg plain = {.edns_size = 1232};
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
