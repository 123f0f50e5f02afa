#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""srv_dnspython.py -- SRV lookup with dnspython, as a Python service would do it.

Owns:   a Resolver pointed at one server (not /etc/resolv.conf), the SRV query,
        then A and AAAA queries for every target; the "target port address" lines.
Usage:  srv_dnspython.py SERVER PORT [NAME]   (NAME: _data._tcp.service.local)
Output: one line per SRV record, "TARGET PORT ADDRESS", sorted; TARGET has no
        final dot; ADDRESS is "-" when the target has no A/AAAA record, and a
        target with several addresses gets one line per address.
Exit:   0 records printed; 1 lookup failed or no SRV record; 2 usage."""

import ipaddress
import sys

import dns.exception
import dns.resolver


def addresses(res, target):
    """The target's A and AAAA addresses, canonical text (RFC 5952)."""
    out = []
    for rdtype in ("A", "AAAA"):
        try:
            ans = res.resolve(target, rdtype, search=False)
        except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
            continue
        out += [str(ipaddress.ip_address(r.address)) for r in ans]
    return out


def main(argv):
    if len(argv) not in (3, 4):
        print("usage: srv_dnspython.py SERVER PORT [NAME]", file=sys.stderr)
        return 2
    server, port = argv[1], int(argv[2])
    name = argv[3] if len(argv) == 4 else "_data._tcp.service.local"

    res = dns.resolver.Resolver(configure=False)  # no /etc/resolv.conf
    res.nameservers = [server]
    res.port = port
    res.lifetime = 5.0
    try:
        srv = res.resolve(name, "SRV", search=False)
        lines = []
        for r in srv:
            target = r.target.to_text(omit_final_dot=True)
            for a in addresses(res, target) or ["-"]:
                lines.append("%s %d %s" % (target, r.port, a))
    except dns.exception.DNSException as e:
        print("srv_dnspython: %s SRV: %s" % (name, e), file=sys.stderr)
        return 1
    for line in sorted(lines):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
