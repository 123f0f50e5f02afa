# SPDX-License-Identifier: MIT
"""test_forwarding.py -- queries outside the zone go to --recursor.

Checks:
- a forwarded answer (dnsmasq upstream) comes back with the client's ID and
  its question bytes exactly (0x20 case mix), RA=1, over UDP and over TCP
  (several pipelined queries on one connection, matched by ID)
- the upstream sees a fresh ID, the client's question, and the loop marker
- RA=1 on every reply (in-zone too) when forwarding is configured; RA=0 and
  REFUSED outside the zone without it
- upstream timeout -> SERVFAIL
- an upstream that truncates over UDP is asked again over TCP; the client
  gets the whole answer
- an upstream answer too big for a 512-byte client -> TC, only whole records,
  at most 512 bytes; the same answer whole over EDNS and TCP
- forwarding loops: two srvshimds forwarding to each other, and one whose
  recursor leads back to itself, answer SERVFAIL with a log line, and the
  packets between them are counted: no amplification
- a --recursor equal to a --listen address is refused at start
- cache: an answer is served after the upstream is gone, with the client's
  ID and question, TTLs counting down, until the TTL runs out; negative
  answers are cached by the SOA minimum; --cache-size 0 caches nothing
"""

import os
import shutil
import socket
import struct

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

import conftest
from conftest import free_port, run_srvshimd
from dnsutil import (addrs, describe, header, parse_header, poll, question,
                     tcp_connect, tcp_frame, tcp_read_msg, udp_raw, walk)
from fakes.upstream import Upstream

FWD_ADDR = "192.0.2.7"
LOOP_OPT = 65433


# ---- upstreams ------------------------------------------------------------


class Dnsmasq(conftest.Proc):
    """dnsmasq as a well-behaved upstream: *.fwd.test -> 192.0.2.7."""

    def __init__(self, workdir):
        super().__init__(workdir, "dnsmasq")
        self.port = free_port()

    def start(self):
        exe = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        if not os.access(exe, os.X_OK):
            pytest.fail("dnsmasq not found (apt-get install dnsmasq-base, "
                        "or scripts/install-deps)")
        self.spawn([exe, "--no-daemon", "--port", str(self.port),
                    "--listen-address", "127.0.0.1", "--bind-interfaces",
                    "--no-resolv", "--no-hosts", "--local-ttl=30",
                    "--conf-file=/dev/null", "--pid-file=",
                    "--address=/fwd.test/" + FWD_ADDR, "--log-queries"])
        poll(lambda: self._answers(), timeout=10, what="dnsmasq answering")
        return self

    def _answers(self):
        if not self.alive():
            raise AssertionError("dnsmasq exited: %s" % self.log_tail())
        q = dns.message.make_query("ready.fwd.test", "A")
        try:
            return dns.query.udp(q, "127.0.0.1", port=self.port, timeout=0.5)
        except dns.exception.Timeout:
            return None

    def addr(self):
        return "127.0.0.1:%d" % self.port


@pytest.fixture
def dnsmasq(tmp_path):
    d = Dnsmasq(tmp_path / "dnsmasq").start()
    yield d
    d.stop()


@pytest.fixture
def upstream():
    """Factory: upstream(mode, **kw) -> a started fakes.upstream.Upstream."""
    made = []

    def make(mode="answer", **kw):
        u = Upstream(free_port(), mode=mode, **kw).start()
        made.append(u)
        return u
    yield make
    for u in made:
        u.stop()


def raw_query(name_bytes_case, qid, qtype=1, rd=True, edns=None):
    """Raw query bytes with the question exactly as given (case kept)."""
    msg = header(qid=qid, flags=0x0100 if rd else 0, ar=1 if edns else 0)
    msg += question(name_bytes_case, qtype)
    if edns:
        msg += b"\x00" + struct.pack("!HHIH", 41, edns, 0, 0)
    return msg


def ask(d, name, rdtype="A", **kw):
    """A parsed UDP query to d for an absolute name (outside the zone)."""
    return d.q(name if name.endswith(".") else name + ".", rdtype, **kw)


# ---- answers ----------------------------------------------------------------


def test_forwarded_answer_keeps_client_id_and_question(new_srvshimd, dnsmasq):
    d = new_srvshimd("--recursor", dnsmasq.addr())
    for qid, name in ((0x4242, "MiXeD.FwD.tEsT"), (7, "lower.fwd.test")):
        q = raw_query(name, qid)
        wire = udp_raw(q, *d.addr())
        assert wire is not None, "no reply for %s" % name
        h, qs, recs = walk(wire)
        assert h["id"] == qid
        assert qs == [q[12:]], "question not echoed byte for byte"
        assert h["rcode"] == 0 and h["qr"] and h["ra"] and h["rd"]
        assert [r[1] for r in recs if r[0] == "an"] == [1]
        assert socket.inet_ntoa(recs[0][4]) == FWD_ADDR


def test_forwarded_over_tcp_pipelined(new_srvshimd, dnsmasq):
    d = new_srvshimd("--recursor", dnsmasq.addr())
    s = tcp_connect(*d.addr())
    try:
        sent = {}
        for i, name in enumerate(("a.fwd.test", "B.Fwd.Test", "c.fwd.test")):
            q = raw_query(name, 0x100 + i, edns=1232)
            sent[0x100 + i] = question(name)
            s.sendall(tcp_frame(q))
        # An in-zone query on the same connection is answered too.
        zq = raw_query("service.local", 0x200, qtype=6)
        s.sendall(tcp_frame(zq))
        got = {}
        for _ in range(4):
            wire = tcp_read_msg(s)
            assert wire is not None, "connection closed early"
            h, qs, recs = walk(wire)
            got[h["id"]] = (h, qs, recs)
    finally:
        s.close()
    assert set(got) == set(sent) | {0x200}
    for qid, qb in sent.items():
        h, qs, recs = got[qid]
        assert qs[0] == qb and h["rcode"] == 0 and h["ra"]
        an = [r for r in recs if r[0] == "an"]
        assert len(an) == 1 and socket.inet_ntoa(an[0][4]) == FWD_ADDR
        assert recs[-1][1] == 41, "OPT expected last"
    assert got[0x200][0]["aa"] and got[0x200][0]["ra"]


def test_upstream_sees_fresh_id_and_loop_marker(new_srvshimd, upstream):
    u = upstream("answer")
    d = new_srvshimd("--recursor", u.addr())
    q = raw_query("Fresh.Example", 0x1357)
    wire = udp_raw(q, *d.addr())
    assert wire is not None
    h, qs, recs = walk(wire)
    assert h["id"] == 0x1357 and qs == [q[12:]]
    seen = u.queries()
    assert len(seen) == 1
    transport, uq = seen[0]
    assert transport == "udp"
    assert uq.id != 0x1357, "upstream saw the client's ID"
    assert uq.question[0].name.to_text() == "Fresh.Example."
    assert uq.flags & dns.flags.RD
    marker = [o for o in uq.options if o.otype == LOOP_OPT]
    assert len(marker) == 1 and len(marker[0].data) == 8


def test_ra_only_with_recursors(srv, new_srvshimd, dnsmasq):
    r = srv.q("@", "SOA")
    assert not r.flags & dns.flags.RA
    r = ask(srv, "a.fwd.test")
    assert r.rcode() == dns.rcode.REFUSED and not r.flags & dns.flags.RA
    d = new_srvshimd("--recursor", dnsmasq.addr())
    r = d.q("@", "SOA")
    assert r.flags & dns.flags.RA and r.flags & dns.flags.AA, describe(r)
    r = ask(d, "a.fwd.test", rd=True)
    assert r.flags & dns.flags.RA
    assert addrs(r) == [FWD_ADDR]


# ---- failures ---------------------------------------------------------------


def test_upstream_timeout_is_servfail(new_srvshimd, upstream):
    u = upstream("silent")
    d = new_srvshimd("--recursor", u.addr(), "--recursor-timeout", "200ms",
                     "--recursor-tries", "1")
    r = ask(d, "slow.example", timeout=5)
    assert r.rcode() == dns.rcode.SERVFAIL, describe(r)
    assert r.flags & dns.flags.RA
    assert r.question[0].name.to_text() == "slow.example."
    assert u.count() >= 1
    poll(lambda: "no usable answer from any recursor" in d.log_text(),
         what="timeout logged")


def test_truncated_upstream_is_retried_over_tcp(new_srvshimd, upstream):
    u = upstream("truncate", records=5)
    d = new_srvshimd("--recursor", u.addr())
    r = ask(d, "tc.example", edns=0, payload=1232)
    assert r.rcode() == dns.rcode.NOERROR, describe(r)
    assert not r.flags & dns.flags.TC
    assert len(addrs(r)) == 5
    assert [t for t, _ in u.queries()] == ["udp", "tcp"]


def test_big_answer_is_truncated_for_small_client(new_srvshimd, upstream):
    u = upstream("answer", records=60)   # ~1000 bytes: fits 1232, not 512
    d = new_srvshimd("--recursor", u.addr(), "--cache-size", "0")
    q = raw_query("big.example", 0x0bb0)
    wire = udp_raw(q, *d.addr())
    assert wire is not None
    assert len(wire) <= 512
    h, qs, recs = walk(wire)          # asserts whole records only
    assert h["tc"] and h["id"] == 0x0bb0 and qs == [q[12:]]
    assert 0 < h["an"] < 60 and h["an"] == len(recs)
    # With EDNS the same answer fits whole; over TCP too.
    r = ask(d, "big.example", edns=0, payload=4096)
    assert not r.flags & dns.flags.TC and len(addrs(r)) == 60
    r = ask(d, "big.example", tcp_=True)
    assert not r.flags & dns.flags.TC and len(addrs(r)) == 60


# ---- loops ----------------------------------------------------------------


def test_two_srvshimds_forwarding_to_each_other(new_srvshimd, upstream):
    """A -> relay -> B -> A: A sees its own marker and says SERVFAIL once."""
    b_extra = free_port()
    relay = upstream("relay", target=("127.0.0.1", b_extra))
    a = new_srvshimd("--recursor", relay.addr(), "--recursor-tries", "1")
    b = new_srvshimd("--listen", "127.0.0.1:%d" % b_extra,
                     "--recursor", "127.0.0.1:%d" % a.port4,
                     "--recursor-tries", "1")
    r = ask(a, "loop.example", timeout=5)
    assert r.rcode() == dns.rcode.SERVFAIL, describe(r)
    poll(lambda: "forwarding loop detected" in a.log_text(),
         what="loop logged by A")
    # One query went A -> B and one reply came back; nothing more follows.
    poll(lambda: relay.relayed_back == 1, what="SERVFAIL relayed back")
    assert relay.count() == 1
    r = ask(b, "loop2.example", timeout=5)   # B -> A -> relay -> B: B sees it
    assert r.rcode() == dns.rcode.SERVFAIL, describe(r)
    poll(lambda: "forwarding loop detected" in b.log_text(),
         what="loop logged by B")
    assert relay.count() == 2


def test_loop_back_to_itself_default_tries(new_srvshimd, upstream):
    """srvshimd -> relay -> the same srvshimd, with the default retries:
    bounded, a handful of packets, never a storm."""
    relay = upstream("relay")
    d = new_srvshimd("--recursor", relay.addr())
    relay.target = ("127.0.0.1", d.port4)
    r = ask(d, "self.example", timeout=8)
    assert r.rcode() == dns.rcode.SERVFAIL, describe(r)
    assert "forwarding loop detected" in d.log_text()
    n = relay.count()
    assert 1 <= n <= 2, "%d queries through the loop" % n   # --recursor-tries 2


def test_recursor_equal_to_listen_is_refused():
    port = free_port()
    p = run_srvshimd("--listen", "127.0.0.1:%d" % port,
                     "--recursor", "127.0.0.1:%d" % port)
    assert p.returncode == 2
    assert "--recursor 127.0.0.1:%d" % port in p.stderr
    assert "loop" in p.stderr


@pytest.mark.parametrize("bad", ["example.com", "0.0.0.0", "127.0.0.1:0",
                                 "[::1]", "1.2.3.4:99999"])
def test_bad_recursor_values(bad):
    p = run_srvshimd("--recursor", bad)
    assert p.returncode == 2, p.stderr
    assert "--recursor %s" % bad in p.stderr


# ---- cache ----------------------------------------------------------------


def test_cache_serves_after_upstream_stops_until_ttl(new_srvshimd, upstream):
    u = upstream("answer", records=2, ttl=3)
    d = new_srvshimd("--recursor", u.addr(), "--recursor-timeout", "200ms",
                     "--recursor-tries", "1")
    first = ask(d, "cached.example")
    assert len(addrs(first)) == 2
    u.stop()
    q = raw_query("CaChEd.ExAmPlE", 0x2468)
    wire = udp_raw(q, *d.addr())
    h, qs, recs = walk(wire)
    assert h["id"] == 0x2468 and qs == [q[12:]] and h["rcode"] == 0
    assert len(recs) == 2 and all(r[3] <= 3 for r in recs)
    # Served from the cache, TTLs counting down, until they run out.
    ttls = [recs[0][3]]

    def expired():
        r = ask(d, "cached.example", timeout=3)
        if r.rcode() == dns.rcode.SERVFAIL:
            return True
        assert len(addrs(r)) == 2, describe(r)
        ttls.append(r.answer[0].ttl)
        return False
    poll(expired, timeout=15, interval=0.2, what="cache entry expiring")
    assert ttls == sorted(ttls, reverse=True), ttls
    assert u.count() == 1, "the upstream was asked again"


def test_negative_answers_are_cached(new_srvshimd, upstream):
    u = upstream("answer", neg_ttl=60)
    d = new_srvshimd("--recursor", u.addr(), "--recursor-timeout", "200ms",
                     "--recursor-tries", "1")
    r = ask(d, "nxname.example")
    assert r.rcode() == dns.rcode.NXDOMAIN and len(r.authority) == 1
    u.stop()
    r = ask(d, "NXNAME.example")
    assert r.rcode() == dns.rcode.NXDOMAIN, describe(r)
    assert 0 < r.authority[0].ttl <= 60
    assert u.count() == 1


def test_cache_size_zero_caches_nothing(new_srvshimd, upstream):
    u = upstream("answer", ttl=300)
    d = new_srvshimd("--recursor", u.addr(), "--cache-size", "0",
                     "--recursor-timeout", "200ms", "--recursor-tries", "1")
    assert len(addrs(ask(d, "nocache.example"))) == 1
    assert len(addrs(ask(d, "nocache.example"))) == 1
    assert u.count() == 2
    u.stop()
    r = ask(d, "nocache.example", timeout=5)
    assert r.rcode() == dns.rcode.SERVFAIL, describe(r)


def test_tcp_many_forwarded_and_early_close(new_srvshimd, upstream):
    """More forwarded queries on one connection than it may have in flight
    (32): all are answered. A connection closed with queries in flight
    costs nothing: the daemon keeps serving and stops cleanly."""
    u = upstream("silent")
    d = new_srvshimd("--recursor", u.addr(), "--recursor-timeout", "100ms",
                     "--recursor-tries", "1")
    early = tcp_connect(*d.addr())
    early.sendall(b"".join(tcp_frame(raw_query("gone%d.example" % i, i))
                           for i in range(40)))
    early.close()
    s = tcp_connect(*d.addr(), timeout=10)
    try:
        s.sendall(b"".join(tcp_frame(raw_query("many%d.example" % i, i))
                           for i in range(80)))
        ids = set()
        for _ in range(80):
            wire = tcp_read_msg(s)
            assert wire is not None, "closed after %d replies" % len(ids)
            h = parse_header(wire)
            assert h["rcode"] == dns.rcode.SERVFAIL
            ids.add(h["id"])
    finally:
        s.close()
    assert ids == set(range(80))
    assert u.count() >= 80
    assert d.stop() == 0, d.log_tail()
    assert "Sanitizer" not in d.log_text()


def test_forwarding_metrics(new_srvshimd, upstream):
    from test_metrics import scrape
    u = upstream("answer", ttl=300)
    port = free_port()
    d = new_srvshimd("--recursor", u.addr(), "--http-listen",
                     "127.0.0.1:%d" % port, "--recursor-timeout", "200ms",
                     "--recursor-tries", "1")
    m0 = scrape(port)
    assert len(addrs(ask(d, "m.example"))) == 1
    assert len(addrs(ask(d, "M.example"))) == 1          # from the cache
    u.stop()
    assert ask(d, "gone.example", timeout=5).rcode() == dns.rcode.SERVFAIL
    m = scrape(port)

    def delta(key):
        return m.get(key, 0) - m0.get(key, 0)
    assert delta("srvshim_forwarded_queries_total") == 2
    assert delta('srvshim_forward_cache_total{result="hit"}') == 1
    assert delta('srvshim_forward_cache_total{result="miss"}') == 2
    assert delta("srvshim_upstream_errors_total") == 1
    assert delta('srvshim_responses_total{rcode="SERVFAIL"}') == 1
    assert delta('srvshim_queries_total{qtype="A"}') >= 3
