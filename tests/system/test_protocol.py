# SPDX-License-Identifier: MIT
"""test_protocol.py -- DNS message handling, from raw bytes up.

Checks:
- the question comes back byte for byte (0x20 mixed case); names match
  case-insensitively; ID and RD echoed; QR=1, AA=1, RA=0 in-zone
- answers are shuffled: over many queries more than one order of A and SRV
- opcode other than QUERY (IQUERY, STATUS, NOTIFY, UPDATE) -> NOTIMP
- class other than IN (CH, HS, ANY) -> REFUSED; names outside the zone
  (example.com, the root, the parent, a look-alike suffix) -> REFUSED
- packets with QR=1 get no reply (and the socket keeps serving)
- runts shorter than the 12-byte header: no reply
- FORMERR: header alone, QDCOUNT 0 and 2, truncated
  question, label > 63, name > 255, bad label type, compression loops
  (self, two-step), forward and out-of-range pointers, two OPTs, OPT in the
  answer or authority section; each reply keeps the ID and parses
- EDNS: OPT in the reply iff the query had one (also on NXDOMAIN, REFUSED,
  NOTIMP), payload 1232, OPT the last record; version 1 -> BADVERS with an
  OPT of version 0; unknown options and flags ignored
- ANY -> a single HINFO record (RFC 8482)
"""

import random
import socket
import struct

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from dnsutil import (addrs, describe, header, opt_rr, parse_header, poll,
                     question, rrs, udp_raw, walk, wire_name)

T_A, T_SRV, T_OPT = 1, 33, 41
RC_FORMERR, RC_NOTIMP, RC_REFUSED = 1, 4, 5


def raw(srv, data, timeout=2.0):
    ip, port = srv.addr()
    return udp_raw(data, ip, port, timeout)


@pytest.fixture
def many(consul, srv, uniq):
    """A service with 6 instances on 6 addresses."""
    name = uniq("shuf")
    ips = ["127.0.7.%d" % i for i in range(1, 7)]
    consul.register_many(name, ips, port=9200)
    poll(lambda: addrs(srv.q(name, "A")) == sorted(ips), what="6 instances")
    return name


def fqdn(srv, rel):
    return srv.fqdn(rel).rstrip(".")


def mixed_case(name, rng):
    return "".join(c.upper() if rng.random() < 0.5 else c.lower()
                   for c in name)


# ---- question, case, flags --------------------------------------------------


def test_0x20_question_echoed(srv, many):
    rng = random.Random(7)
    for _ in range(5):
        name = mixed_case(fqdn(srv, many), rng)
        q = question(name, T_A)
        wire = raw(srv, header(0x5A5A, 0) + q)
        assert wire is not None, "no reply"
        h, qs, recs = walk(wire)
        assert h["id"] == 0x5A5A and h["qr"] and h["rcode"] == 0
        assert qs == [q], "question must be echoed byte for byte: %r" % qs
        assert len([r for r in recs if r[0] == "an" and r[1] == T_A]) == 6


def test_case_insensitive(srv, many):
    want = addrs(srv.q(many, "A"))
    for name in (many.upper(), many.title()):
        assert addrs(srv.q(name + "." + srv.zone.upper() + ".", "A")) == want
    r = srv.q(("7F00000B.AdDr." + srv.zone).upper() + ".", "A")
    assert addrs(r) == ["127.0.0.11"]


@pytest.mark.parametrize("rd", [0, 0x0100])
def test_header_flags(srv, many, rd):
    wire = raw(srv, header(0xBEEF, rd) + question(fqdn(srv, many)))
    h = parse_header(wire)
    assert h["id"] == 0xBEEF and h["qr"] and h["opcode"] == 0
    assert h["aa"], "AA=1 in-zone"
    assert not h["ra"], "RA=0"
    assert not h["tc"]
    assert h["rd"] == bool(rd), "RD is copied from the query"


def test_shuffled(srv, many):
    a_orders, srv_orders = set(), set()
    for _ in range(60):
        a_orders.add(tuple(x.address for x in rrs(srv.q(many, "A"), "A")))
        srv_orders.add(tuple(x.port for x in rrs(srv.q(many, "SRV"), "SRV")))
        if len(a_orders) > 2 and len(srv_orders) > 2:
            break
    assert len(a_orders) > 1, "A records always in one order: %s" % a_orders
    assert len(srv_orders) > 1, "SRV always in one order: %s" % srv_orders
    assert all(len(o) == 6 for o in a_orders | srv_orders)


# ---- opcode, class, zone ----------------------------------------------------


@pytest.mark.parametrize("opcode", [1, 2, 4, 5])
def test_opcode_notimp(srv, opcode):
    wire = raw(srv, header(0x1001, opcode << 11) + question(srv.zone, 6))
    assert wire is not None, "no reply to opcode %d" % opcode
    h = parse_header(wire)
    assert h["id"] == 0x1001 and h["qr"]
    assert h["rcode"] == RC_NOTIMP, "opcode %d: rcode %d" % (opcode, h["rcode"])


@pytest.mark.parametrize("qclass", [3, 4, 255])
def test_class_refused(srv, qclass):
    wire = raw(srv, header(0x1002) + question(srv.zone, 6, qclass))
    h = parse_header(wire)
    assert h["id"] == 0x1002 and h["qr"]
    assert h["rcode"] == RC_REFUSED, "class %d: rcode %d" % (qclass, h["rcode"])


@pytest.mark.parametrize("name", ["example.com.", ".", "local.",
                                  "xservice.local.", "service.local.evil.",
                                  "consul."])
def test_outside_zone_refused(srv, name):
    r = srv.q(name, "A")
    assert r.rcode() == dns.rcode.REFUSED, describe(r)
    assert not r.answer
    assert not r.flags & dns.flags.RA


def test_qr_set_gets_no_reply(srv):
    ip, port = srv.addr()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(2)
        # a "reply" to us must be dropped ...
        s.sendto(header(0x2001, 0x8000) + question(srv.zone, 6), (ip, port))
        s.sendto(header(0x2001, 0x8400, an=0) + question("example.com", 1),
                 (ip, port))
        # ... while the query after them on the same socket is answered
        s.sendto(header(0x2002) + question(srv.zone, 6), (ip, port))
        got = parse_header(s.recvfrom(65535)[0])
        assert got["id"] == 0x2002, "QR=1 packet was answered"
        s.settimeout(0.3)
        with pytest.raises(socket.timeout):
            s.recvfrom(65535)
    finally:
        s.close()


# ---- FORMERR ----------------------------------------------------------------


def _formerr_cases():
    z = wire_name("service.local")
    q_ok = question("service.local", 6)
    tt = struct.pack("!HH", 6, 1)
    cases = {
        "header-only": header(0x3001),
        "qdcount-0": header(0x3001, qd=0) + q_ok,
        "qdcount-2": header(0x3001, qd=2) + q_ok + q_ok,
        "truncated-question": header(0x3001) + z + b"\x00",
        "label-64": header(0x3001) + b"\x40" + b"a" * 64 + z + tt,
        "name-over-255": header(0x3001) + (b"\x3f" + b"a" * 63) * 4 + z + tt,
        "bad-label-type": header(0x3001) + b"\x81" + b"a" + z + tt,
        "pointer-loop-self": header(0x3001) + b"\xc0\x0c" + tt,
        "pointer-loop-two": header(0x3001) + b"\x01a\xc0\x0c" + tt,
        # pointer to offset 18, after the question, where a name sits
        "pointer-forward": header(0x3001) + b"\xc0\x12" + tt + z,
        "pointer-out-of-range": header(0x3001) + b"\xc0\xff" + tt,
        "two-opt": header(0x3001, ar=2) + q_ok + opt_rr() + opt_rr(),
        "opt-in-answer": header(0x3001, an=1) + q_ok + opt_rr(),
        "opt-in-authority": header(0x3001, ns=1) + q_ok + opt_rr(),
        "record-truncated": header(0x3001, ar=1) + q_ok + opt_rr()[:7],
    }
    return cases


@pytest.mark.parametrize("length", [0, 1, 2, 4, 7, 11])
def test_runt_below_header_is_dropped(srv, length):
    """Shorter than the 12-byte header: no reply at all (as BIND, Unbound
    and Knot do). Nothing in it can be answered, and replying would turn
    a few spoofed bytes into 12."""
    assert raw(srv, header(0x3001)[:length], timeout=0.5) is None
    assert srv.q("@", "SOA").rcode() == dns.rcode.NOERROR


@pytest.mark.parametrize("case", sorted(_formerr_cases()))
def test_formerr(srv, case):
    data = _formerr_cases()[case]
    wire = raw(srv, data)
    assert wire is not None, "%s: no reply" % case
    h = parse_header(wire)
    assert h["id"] == 0x3001, "%s: ID not kept" % case
    assert h["qr"]
    assert h["rcode"] == RC_FORMERR, "%s: rcode %d" % (case, h["rcode"])
    assert len(wire) <= 512
    walk(wire)  # the reply itself is well-formed
    # and the server is still fine
    assert srv.q("@", "SOA").rcode() == dns.rcode.NOERROR


# ---- EDNS -------------------------------------------------------------------


def opt_records(wire):
    return [(i, r) for i, r in enumerate(walk(wire)[2]) if r[1] == T_OPT]


def test_no_opt_without_edns(srv, many):
    for rdtype in (T_A, T_SRV):
        wire = raw(srv, header() + question(fqdn(srv, many), rdtype))
        assert opt_records(wire) == []


@pytest.mark.parametrize("rel,qtype,rcode", [
    (None, T_SRV, 0), ("nosuchservice-zz", T_A, 3), ("@", 6, 0)])
def test_opt_last_in_additional(srv, many, rel, qtype, rcode):
    name = fqdn(srv, rel or many)
    wire = raw(srv, header(ar=1) + question(name, qtype) + opt_rr(4096))
    h, _, recs = walk(wire)
    opts = opt_records(wire)
    assert len(opts) == 1, "exactly one OPT"
    idx, (sec, _, payload, ttl, _) = opts[0]
    assert sec == "ar" and idx == len(recs) - 1, "OPT must be the last record"
    assert payload == 1232, "srvshim's UDP size"
    assert (ttl >> 16) & 0xFF == 0, "EDNS version 0"
    assert h["rcode"] | ((ttl >> 24) << 4) == rcode
    if rel is None:  # SRV: glue precedes the OPT
        assert [r[1] for r in recs if r[0] == "ar"].count(T_A) == 6


@pytest.mark.parametrize("data", [
    question("example.com", 1),              # REFUSED
    question("service.local", 6, 3),         # REFUSED (class)
])
def test_opt_on_refused(srv, data):
    wire = raw(srv, header(ar=1) + data + opt_rr())
    h = parse_header(wire)
    assert h["rcode"] == RC_REFUSED
    assert len(opt_records(wire)) == 1


def test_opt_on_notimp(srv):
    wire = raw(srv, header(0x4001, 4 << 11, ar=1) +
               question(srv.zone, 6) + opt_rr())
    h = parse_header(wire)
    assert h["rcode"] == RC_NOTIMP
    assert len(opt_records(wire)) == 1


def test_badvers(srv):
    r = srv.q("@", "SOA", edns=1)
    assert r.rcode() == dns.rcode.BADVERS, describe(r)
    assert r.edns == 0, "reply OPT carries version 0"
    assert not r.answer
    # and the raw extended rcode: header 0, OPT high bits 1
    wire = raw(srv, header(ar=1) + question(srv.zone, 6) + opt_rr(version=1))
    h = parse_header(wire)
    (_, (_, _, _, ttl, _)), = opt_records(wire)
    assert h["rcode"] == 0 and ttl >> 24 == 1


def test_unknown_edns_option_ignored(srv, many):
    opt = dns.edns.GenericOption(65001, b"srvshim-test")
    r = srv.q(many, "A", edns=0, options=[opt])
    assert r.rcode() == dns.rcode.NOERROR and len(addrs(r)) == 6, describe(r)
    assert r.edns == 0 and r.payload == 1232
    assert all(o.otype != 65001 for o in r.options), "unknown option echoed"


@pytest.mark.parametrize("ednsflags", [0x4000, 0x0001, dns.flags.DO])
def test_unknown_edns_flags_ignored(srv, many, ednsflags):
    r = srv.q(many, "A", edns=0, ednsflags=ednsflags)
    assert r.rcode() == dns.rcode.NOERROR and len(addrs(r)) == 6, describe(r)
    assert r.edns == 0


def test_edns_on_ipv6_and_tcp(srv, many):
    for kw in ({"v6": True}, {"tcp_": True}):
        r = srv.q(many, "A", edns=0, **kw)
        assert r.edns == 0 and len(addrs(r)) == 6


# ---- ANY --------------------------------------------------------------------


@pytest.mark.parametrize("tcp", [False, True])
def test_any_minimal_hinfo(srv, many, tcp):
    r = srv.q(many, "ANY", tcp_=tcp)
    assert r.rcode() == dns.rcode.NOERROR, describe(r)
    assert len(r.answer) == 1 and len(r.answer[0]) == 1, describe(r)
    assert r.answer[0].rdtype == dns.rdatatype.HINFO
    assert r.answer[0].name == dns.name.from_text(srv.fqdn(many))
