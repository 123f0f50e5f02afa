# SPDX-License-Identifier: MIT
"""test_tcp.py -- DNS over TCP (RFC 7766) and isolation of TCP from UDP.

Checks:
- several queries pipelined in one write all come back (matched by ID, any
  order), 100 in one burst too; over [::1] as well
- a connection stays open for a second query after the first reply
- a message split across writes (length bytes apart, body in pieces)
- a query followed by a half-close (SHUT_WR) still gets its reply
- the idle timeout (--tcp-idle-timeout) closes an idle connection, and one
  that sent half a message
- the connection cap (--tcp-max-conns): over it, no service; UDP unaffected;
  once connections close, new ones are served again
- clients that send 1 byte (or part of a message) and stall do not block UDP
  nor other TCP clients
- a zero-length frame gets no reply: the connection is closed or the frame is
  skipped, and the daemon keeps serving
"""

import socket
import time

import dns.message
import dns.rcode
import pytest

from dnsutil import (addrs, describe, make_query, poll, tcp_connect,
                     tcp_frame, tcp_read_msg, wait_eof)


def addr_query(i, qid):
    """An A query for 127.0.9.<i>'s addr name (answerable statelessly)."""
    q = make_query("7f0009%02x.addr.service.local." % i, "A", qid=qid)
    return q


def read_replies(s, n):
    out = {}
    for _ in range(n):
        body = tcp_read_msg(s)
        assert body is not None, "connection closed after %d replies" % len(out)
        m = dns.message.from_wire(body)
        out[m.id] = m
    return out


@pytest.mark.parametrize("v6,count", [(False, 5), (True, 5), (False, 100)])
def test_pipelined(srv, v6, count):
    ip, port = srv.addr(v6)
    s = tcp_connect(ip, port, timeout=5)
    try:
        qs = [addr_query(i % 250 + 1, 0x100 + i) for i in range(count)]
        s.sendall(b"".join(tcp_frame(q.to_wire()) for q in qs))
        got = read_replies(s, count)
    finally:
        s.close()
    assert sorted(got) == [q.id for q in qs]
    for i, q in enumerate(qs):
        m = got[q.id]
        assert m.rcode() == dns.rcode.NOERROR
        assert addrs(m) == ["127.0.9.%d" % (i % 250 + 1)], describe(m)


def test_connection_reused(srv):
    ip, port = srv.addr()
    s = tcp_connect(ip, port)
    try:
        for i in range(1, 4):
            s.sendall(tcp_frame(addr_query(i, 0x200 + i).to_wire()))
            m = dns.message.from_wire(tcp_read_msg(s))
            assert m.id == 0x200 + i and addrs(m) == ["127.0.9.%d" % i]
    finally:
        s.close()


def test_split_writes(srv):
    ip, port = srv.addr()
    s = tcp_connect(ip, port)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        frame = tcp_frame(addr_query(7, 0x301).to_wire())
        for piece in (frame[:1], frame[1:2], frame[2:10], frame[10:]):
            s.sendall(piece)
            time.sleep(0.02)  # let each piece go out on its own
        m = dns.message.from_wire(tcp_read_msg(s))
        assert m.id == 0x301 and addrs(m) == ["127.0.9.7"]
    finally:
        s.close()


def test_half_close(srv):
    ip, port = srv.addr()
    s = tcp_connect(ip, port)
    try:
        s.sendall(tcp_frame(addr_query(8, 0x401).to_wire()))
        s.shutdown(socket.SHUT_WR)
        body = tcp_read_msg(s)
        assert body is not None, "no reply after the client's half-close"
        assert dns.message.from_wire(body).id == 0x401
    finally:
        s.close()


@pytest.fixture
def short_idle(new_srvshimd):
    return new_srvshimd("--tcp-idle-timeout", "1s")


def test_idle_timeout_closes(short_idle):
    ip, port = short_idle.addr()
    s = tcp_connect(ip, port)
    try:
        assert wait_eof(s, 15), "idle connection not closed"
    finally:
        s.close()


def test_idle_timeout_after_reply(short_idle):
    ip, port = short_idle.addr()
    s = tcp_connect(ip, port)
    try:
        s.sendall(tcp_frame(addr_query(9, 0x501).to_wire()))
        assert dns.message.from_wire(tcp_read_msg(s)).id == 0x501
        assert wait_eof(s, 15), "connection not closed after going idle"
    finally:
        s.close()


def test_idle_timeout_partial_message(short_idle):
    ip, port = short_idle.addr()
    s = tcp_connect(ip, port)
    try:
        s.sendall(b"\x00\x40" + b"\x12\x34")  # 64 bytes announced, 2 sent
        assert wait_eof(s, 15), "stalled half-message connection kept open"
    finally:
        s.close()


def udp_ok(d, n=20):
    for i in range(n):
        r = d.q("7f0009%02x.addr" % (i + 1), "A", timeout=2)
        assert addrs(r) == ["127.0.9.%d" % (i + 1)]
    return True


def tcp_served(d, timeout=1.0):
    """True if a new connection gets an answer within timeout."""
    ip, port = d.addr()
    try:
        s = tcp_connect(ip, port, timeout=timeout)
    except OSError:
        return False
    try:
        s.sendall(tcp_frame(addr_query(1, 0x601).to_wire()))
        body = tcp_read_msg(s)
        return body is not None and dns.message.from_wire(body).id == 0x601
    except OSError:
        return False
    finally:
        s.close()


def served_on(s, qid, timeout=1.0):
    """True if a query on the open connection s gets its reply."""
    try:
        s.settimeout(timeout)
        s.sendall(tcp_frame(addr_query(2, qid).to_wire()))
        body = tcp_read_msg(s)
        return body is not None and dns.message.from_wire(body).id == qid
    except OSError:
        return False


def test_connection_cap(new_srvshimd):
    """At most --tcp-max-conns connections are served at once, whether the
    server refuses the new one or closes the least recently active."""
    d = new_srvshimd("--tcp-max-conns", "3", "--tcp-idle-timeout", "120s")
    ip, port = d.addr()
    held = []
    try:
        for i in range(3):
            s = tcp_connect(ip, port)
            held.append(s)
            assert served_on(s, 0x700 + i, timeout=2), "connection %d" % i
        try:
            held.append(tcp_connect(ip, port, timeout=1))
            served_on(held[-1], 0x710)
        except OSError:
            pass  # refused outright: also within the cap
        alive = [served_on(s, 0x720 + i) for i, s in enumerate(held)]
        assert sum(alive) <= 3, "more than 3 connections served: %s" % alive
        assert sum(alive) >= 2, "the cap closed more than needed: %s" % alive
        udp_ok(d)
    finally:
        for s in held:
            s.close()
    poll(lambda: tcp_served(d), timeout=10, what="TCP served again")


def test_stalled_clients_do_not_block_udp(srv):
    ip, port = srv.addr()
    stalled = []
    try:
        for i in range(20):
            s = tcp_connect(ip, port)
            s.sendall(b"\x00" if i % 2 == 0 else b"\x00\x30\x12\x34\x00")
            stalled.append(s)
        udp_ok(srv, 50)
        assert tcp_served(srv, timeout=2.0), "TCP starved by stalled clients"
        udp_ok(srv, 10)
    finally:
        for s in stalled:
            s.close()


def test_zero_length_frame(srv):
    ip, port = srv.addr()
    s = tcp_connect(ip, port)
    try:
        s.sendall(b"\x00\x00" + tcp_frame(addr_query(5, 0x801).to_wire()))
        try:
            body = tcp_read_msg(s)
        except socket.timeout:
            body = None
            pytest.fail("zero-length frame: neither closed nor skipped")
        if body is not None:
            m = dns.message.from_wire(body)
            assert m.id == 0x801, "reply to the zero-length frame: %r" % body
            assert addrs(m) == ["127.0.9.5"]
    finally:
        s.close()
    assert tcp_served(srv, timeout=2.0)
    udp_ok(srv, 5)
