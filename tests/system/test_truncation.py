# SPDX-License-Identifier: MIT
"""test_truncation.py -- reply size limits, TC and TCP fallback (40 instances).

Checks:
- UDP without EDNS: A and SRV of 40 instances -> TC=1, reply <= 512 bytes,
  only whole records (counts match, nothing partial), no additional records
- UDP with EDNS: the reply never exceeds min(client size, 1232) for client
  sizes 512..4096; a client size below 512 counts as 512; TC=0 only with the
  complete answer set; OPT present, last, advertising 1232
- TCP: the full set of 40 SRV with 40 glue A records, and 40 A records
- additional records are dropped before answers: with room for the answer
  but not all the glue, TC=0, every SRV, fewer glue records
- --edns-size 4096 lets a 4096-byte client get everything over UDP;
  --edns-size 512 caps a 4096-byte client at 512
"""

import random
import socket

import pytest

import conftest
from dnsutil import (addrs, header, opt_rr, poll, question, rrs, tcp_raw,
                     udp_raw, walk)

T_A, T_SRV, T_OPT = 1, 33, 41
BIG = 40
MID = 12


@pytest.fixture(scope="module")
def services(consul_agent):
    """Registers big (40 instances) and mid (12) once for the module."""
    reg = conftest.Registrar(consul_agent)
    tag = "%04x" % random.getrandbits(16)
    big, mid = "big-" + tag, "mid-" + tag
    reg.register_many(big, ["127.8.0.%d" % i for i in range(1, BIG + 1)],
                      port=9300)
    reg.register_many(mid, ["127.8.1.%d" % i for i in range(1, MID + 1)],
                      port=9400)
    yield {"big": big, "mid": mid}
    reg.cleanup()


@pytest.fixture
def big(srv, services):
    name = services["big"]
    poll(lambda: len(addrs(srv.q(name, "A", tcp_=True))) == BIG,
         what="40 instances", timeout=15)
    return srv.fqdn(name).rstrip(".")


@pytest.fixture
def mid(srv, services):
    name = services["mid"]
    poll(lambda: len(addrs(srv.q(name, "A", tcp_=True))) == MID,
         what="12 instances", timeout=15)
    return srv.fqdn(name).rstrip(".")


def ask(d, name, qtype, payload=None, tcp=False, qid=0x7001):
    """Raw query; returns (header, records, wire)."""
    data = header(qid, ar=0 if payload is None else 1) + question(name, qtype)
    if payload is not None:
        data += opt_rr(payload)
    ip, port = d.addr()
    wire = (tcp_raw if tcp else udp_raw)(data, ip, port)
    assert wire is not None, "no reply"
    h, _, recs = walk(wire)  # asserts whole records, no trailing bytes
    assert h["id"] == qid and h["rcode"] == 0
    return h, recs, wire


def section(recs, sec, rtype):
    return [r for r in recs if r[0] == sec and r[1] == rtype]


def check_whole_answer(recs, qtype, total):
    ans = [r for r in recs if r[0] == "an"]
    assert all(r[1] == qtype for r in ans)
    if qtype == T_A:
        assert all(len(r[4]) == 4 for r in ans)
        assert len({r[4] for r in ans}) == len(ans), "duplicate A records"
    assert len(ans) <= total
    return len(ans)


@pytest.mark.parametrize("qtype", [T_A, T_SRV])
def test_udp_no_edns_truncates(srv, big, qtype):
    h, recs, wire = ask(srv, big, qtype)
    assert len(wire) <= 512, "reply of %d bytes without EDNS" % len(wire)
    assert h["tc"], "40 records cannot fit in 512 bytes: TC must be set"
    check_whole_answer(recs, qtype, BIG)
    assert not [r for r in recs if r[0] == "ar"], \
        "additional records kept while the answer was truncated"
    assert not section(recs, "ar", T_OPT)


@pytest.mark.parametrize("payload", [512, 600, 800, 1000, 1200, 1232, 1500,
                                     4096, 65535])
@pytest.mark.parametrize("qtype", [T_A, T_SRV])
def test_udp_edns_limits(srv, big, qtype, payload):
    h, recs, wire = ask(srv, big, qtype, payload)
    limit = min(payload, 1232)
    assert len(wire) <= limit, "%d bytes > %d" % (len(wire), limit)
    n = check_whole_answer(recs, qtype, BIG)
    if not h["tc"]:
        assert n == BIG, "TC=0 but only %d of %d records" % (n, BIG)
    else:
        assert [r[1] for r in recs if r[0] == "ar"] == [T_OPT], \
            "answer truncated but additional records kept"
    opts = section(recs, "ar", T_OPT)
    assert len(opts) == 1 and recs[-1][1] == T_OPT
    assert opts[0][2] == 1232


def test_udp_edns_small_size_counts_as_512(srv, big):
    h, recs, wire = ask(srv, big, T_A, payload=100)
    assert len(wire) <= 512 and h["tc"]
    # at least the 512-byte budget was used: more than 100 bytes of A records
    assert len(section(recs, "an", T_A)) > 6


def test_udp_edns_4096_a_fits(srv, big):
    # 40 A records are 40 * 16 bytes + header: under 1232, so all of them
    h, recs, wire = ask(srv, big, T_A, payload=4096)
    assert not h["tc"] and len(section(recs, "an", T_A)) == BIG
    assert len(wire) <= 1232


@pytest.mark.parametrize("payload", [None, 4096])
def test_tcp_full_srv_set_with_glue(srv, big, payload):
    h, recs, wire = ask(srv, big, T_SRV, payload, tcp=True)
    assert not h["tc"]
    assert len(section(recs, "an", T_SRV)) == BIG
    glue = section(recs, "ar", T_A)
    assert sorted(socket.inet_ntoa(r[4]) for r in glue) == \
        sorted("127.8.0.%d" % i for i in range(1, BIG + 1))
    assert bool(section(recs, "ar", T_OPT)) == (payload is not None)
    assert recs[-1][1] == (T_OPT if payload else T_A)


def test_tcp_full_a_set(srv, big):
    r = srv.q(big + ".", "A", tcp_=True)
    assert len(addrs(r)) == BIG and not r.flags & 0x0200


def test_additional_dropped_first(srv, mid):
    # the complete reply's size, as TCP gives it (with the same OPT)
    _, full, wire = ask(srv, mid, T_SRV, 1232, tcp=True)
    assert len(section(full, "an", T_SRV)) == MID
    assert len(section(full, "ar", T_A)) == MID
    size = len(wire)
    assert 512 < size <= 1232, "test design: %d-byte reply" % size
    # one byte less: dropping glue (16 bytes a record) makes it fit
    h, recs, wire = ask(srv, mid, T_SRV, size - 1)
    assert len(wire) <= size - 1
    assert not h["tc"], "the answer fits once glue goes: no TC"
    assert len(section(recs, "an", T_SRV)) == MID
    assert len(section(recs, "ar", T_A)) < MID
    assert recs[-1][1] == T_OPT


def test_additional_dropped_first_no_edns(srv, mid):
    h, recs, wire = ask(srv, mid, T_SRV)
    assert len(wire) <= 512
    n = len(section(recs, "an", T_SRV))
    if h["tc"]:
        assert not [r for r in recs if r[0] == "ar"]
    else:
        assert n == MID


def test_edns_size_4096(new_srvshimd, services):
    d = new_srvshimd("--edns-size", "4096")
    name = d.fqdn(services["big"]).rstrip(".")
    poll(lambda: len(addrs(d.q(name + ".", "A", tcp_=True))) == BIG,
         what="40 instances", timeout=15)
    h, recs, wire = ask(d, name, T_SRV, 4096)
    assert not h["tc"] and len(wire) > 1232
    assert len(section(recs, "an", T_SRV)) == BIG
    assert len(section(recs, "ar", T_A)) == BIG
    assert section(recs, "ar", T_OPT)[0][2] == 4096
    # a smaller client still caps it
    h, recs, wire = ask(d, name, T_SRV, 1232)
    assert len(wire) <= 1232


def test_edns_size_512(new_srvshimd, services):
    d = new_srvshimd("--edns-size", "512")
    name = d.fqdn(services["big"]).rstrip(".")
    poll(lambda: len(addrs(d.q(name + ".", "A", tcp_=True))) == BIG,
         what="40 instances", timeout=15)
    h, recs, wire = ask(d, name, T_A, 4096)
    assert len(wire) <= 512 and h["tc"]
    assert section(recs, "ar", T_OPT)[0][2] == 512
    r = d.q(name + ".", "SRV", tcp_=True)
    assert len(rrs(r, "SRV")) == BIG
