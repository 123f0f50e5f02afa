#!/bin/sh
# SPDX-License-Identifier: MIT
# srv_dig.sh -- SRV lookup from the shell with `dig +short`, as a script would do it.
# Owns:   one `dig +short SRV` at the server and port given, then `dig +short A`
#         and `dig +short AAAA` for every target.
# Usage:  sh srv_dig.sh SERVER PORT [NAME]   (NAME: _data._tcp.service.local)
# Output: one line per SRV record, "TARGET PORT ADDRESS", sorted (LC_ALL=C);
#         TARGET has no final dot; ADDRESS is "-" when the target has no A/AAAA
#         record, and a target with several addresses gets one line per address.
# Exit:   0 records printed; 1 lookup failed or no SRV record; 2 usage.
set -u

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
	echo "usage: sh srv_dig.sh SERVER PORT [NAME]" >&2
	exit 2
fi
server=$1 port=$2 name=${3:-_data._tcp.service.local}
dig="dig @$server -p $port +short +tries=2 +time=2"

# +short prints "priority weight port target." per record, and nothing at all
# for NXDOMAIN or NODATA; a server that does not answer makes dig exit 9.
srv=$($dig SRV "$name") || { echo "srv_dig: $name SRV: dig failed ($?)" >&2; exit 1; }
if [ -z "$srv" ]; then
	echo "srv_dig: $name SRV: no records" >&2
	exit 1
fi

printf '%s\n' "$srv" | while read -r _prio _weight p target; do
	target=${target%.}
	addrs=$($dig A "$target"; $dig AAAA "$target")
	[ -n "$addrs" ] || addrs=-
	for a in $addrs; do
		printf '%s %s %s\n' "$target" "$p" "$a"
	done
done | LC_ALL=C sort
