# SPDX-License-Identifier: MIT
"""fakes/upstream.py -- a DNS upstream that misbehaves on demand, for the
forwarding tests (dnsmasq plays the well-behaved one).

Owns:  one UDP socket and one TCP listener on a free loopback port, served by
       a thread in the test process; a record of every query it saw.
Modes (the `mode` argument):
  answer    A records (count `records`, TTL `ttl`) for any name; names that
            start with "nx" get NXDOMAIN with a SOA (TTL/minimum `neg_ttl`)
  silent    reads queries and never answers (recursor timeout)
  truncate  over UDP: TC set, no records; over TCP: the full answer
  relay     forwards each UDP query to `target` (host, port) and the reply
            back, counting both directions (loop tests)
Never: starts processes; stops only its own sockets and thread.
Start reading at Upstream."""

import select
import socket
import struct
import threading

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class Upstream:
    def __init__(self, port, mode="answer", records=1, ttl=300, neg_ttl=60,
                 target=None, host="127.0.0.1"):
        self.host, self.port, self.mode = host, port, mode
        self.records, self.ttl, self.neg_ttl = records, ttl, neg_ttl
        self.target = target
        self.seen = []          # (transport, dns.message query) in order
        self.relayed_back = 0   # relay mode: replies carried back
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None

    # ---- what it says -----------------------------------------------------

    def addr(self):
        return "%s:%d" % (self.host, self.port)

    def count(self, transport=None):
        with self._lock:
            return sum(1 for t, _ in self.seen
                       if transport is None or t == transport)

    def queries(self):
        with self._lock:
            return list(self.seen)

    def _answer(self, q, transport):
        r = dns.message.make_response(q)
        r.flags |= dns.flags.RA
        name = q.question[0].name
        if name.labels[0].lower().startswith(b"nx"):
            r.set_rcode(dns.rcode.NXDOMAIN)
            soa = dns.rrset.from_text(
                name.parent(), 3600, "IN", "SOA",
                "ns.test. host.test. 1 3600 600 86400 %d" % self.neg_ttl)
            r.authority.append(soa)
            return r
        if self.mode == "truncate" and transport == "udp":
            r.flags |= dns.flags.TC
            return r
        if q.question[0].rdtype == dns.rdatatype.A:
            addrs = ["198.51.100.%d" % (i % 250 + 1) if i < 250 else
                     "203.0.113.%d" % (i % 250 + 1)
                     for i in range(self.records)]
            r.answer.append(dns.rrset.from_text_list(
                name, self.ttl, "IN", "A", addrs))
        return r

    # ---- serving ----------------------------------------------------------

    def start(self):
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.bind((self.host, self.port))
        self._tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._tcp.bind((self.host, self.port))
        self._tcp.listen(16)
        if self.mode == "relay":
            self._out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._out.bind((self.host, 0))
            self._pending = {}   # relay id -> client address
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        for s in ("_udp", "_tcp", "_out"):
            if hasattr(self, s):
                getattr(self, s).close()

    def _record(self, transport, wire):
        try:
            q = dns.message.from_wire(wire)
        except Exception:  # noqa: BLE001 -- a fake records what it can
            return None
        with self._lock:
            self.seen.append((transport, q))
        return q

    def _run(self):
        socks = [self._udp, self._tcp] + \
            ([self._out] if self.mode == "relay" else [])
        conns = []
        while not self._stop.is_set():
            ready, _, _ = select.select(socks + conns, [], [], 0.05)
            for s in ready:
                if s is self._udp:
                    self._on_udp()
                elif s is self._tcp:
                    c, _ = self._tcp.accept()
                    conns.append(c)
                elif self.mode == "relay" and s is self._out:
                    wire, _ = self._out.recvfrom(65535)
                    qid = struct.unpack("!H", wire[:2])[0]
                    client = self._pending.pop(qid, None)
                    if client:
                        with self._lock:
                            self.relayed_back += 1
                        self._udp.sendto(wire, client)
                else:
                    if not self._on_tcp(s):
                        conns.remove(s)
                        s.close()
        for c in conns:
            c.close()

    def _on_udp(self):
        wire, client = self._udp.recvfrom(65535)
        q = self._record("udp", wire)
        if q is None or self.mode == "silent":
            return
        if self.mode == "relay":
            self._pending[q.id] = client
            self._out.sendto(wire, self.target)
            return
        self._udp.sendto(self._answer(q, "udp").to_wire(), client)

    def _on_tcp(self, c):
        try:
            hdr = c.recv(2)
            if len(hdr) < 2:
                return False
            (n,) = struct.unpack("!H", hdr)
            wire = b""
            while len(wire) < n:
                chunk = c.recv(n - len(wire))
                if not chunk:
                    return False
                wire += chunk
        except OSError:
            return False
        q = self._record("tcp", wire)
        if q is None or self.mode == "silent":
            return q is not None
        out = self._answer(q, "tcp").to_wire()
        c.sendall(struct.pack("!H", len(out)) + out)
        return True
