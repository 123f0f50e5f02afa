# SPDX-License-Identifier: MIT
"""test_acl.py -- srvshim is never an open resolver (--allow).

Checks:
- with --allow 127.0.0.2/32 a client on 127.0.0.1 gets REFUSED for zone
  names and names outside the zone, over UDP and TCP, with its ID and
  question echoed and no records; nothing is forwarded for it
- the same daemon answers a client on 127.0.0.2 (zone and forwarded)
- IPv6: ::1 is refused unless a prefix covers it
- the default allows loopback (127.0.0.0/8 and ::1) only
- bad --allow values and wildcard --listen addresses are usage errors
"""


import dns.message
import dns.query
import dns.rcode
import pytest

from conftest import free_port, run_srvshimd
from dnsutil import describe, header, poll, question, tcp_raw, udp_raw, walk
from fakes.upstream import Upstream


@pytest.fixture
def fake_upstream():
    u = Upstream(free_port(), mode="answer").start()
    yield u
    u.stop()


def udp_from(src, d, name, rdtype="A", v6=False):
    q = dns.message.make_query(name, rdtype)
    addr, port = d.addr(v6)
    return dns.query.udp(q, addr, port=port, timeout=2, source=src)


def test_outside_allow_is_refused(new_srvshimd, fake_upstream):
    d = new_srvshimd("--allow", "127.0.0.2/32",
                     "--recursor", fake_upstream.addr(), wait=None)
    # Synced as seen from an allowed client.
    def synced():
        r = udp_from("127.0.0.2", d, "service.local.", "SOA")
        return r.rcode() == dns.rcode.NOERROR and r.answer
    poll(synced, timeout=20, what="synced via 127.0.0.2")

    for name, qtype in (("service.local", 6), ("consul.service.local", 1),
                        ("Out.Side.Example", 1)):
        q = header(qid=0x5151, flags=0x0100) + question(name, qtype)
        for wire in (udp_raw(q, *d.addr()), tcp_raw(q, *d.addr())):
            assert wire is not None, "no reply for %s" % name
            h, qs, recs = walk(wire)
            assert h["rcode"] == dns.rcode.REFUSED, (name, h)
            assert h["id"] == 0x5151 and qs == [question(name, qtype)]
            assert recs == [] and not h["aa"]
    assert fake_upstream.count() == 0, "a refused client was forwarded"

    r = udp_from("127.0.0.2", d, "out.side.example.")
    assert r.rcode() == dns.rcode.NOERROR and r.answer, describe(r)
    assert fake_upstream.count() == 1
    r = udp_from("::1", d, "service.local.", "SOA", v6=True)
    assert r.rcode() == dns.rcode.REFUSED, describe(r)


def test_ipv6_prefix_allows_ipv6(new_srvshimd):
    d = new_srvshimd("--allow", "::/0", wait=None)
    poll(lambda: udp_from("::1", d, "service.local.", "SOA", v6=True)
         .rcode() == dns.rcode.NOERROR, timeout=20, what="::1 answered")
    r = udp_from("127.0.0.1", d, "service.local.", "SOA")
    assert r.rcode() == dns.rcode.REFUSED, describe(r)


def test_default_allows_loopback(srv):
    for src in ("127.0.0.1", "127.3.4.5"):
        r = udp_from(src, srv, "service.local.", "SOA")
        assert r.rcode() == dns.rcode.NOERROR, describe(r)
    r = udp_from("::1", srv, "service.local.", "SOA", v6=True)
    assert r.rcode() == dns.rcode.NOERROR, describe(r)


@pytest.mark.parametrize("bad", ["10.0.0.1/8", "example.com", "10.0.0.0/33",
                                 "::1/129", "/8", ""])
def test_bad_allow_values(bad):
    p = run_srvshimd("--allow", bad)
    assert p.returncode == 2, p.stderr
    assert "--allow" in p.stderr


@pytest.mark.parametrize("wild", ["0.0.0.0:5300", "[::]:5300"])
def test_wildcard_listen_is_refused(wild):
    p = run_srvshimd("--listen", wild)
    assert p.returncode == 2, p.stderr
    assert "wildcard" in p.stderr and "explicit" in p.stderr
