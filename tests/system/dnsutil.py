# SPDX-License-Identifier: MIT
"""dnsutil.py -- DNS helpers for the system tests (dnspython 2.3, Debian's).

Owns:  building and sending queries (UDP/TCP, with/without EDNS), raw-bytes
       exchanges for malformed packets, a small wire walker that reports the
       real order of records (dnspython hides where the OPT sat), poll().
Never: starting processes (conftest.py does that)."""

import socket
import struct
import time

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype

TIMEOUT = 2.0

# ---- building queries -----------------------------------------------------


def make_query(name, rdtype="A", edns=None, payload=1232, rdclass="IN",
               options=None, rd=False, qid=None, ednsflags=0):
    """A dns.message query. edns=None sends no OPT; edns=0 (or another
    version) sends one with the given payload, options and flags."""
    q = dns.message.make_query(name, rdtype, rdclass)
    q.flags = dns.flags.RD if rd else 0
    if edns is not None:
        q.use_edns(edns, ednsflags=ednsflags, payload=payload,
                   options=options or [])
    if qid is not None:
        q.id = qid
    return q


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


# ---- parsed exchanges -----------------------------------------------------


def udp(q, addr, port, timeout=TIMEOUT):
    """Sends q over UDP, returns the parsed reply (TC replies are kept)."""
    return dns.query.udp(q, addr, port=port, timeout=timeout,
                         raise_on_truncation=False)


def tcp(q, addr, port, timeout=TIMEOUT):
    return dns.query.tcp(q, addr, port=port, timeout=timeout)


def query(server, name, rdtype="A", tcp_=False, **kw):
    """One query to a server object (conftest.Srvshimd) over its IPv4
    listener. kw: edns, payload, options, rdclass, rd, timeout, v6."""
    timeout = kw.pop("timeout", TIMEOUT)
    v6 = kw.pop("v6", False)
    addr, port = server.addr(v6)
    q = make_query(name, rdtype, **kw)
    if tcp_:
        return tcp(q, addr, port, timeout)
    return udp(q, addr, port, timeout)


def query_wire(server, name, rdtype="A", **kw):
    """Like query() over UDP, but returns the raw reply bytes too:
    (message, wire)."""
    timeout = kw.pop("timeout", TIMEOUT)
    addr, port = server.addr(kw.pop("v6", False))
    q = make_query(name, rdtype, **kw)
    wire = udp_raw(q.to_wire(), addr, port, timeout)
    assert wire is not None, "no reply to %s %s" % (name, rdtype)
    return dns.message.from_wire(wire, ignore_trailing=False), wire


# ---- raw exchanges --------------------------------------------------------


def udp_raw(data, addr, port, timeout=TIMEOUT):
    """Sends bytes, returns the first datagram back or None on timeout."""
    s = socket.socket(family_of(addr), socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.sendto(data, (addr, port))
        try:
            return s.recvfrom(65535)[0]
        except socket.timeout:
            return None
    finally:
        s.close()


def tcp_connect(addr, port, timeout=TIMEOUT):
    s = socket.create_connection((addr, port), timeout=timeout)
    s.settimeout(timeout)
    return s


def recv_exact(s, n):
    """Reads exactly n bytes; returns fewer only at EOF."""
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def tcp_frame(data):
    return struct.pack("!H", len(data)) + data


def tcp_read_msg(s):
    """Reads one length-framed message; None at EOF (clean or reset)."""
    try:
        hdr = recv_exact(s, 2)
    except ConnectionResetError:
        return None
    if len(hdr) < 2:
        return None
    (n,) = struct.unpack("!H", hdr)
    body = recv_exact(s, n)
    assert len(body) == n, "TCP reply cut short: %d of %d bytes" % (len(body), n)
    return body


def tcp_raw(data, addr, port, timeout=TIMEOUT):
    """Sends one framed message on a new connection, returns the framed
    reply's body, or None when the server closed without one."""
    s = tcp_connect(addr, port, timeout)
    try:
        s.sendall(tcp_frame(data))
        return tcp_read_msg(s)
    finally:
        s.close()


def wait_eof(s, timeout):
    """True when the peer closes s (EOF or reset) within timeout seconds;
    False if the socket stays open (recv times out)."""
    s.settimeout(timeout)
    try:
        while True:
            data = s.recv(4096)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


# ---- raw message building -------------------------------------------------


def header(qid=0x1234, flags=0, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def wire_name(name):
    """Plain (uncompressed) wire form of a dotted name, case preserved."""
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            b = label.encode()
            out += bytes([len(b)]) + b
    return out + b"\x00"


def question(name, qtype=1, qclass=1):
    return (name if isinstance(name, bytes) else wire_name(name)) + \
        struct.pack("!HH", qtype, qclass)


def opt_rr(payload=1232, version=0, ext_rcode=0, flags=0, rdata=b""):
    ttl = (ext_rcode << 24) | (version << 16) | flags
    return b"\x00" + struct.pack("!HHIH", 41, payload, ttl, len(rdata)) + rdata


def parse_header(wire):
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", wire[:12])
    return {"id": qid, "flags": flags, "qr": bool(flags & 0x8000),
            "opcode": (flags >> 11) & 0xF, "aa": bool(flags & 0x0400),
            "tc": bool(flags & 0x0200), "rd": bool(flags & 0x0100),
            "ra": bool(flags & 0x0080), "rcode": flags & 0xF,
            "qd": qd, "an": an, "ns": ns, "ar": ar}


def skip_name(wire, off):
    """Offset just past the name at off (following no pointer)."""
    while True:
        n = wire[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:
            return off + 2
        assert n & 0xC0 == 0, "bad label type 0x%02x at %d" % (n, off)
        off += 1 + n


def walk(wire):
    """Walks a whole message strictly. Returns (header, questions, records):
    questions are the raw question bytes (name + type + class), records are
    (section, rtype, rclass, ttl, rdata) in wire order, section one of
    'an', 'ns', 'ar'. Asserts no trailing bytes and no partial record."""
    h = parse_header(wire)
    off = 12
    qs = []
    for _ in range(h["qd"]):
        end = skip_name(wire, off) + 4
        assert end <= len(wire), "question runs past the message"
        qs.append(wire[off:end])
        off = end
    recs = []
    for sec in ("an", "ns", "ar"):
        for _ in range(h[sec]):
            off = skip_name(wire, off)
            assert off + 10 <= len(wire), "record header runs past the message"
            rtype, rclass, ttl, rdlen = struct.unpack("!HHIH", wire[off:off + 10])
            off += 10
            assert off + rdlen <= len(wire), "rdata runs past the message"
            recs.append((sec, rtype, rclass, ttl, wire[off:off + rdlen]))
            off += rdlen
    assert off == len(wire), "%d trailing bytes" % (len(wire) - off)
    return h, qs, recs


# ---- reading replies ------------------------------------------------------


def rrs(msg, rdtype, section="answer"):
    """All rdatas of a type in a section, as a list."""
    t = dns.rdatatype.from_text(rdtype) if isinstance(rdtype, str) else rdtype
    return [rd for rrset in getattr(msg, section) if rrset.rdtype == t
            for rd in rrset]


def addrs(msg, rdtype="A", section="answer"):
    return sorted(r.address for r in rrs(msg, rdtype, section))


def rcode_text(msg):
    return dns.rcode.to_text(msg.rcode())


def answer_count(msg):
    return sum(len(r) for r in msg.answer)


def describe(msg):
    return msg.to_text() if msg is not None else "<no reply>"


def hex_label(ip):
    """The <hex> label srvshim uses for an address."""
    fam = family_of(ip)
    return socket.inet_pton(fam, ip).hex()


# ---- waiting --------------------------------------------------------------


def poll(fn, timeout=5.0, interval=0.05, what=None):
    """Calls fn() until it returns something truthy and returns that; raises
    AssertionError after timeout seconds, showing the last value or
    exception. Never a fixed sleep: it returns as soon as the state shows."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 -- retried until the deadline
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError("poll: %s not true within %.1fs; last: %r"
                                 % (what or getattr(fn, "__name__", "condition"),
                                    timeout, last))
        time.sleep(interval)
