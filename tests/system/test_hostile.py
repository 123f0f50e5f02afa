# SPDX-License-Identifier: MIT
"""test_hostile.py -- hostile clients: what test_protocol.py and test_tcp.py
do not already cover, and the amplification bound.

Checks:
- the Z bit set in a query is ignored (normal answer) and clear in the reply
- an unknown QTYPE (65280) on a service -> NODATA with the SOA
- TCP: a 4,096-byte query (the largest taken) is answered; a 4,097-byte one
  and a 65,535-byte one close the connection without a reply; the daemon
  keeps serving UDP and TCP
- TCP: a client that sends one byte and stalls is closed at the idle
  timeout while UDP answers keep flowing
- 1,000 idle TCP connections against --tcp-max-conns 100: UDP answers keep
  flowing, the daemon never holds more than the cap (its open descriptors;
  one more for the moment between an accept and the eviction it causes),
  most of the 1,000 are closed by it, and a new client is still served
- a UDP query from source port 0 (crafted with a raw socket; root only) gets
  no reply, and the daemon keeps serving
- amplification: every seed of tests/fuzz/corpus/wire and a set of queries
  for large services, each without EDNS and with sizes 512..65535, over UDP:
  no reply is larger than the client's advertised size (512 without EDNS,
  never above 1232), ANY gets one record; prints bytes out / bytes in
- the Consul token: a world-readable --token-file draws a warning (a 0600
  one does not); the token never shows in the daemon's log (debug level)
  nor in its command line
"""

import glob
import os
import resource
import select
import socket
import struct
import time

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from conftest import run_srvshimd
from dnsutil import (addrs, describe, header, make_query, parse_header, poll,
                     question, tcp_connect, tcp_frame, tcp_read_msg, udp_raw,
                     wait_eof, walk)

HERE = os.path.dirname(os.path.abspath(__file__))
WIRE_SEEDS = os.path.join(os.path.dirname(HERE), "fuzz", "corpus", "wire")


def addr_query(i, qid):
    return make_query("7f0009%02x.addr.service.local." % i, "A", qid=qid)


def udp_ok(d, n=10):
    for i in range(n):
        r = d.q("7f0009%02x.addr" % (i + 1), "A", timeout=2)
        assert addrs(r) == ["127.0.9.%d" % (i + 1)], describe(r)
    return True


def tcp_served(d, qid=0x0601, timeout=2.0):
    ip, port = d.addr()
    try:
        s = tcp_connect(ip, port, timeout=timeout)
    except OSError:
        return False
    try:
        s.sendall(tcp_frame(addr_query(1, qid).to_wire()))
        body = tcp_read_msg(s)
        return body is not None and dns.message.from_wire(body).id == qid
    except OSError:
        return False
    finally:
        s.close()


# ---- header and type --------------------------------------------------------


def test_z_bit_ignored(srv):
    ip, port = srv.addr()
    wire = udp_raw(header(0x5101, 0x0040) + question("7f000921.addr." +
                                                      srv.zone, 1), ip, port)
    assert wire is not None, "no reply to a query with Z=1"
    h, _, recs = walk(wire)
    assert h["id"] == 0x5101 and h["qr"] and h["rcode"] == 0
    assert not h["flags"] & 0x0040, "Z must be zero in the reply"
    assert [r[4] for r in recs if r[0] == "an"] == [b"\x7f\x00\x09\x21"]


def test_unknown_qtype_nodata(consul, srv, uniq):
    name = uniq("qt")
    consul.register(name + "-1", name, "127.0.8.1", 80)
    poll(lambda: addrs(srv.q(name, "A")) == ["127.0.8.1"], what="registered")
    r = srv.q(name, 65280)
    assert r.rcode() == dns.rcode.NOERROR and not r.answer, describe(r)
    assert [rr.rdtype for rr in r.authority] == [dns.rdatatype.SOA]


# ---- TCP ----------------------------------------------------------------------


def padded_query(total, qid):
    """A valid A query padded with trailing bytes to total bytes."""
    q = header(qid) + question("7f000922.addr.service.local", 1)
    return q + b"\x00" * (total - len(q))


def test_tcp_largest_query_answered(srv):
    ip, port = srv.addr()
    s = tcp_connect(ip, port)
    try:
        s.sendall(tcp_frame(padded_query(4096, 0x5201)))
        body = tcp_read_msg(s)
        assert body is not None, "4096-byte query not answered"
        m = dns.message.from_wire(body)
        assert m.id == 0x5201 and addrs(m) == ["127.0.9.34"], describe(m)
    finally:
        s.close()


@pytest.mark.parametrize("size", [4097, 65535])
def test_tcp_huge_query_closes(srv, size):
    ip, port = srv.addr()
    s = tcp_connect(ip, port, timeout=5)
    try:
        try:
            s.sendall(tcp_frame(padded_query(size, 0x5202)))
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed while we were still sending: also right
        assert wait_eof(s, 5), "a %d-byte query left the connection open" % size
    finally:
        s.close()
    assert tcp_served(srv), "TCP not served after a huge query"
    udp_ok(srv, 3)


def test_tcp_one_byte_stall(new_srvshimd):
    d = new_srvshimd("--tcp-idle-timeout", "1s")
    ip, port = d.addr()
    s = tcp_connect(ip, port)
    try:
        s.sendall(b"\x00")
        t0 = time.monotonic()
        udp_ok(d, 10)  # answered while the stalled client holds on
        assert wait_eof(s, 15), "one-byte stall never closed"
        assert time.monotonic() - t0 < 15
    finally:
        s.close()
    assert tcp_served(d)


def _open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def test_thousand_idle_connections(new_srvshimd):
    cap, n = 100, 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    d = new_srvshimd("--tcp-max-conns", str(cap), "--tcp-idle-timeout",
                     "120s")
    ip, port = d.addr()
    # The daemon accepts a connection and then closes the least recently
    # active one, so for a moment it holds one more than the cap.
    base = _open_fds(d.pid) + 1
    held = []
    try:
        for i in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((ip, port))
            held.append(s)
            if i % 100 == 99:
                udp_ok(d, 2)  # UDP keeps flowing while they pile up
                assert _open_fds(d.pid) <= base + cap, \
                    "daemon holds more than --tcp-max-conns connections"
        # every connection reaches the daemon and is accepted (or evicted)
        def settled():
            r, _, _ = select.select(held, [], [], 0)
            closed = sum(1 for s in r if _eof(s))
            return closed >= n - cap - 5 and closed
        closed = poll(settled, timeout=30 * (4 if os.environ.get(
            "SRVSHIM_VALGRIND") else 1), what="evicted connections seen")
        assert _open_fds(d.pid) <= base + cap
        udp_ok(d, 20)
        assert tcp_served(d), "a new client is not served at the cap"
        print("1000 idle TCP connections: %d closed by the daemon, "
              "%d descriptors above its baseline" % (closed,
                                                     _open_fds(d.pid) - base))
    finally:
        for s in held:
            s.close()


_eof_seen = set()


def _eof(s):
    if s.fileno() in _eof_seen:
        return True
    try:
        if s.recv(1) == b"":
            _eof_seen.add(s.fileno())
            return True
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        _eof_seen.add(s.fileno())
        return True
    return False


# ---- source port 0 -----------------------------------------------------------


def _checksum(data):
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _udp_packet(src, dst, sport, dport, payload):
    length = 8 + len(payload)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + \
        struct.pack("!BBH", 0, socket.IPPROTO_UDP, length)
    udp = struct.pack("!HHHH", sport, dport, length, 0) + payload
    csum = _checksum(pseudo + udp) or 0xFFFF
    udp = struct.pack("!HHHH", sport, dport, length, csum) + payload
    iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0x5303, 0, 64,
                      socket.IPPROTO_UDP, 0, socket.inet_aton(src),
                      socket.inet_aton(dst))
    iph = iph[:10] + struct.pack("!H", _checksum(iph)) + iph[12:]
    return iph + udp


def test_udp_source_port_zero(srv):
    if os.geteuid() != 0:
        pytest.skip("crafting a UDP packet from port 0 needs a raw socket "
                    "(root); CI runs as root")
    ip, port = srv.addr()
    query = header(0x5301) + question("7f000923.addr." + srv.zone, 1)
    # A sniffer for UDP on loopback sees every datagram, so a reply to
    # port 0 would show even though no socket could receive it.
    sniff = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    try:
        sniff.setblocking(False)
        raw.sendto(_udp_packet("127.0.0.1", ip, 0, port, query), (ip, 0))
        saw_query = False
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            r, _, _ = select.select([sniff], [], [], 0.1)
            if not r:
                continue
            pkt = sniff.recv(65535)
            ihl = (pkt[0] & 0x0F) * 4
            sport, dport = struct.unpack("!HH", pkt[ihl:ihl + 4])
            if sport == 0 and dport == port:
                saw_query = True
            assert not (sport == port and dport == 0), \
                "srvshimd replied to source port 0"
        assert saw_query, "the crafted port-0 query never reached loopback"
        # and the sniffer does see replies: one to an ordinary port shows
        c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        c.bind(("127.0.0.1", 0))
        cport = c.getsockname()[1]
        c.sendto(query, (ip, port))
        c.close()
        def reply_seen():
            while select.select([sniff], [], [], 0.1)[0]:
                pkt = sniff.recv(65535)
                ihl = (pkt[0] & 0x0F) * 4
                if struct.unpack("!HH", pkt[ihl:ihl + 4]) == (port, cport):
                    return True
            return False
        poll(reply_seen, timeout=3, what="sniffer sees an ordinary reply")
    finally:
        sniff.close()
        raw.close()
    udp_ok(srv, 3)


# ---- amplification -------------------------------------------------------------


@pytest.fixture
def large(consul, srv, uniq):
    """Two services large enough to truncate: 60 IPv4 instances with tags
    and meta, and 30 IPv6 ones."""
    v4, v6 = uniq("amp4"), uniq("amp6")
    for i in range(60):
        consul.register("%s-%d" % (v4, i), v4, "127.0.10.%d" % (i + 1),
                        10000 + i, tags=["t%d" % (i % 3), "all"],
                        meta={"k%d" % (i % 4): "v" * 40})
    for i in range(30):
        consul.register("%s-%d" % (v6, i), v6, "fd00::a:%x" % (i + 1),
                        11000 + i)
    poll(lambda: len(addrs(srv.q(v4, "A", tcp_=True))) == 60 and
         len(addrs(srv.q(v6, "AAAA", tcp_=True), "AAAA")) == 30,
         timeout=20, what="large services in DNS")
    return v4, v6


def _advertised(data):
    """The size a query advertises: 512, or its OPT payload (at least 512)."""
    try:
        m = dns.message.from_wire(data)
    except Exception:  # noqa: BLE001 -- malformed: no usable OPT either
        return 512
    return max(512, m.payload) if m.edns >= 0 else 512


def _query_set(srv, v4, v6):
    out = []
    for path in sorted(glob.glob(os.path.join(WIRE_SEEDS, "*"))):
        with open(path, "rb") as f:
            out.append(f.read())
    names = [v4, v6, "all." + v4, "t1." + v4, "_%s._tcp" % v4, "@",
             "nosuch-amp", "7f000a01.addr"]
    for rel in names:
        for t in ("A", "AAAA", "SRV", "TXT", "ANY", "NS", "SOA"):
            for edns, size in ((None, 0), (0, 512), (0, 1232), (0, 1400),
                               (0, 4096), (0, 65535)):
                q = make_query(srv.fqdn(rel), t, edns=edns, payload=size)
                out.append(q.to_wire())
    return out


def test_amplification(srv, large, capsys):
    v4, v6 = large
    ip, port = srv.addr()
    bytes_in = bytes_out = replies = 0
    worst = 0.0
    for data in _query_set(srv, v4, v6):
        wire = udp_raw(data, ip, port, timeout=1.0)
        bytes_in += len(data)
        if wire is None:
            continue  # dropped (runt, QR=1): nothing amplified
        replies += 1
        bytes_out += len(wire)
        limit = min(_advertised(data), 1232) if _advertised(data) > 512 \
            else 512
        assert len(wire) <= limit, \
            "%d-byte reply to a query advertising %d (%r...)" % (
                len(wire), _advertised(data), data[:40])
        h = parse_header(wire)
        if h["qd"] == 1 and h["rcode"] == 0:
            m = dns.message.from_wire(wire)
            if m.question[0].rdtype == dns.rdatatype.ANY:
                assert sum(len(r) for r in m.answer) <= 1, describe(m)
        worst = max(worst, len(wire) / len(data))
    assert replies > 100
    with capsys.disabled():
        print("\namplification over UDP: %d queries, %d replies, %d bytes "
              "in, %d bytes out, ratio %.2f (worst single reply %.1fx)"
              % (len(_query_set(srv, v4, v6)), replies, bytes_in, bytes_out,
                 bytes_out / bytes_in, worst))


# ---- the Consul token --------------------------------------------------------

TOKEN = "5eb0b0a1-7e57-4c0d-9e11-7a1c5ecre7ed"


@pytest.mark.parametrize("mode,warned", [(0o644, True), (0o600, False)])
def test_token_file_world_readable_warns(tmp_path, mode, warned):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    os.chmod(path, mode)
    p = run_srvshimd("--token-file", str(path), "--version")
    assert p.returncode == 0, p.stderr
    assert ("readable by every user" in p.stderr) == warned, p.stderr
    assert TOKEN not in p.stderr + p.stdout


def test_token_never_logged(tmp_path, new_srvshimd, consul, uniq):
    path = tmp_path / "token"
    path.write_text(TOKEN)
    os.chmod(path, 0o600)
    d = new_srvshimd("--token-file", str(path))  # --log-level debug
    name = uniq("tok")
    consul.register(name + "-1", name, "127.0.8.2", 80)
    poll(lambda: addrs(d.q(name, "A")) == ["127.0.8.2"], what="registered")
    with open("/proc/%d/cmdline" % d.pid, "rb") as f:
        assert TOKEN.encode() not in f.read()
    assert TOKEN not in d.log_text()
