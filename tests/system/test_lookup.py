# SPDX-License-Identifier: MIT
"""test_lookup.py -- `srvshim lookup` (c-ares) against a real srvshimd.

Checks:
- a short NAME means _NAME._tcp.service.local: one healthy instance is
  printed as address:port (the SRV target resolved through the same server)
- --all prints every healthy instance, one a line, and never a critical one
- --url http prints http://address:port/; IPv6 addresses get brackets;
  a full name and an IPv6 --server work
- the pick follows the SRV weights (statistically, generous bounds; the
  exact RFC 2782 draw is unit-tested in tests/unit/test_lookup.c)
- no SRV records: with --port, the A/AAAA records and that port; without,
  exit 1
- exit codes: 1 NXDOMAIN / NODATA, 3 REFUSED and no server at all, 2 usage
"""

import collections

import conftest
from dnsutil import poll
from toolutil import lookup, run_srvshim


def wait_served(srv, name, count):
    poll(lambda: len(lookup(srv, "--all", name).stdout.split()) == count,
         what="%s served with %d instances" % (name, count))


def test_pick_one_all_and_url(consul, srv, uniq):
    name = uniq("lk")
    consul.register(name + "-1", name, "127.0.30.1", 9001)
    consul.register(name + "-2", name, "127.0.30.2", 9002)
    consul.register(name + "-3", name, "127.0.30.3", 9003, status="critical")
    wait_served(srv, name, 2)
    healthy = {"127.0.30.1:9001", "127.0.30.2:9002"}

    r = lookup(srv, name)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() in healthy and r.stdout.count("\n") == 1

    r = lookup(srv, "--all", name)
    assert r.returncode == 0 and set(r.stdout.split()) == healthy

    r = lookup(srv, "--url", "http", name)
    assert r.returncode == 0
    assert r.stdout.strip() in {"http://%s/" % h for h in healthy}

    # the full RFC 2782 name and the plain service name (srvshim answers
    # SRV on both), with a trailing dot
    for full in ("_%s._tcp.service.local." % name, "%s.service.local" % name):
        r = lookup(srv, "--all", full)
        assert r.returncode == 0 and set(r.stdout.split()) == healthy, full


def test_ipv6_instance_and_server(consul, srv, uniq):
    name = uniq("lk6")
    consul.register(name + "-1", name, "::1", 9010)
    wait_served(srv, name, 1)
    r = run_srvshim("lookup", "--server", "[::1]:%d" % srv.port6, "--url",
                    "https", name)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "https://[::1]:9010/\n"


def test_pick_follows_weights(consul, srv, uniq):
    name = uniq("lkw")
    consul.register(name + "-light", name, "127.0.31.1", 9021,
                    weights={"Passing": 1, "Warning": 1})
    consul.register(name + "-heavy", name, "127.0.31.2", 9022,
                    weights={"Passing": 9, "Warning": 1})
    wait_served(srv, name, 2)
    runs = 120
    counts = collections.Counter(lookup(srv, name).stdout.strip()
                                 for _ in range(runs))
    assert set(counts) <= {"127.0.31.1:9021", "127.0.31.2:9022"}, counts
    # expected 108 of 120 (sd 3.3); uniform would give 60
    assert counts["127.0.31.2:9022"] >= 90, counts
    assert counts["127.0.31.1:9021"] >= 1, counts


def test_address_fallback_with_port(consul, srv, uniq):
    # <hex>.addr names have A records and no SRV: the fallback case
    name = "7f00200b.addr.service.local"
    r = lookup(srv, name)
    assert r.returncode == 1 and "NODATA" in r.stderr, r
    r = lookup(srv, "--port", "8080", name)
    assert r.returncode == 0 and r.stdout == "127.0.32.11:8080\n", r
    r = lookup(srv, "--port", "8080", "--url", "http", "--all", name)
    assert r.stdout == "http://127.0.32.11:8080/\n", r


def test_exit_codes(srv, uniq):
    r = lookup(srv, uniq("nosuch"))
    assert r.returncode == 1 and "NXDOMAIN" in r.stderr, r
    assert r.stdout == ""
    # outside the zone: REFUSED is a DNS failure
    r = lookup(srv, "_x._tcp.example.com")
    assert r.returncode == 3 and r.stdout == "", r
    # nobody listening there
    port = conftest.free_port()
    r = run_srvshim("lookup", "--server", "127.0.0.1:%d" % port, "--timeout",
                    "600ms", "data")
    assert r.returncode == 3, r
    for args, text in ((["lookup"], "exactly one NAME"),
                       (["lookup", "a", "b"], "exactly one NAME"),
                       (["lookup", "--port", "x", "a"], "--port"),
                       (["lookup", "--url", "ht tp", "a"], "--url"),
                       (["lookup", "--timeout", "1h", "a"], "--timeout"),
                       (["lookup", "--server", "not-an-ip", "a"], "--server"),
                       (["lookup", "--nope", "a"], "unknown option")):
        r = run_srvshim(*args)
        assert r.returncode == 2 and text in r.stderr, (args, r)
