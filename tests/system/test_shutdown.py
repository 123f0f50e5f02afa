# SPDX-License-Identifier: MIT
"""test_shutdown.py -- SIGTERM: stop accepting, answer what is in flight, exit 0.

Checks:
- a burst of UDP queries sent just before SIGTERM (srvshimd is SIGSTOPped
  meanwhile, so they sit in its sockets when the signal lands) is answered
  in full (each worker drains its sockets once more before it exits),
  every reply correct (matching ID, NOERROR, the registered addresses);
  srvshimd exits 0 within 5 s and logs "main: stopped";
- with the default --wait 5m (a blocking query open in Consul), an idle TCP
  connection and a TCP connection holding half a frame, SIGTERM still ends
  the process with 0 within 5 s, and both connections are closed cleanly
  (EOF, no reset);
- SIGINT is the same (exit 0).
srvshimd registers nothing in Consul itself, so there is nothing to
deregister."""

import signal
import socket
import struct
import subprocess

import dns.message
import dns.rcode

from dnsutil import addrs, make_query, poll

BOUND_S = 5  # a hang would be minutes (the blocking query's wait)


def stop_and_wait(d, sig):
    d.proc.send_signal(sig)
    try:
        return d.proc.wait(BOUND_S)
    except subprocess.TimeoutExpired:
        raise AssertionError("srvshimd still running %d s after %s"
                             % (BOUND_S, sig.name))


def test_sigterm_answers_queries_in_flight(consul, new_srvshimd, uniq):
    name = uniq("shut")
    want = ["127.0.24.1", "127.0.24.2"]
    consul.register(name + "-1", name, want[0], 8001)
    consul.register(name + "-2", name, want[1], 8002)
    d = new_srvshimd("--wait", "2s")
    poll(lambda: addrs(d.q(name, "A")) == want, what="answered")

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.connect(d.addr())
    n = 150  # fits srvshimd's receive buffer: none dropped by the kernel
    ids = set()
    # Stopped, srvshimd reads nothing: the whole burst waits in its
    # sockets when SIGTERM lands, and both are seen together at SIGCONT.
    d.proc.send_signal(signal.SIGSTOP)
    try:
        for i in range(n):
            q = make_query(d.fqdn(name), "A", qid=i + 1)
            s.send(q.to_wire())
            ids.add(i + 1)
        d.proc.send_signal(signal.SIGTERM)
    finally:
        d.proc.send_signal(signal.SIGCONT)
    rc = stop_and_wait(d, signal.SIGTERM)
    assert rc == 0, d.log_tail()
    assert "main: stopped" in d.log_text()

    got = set()
    s.settimeout(0.5)
    while True:
        try:
            wire = s.recv(4096)
        except (socket.timeout, ConnectionRefusedError):
            break
        r = dns.message.from_wire(wire)
        assert r.id in ids and r.id not in got, "reply id %d" % r.id
        assert r.rcode() == dns.rcode.NOERROR and addrs(r) == want, r
        got.add(r.id)
    s.close()
    assert got == ids, "%d of %d queries sent before SIGTERM unanswered" \
        % (len(ids - got), n)


def test_sigterm_with_blocking_query_and_tcp_clients(consul, new_srvshimd,
                                                     uniq):
    name = uniq("shut")
    consul.register(name + "-1", name, "127.0.24.3", 8003)
    d = new_srvshimd()  # default --wait 5m: blocking queries stay open
    poll(lambda: addrs(d.q(name, "A")) == ["127.0.24.3"], what="answered")
    idle = socket.create_connection(d.addr(), timeout=5)
    half = socket.create_connection(d.addr(), timeout=5)
    wire = make_query(d.fqdn(name), "A").to_wire()
    half.sendall(struct.pack("!H", len(wire)) + wire[:5])
    # the TCP thread has both connections before the signal
    poll(lambda: d.q(name, "A", tcp_=True).rcode() == dns.rcode.NOERROR,
         what="tcp answering")
    rc = stop_and_wait(d, signal.SIGTERM)
    assert rc == 0, d.log_tail()
    for c in (idle, half):
        assert c.recv(100) == b"", "closed with EOF"
        c.close()


def test_sigint_exits_zero(new_srvshimd):
    d = new_srvshimd()
    assert stop_and_wait(d, signal.SIGINT) == 0, d.log_tail()
