#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""seeds.py -- writes the hand-made seeds of tests/fuzz/corpus/{wire,tcp,config}.

Owns:  the named seeds (seed-*): one raw DNS query per wire seed, a seed byte
       plus a TCP stream per tcp seed, a NUL-separated argv per config seed.
       Inputs libFuzzer found (hex names, crash-* for crashes fixed) are kept
       beside them, minimized with -merge=1 by scripts/fuzz --merge.
Never: deletes files it did not write. Run: tests/fuzz/seeds.py (idempotent).
The system test tests/system/test_hostile.py::test_amplification sends the
wire seeds over UDP too."""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
ZONE = "service.local"


def name(text):
    out = b""
    for label in text.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def hdr(qid=0x1234, flags=0x0100, qd=1, an=0, ns=0, ar=0):
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def q(qname, qtype=1, qclass=1):
    n = qname if isinstance(qname, bytes) else name(qname)
    return n + struct.pack("!HH", qtype, qclass)


def opt(size=1232, version=0, flags=0, rdata=b""):
    ttl = (version << 16) | flags
    return b"\x00" + struct.pack("!HHIH", 41, size, ttl, len(rdata)) + rdata


def query(rel, qtype=1, edns=None, flags=0x0100, qid=0x1234, **kw):
    full = ZONE if rel == "@" else (rel if rel.endswith(".") else
                                    rel + "." + ZONE)
    if edns is None:
        return hdr(qid, flags) + q(full, qtype, **kw)
    return hdr(qid, flags, ar=1) + q(full, qtype, **kw) + opt(edns)


def wire_seeds():
    A, NS, SOA, TXT, AAAA, SRV, ANY = 1, 2, 6, 16, 28, 33, 255
    z = name(ZONE)
    s = {}
    for rel, types in (("web", (A, AAAA, SRV, TXT, ANY)),
                       ("primary.web", (A, SRV)),
                       ("_web._tcp", (SRV,)), ("_web._canary", (SRV,)),
                       ("v6", (AAAA, A, SRV)), ("mixed", (SRV, A, AAAA, TXT)),
                       ("down", (A,)), ("big", (A, SRV)),
                       ("third.big", (SRV,)), ("_tcp", (SRV,)),
                       ("addr", (A,)), ("7f00000b.addr", (A, AAAA, ANY)),
                       ("20010db8000000000000000000000001.addr", (AAAA,)),
                       ("nosuch", (A,)), ("x.primary.web", (A,)),
                       ("@", (SOA, NS, ANY, A))):
        for t in types:
            s["%s-%d" % (rel.replace("@", "apex"), t)] = query(rel, t)
    s["big-srv-edns4096"] = query("big", SRV, edns=4096)
    s["big-a-edns1232"] = query("big", A, edns=1232)
    s["big-a-edns65535"] = query("big", A, edns=65535)
    s["big-a-edns100"] = query("big", A, edns=100)
    s["web-a-edns512"] = query("web", A, edns=512)
    s["mixed-srv-edns1232"] = query("mixed", SRV, edns=1232)
    s["case-0x20"] = hdr() + q(name("WeB.SeRvIcE.LoCaL"), A)
    s["outside-zone"] = hdr() + q("example.com", A)
    s["root"] = hdr() + q(b"\x00", NS)
    s["class-ch"] = query("@", SOA, qclass=3)
    s["axfr"] = query("@", 252)
    s["unknown-qtype"] = query("web", 65280)
    s["z-bit"] = query("web", A, flags=0x0140)
    s["ad-cd"] = query("web", A, flags=0x0130)
    s["qr-set"] = query("web", A, flags=0x8100)
    for op in (1, 2, 4, 5, 15):
        s["opcode-%d" % op] = query("@", SOA, flags=op << 11)
    s["truncated-header"] = hdr()[:7]
    s["header-only"] = hdr()
    s["qdcount-0"] = hdr(qd=0) + q(z, SOA)
    s["qdcount-2"] = hdr(qd=2) + q(z, SOA) + q(z, SOA)
    s["truncated-question"] = hdr() + z + b"\x00"
    s["label-64"] = hdr() + b"\x40" + b"a" * 64 + z + b"\x00\x01\x00\x01"
    s["name-over-255"] = hdr() + (b"\x3f" + b"a" * 63) * 4 + z + b"\x00\x01\x00\x01"
    s["bad-label-type"] = hdr() + b"\x81a" + z + b"\x00\x01\x00\x01"
    s["pointer-self"] = hdr() + b"\xc0\x0c\x00\x01\x00\x01"
    s["pointer-loop"] = hdr() + b"\x01a\xc0\x0c\x00\x01\x00\x01"
    s["pointer-forward"] = hdr() + b"\xc0\x12\x00\x01\x00\x01" + z
    s["pointer-out"] = hdr() + b"\xc0\xff\x00\x01\x00\x01"
    s["pointer-in-rr-loop"] = (hdr(ar=1) + q(z, SOA) +
                               b"\xc0\x1f" + b"\x00\x01\x00\x01\x00\x00\x00\x00\x00\x00")
    s["two-opt"] = hdr(ar=2) + q(z, SOA) + opt() + opt()
    s["opt-in-answer"] = hdr(an=1) + q(z, SOA) + opt()
    s["opt-in-authority"] = hdr(ns=1) + q(z, SOA) + opt()
    s["opt-owner-not-root"] = hdr(ar=1) + q(z, SOA) + b"\x01a" + opt()[1:]
    s["opt-truncated"] = hdr(ar=1) + q(z, SOA) + opt()[:7]
    s["edns-version-1"] = hdr(ar=1) + q(z, SOA) + opt(version=1)
    s["edns-do-and-unknown-flags"] = hdr(ar=1) + q("web." + ZONE, A) + \
        opt(flags=0xffff)
    s["edns-unknown-option"] = hdr(ar=1) + q("web." + ZONE, A) + \
        opt(rdata=struct.pack("!HH", 65001, 4) + b"abcd")
    s["edns-cookie"] = hdr(ar=1) + q("web." + ZONE, A) + \
        opt(rdata=struct.pack("!HH", 10, 8) + b"\x01" * 8)
    s["edns-option-overruns"] = hdr(ar=1) + q("web." + ZONE, A) + \
        opt(rdata=struct.pack("!HH", 10, 40) + b"\x01" * 8)
    s["edns-option-runt"] = hdr(ar=1) + q("web." + ZONE, A) + opt(rdata=b"\x00")
    s["records-before-opt"] = (hdr(an=1, ns=1, ar=2) + q(z, SOA) +
                               b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 0, 4) +
                               b"\x7f\0\0\1" + b"\xc0\x0c" +
                               struct.pack("!HHIH", 1, 1, 0, 4) + b"\x7f\0\0\1" +
                               b"\x00" + struct.pack("!HHIH", 1, 1, 0, 0) + opt())
    s["ancount-65535"] = hdr(an=65535) + q(z, SOA)
    s["trailing-garbage"] = query("web", A) + b"\xff" * 9
    s["max-name"] = hdr() + (b"\x3f" + b"a" * 63) * 3 + b"\x2c" + b"b" * 44 + \
        b"\x00" + b"\x00\x01\x00\x01"
    # CHAOS diagnostics (TXT/ANY/A in class CH)
    for t in ("version.bind", "hostname.bind", "id.server", "version.server",
              "status.srvshim", "web.services.srvshim", "big.services.srvshim",
              "nosuch.services.srvshim", "authors.bind"):
        s["ch-" + t] = hdr() + q(t, TXT, 3)
    s["ch-big.services.srvshim-edns"] = hdr(ar=1) + \
        q("big.services.srvshim", TXT, 3) + opt()
    s["ch-status-any"] = hdr() + q("status.srvshim", ANY, 3)
    s["ch-mixed.services.srvshim-a"] = hdr() + q("mixed.services.srvshim", A, 3)
    return s


def frame(data):
    return struct.pack("!H", len(data)) + data


def tcp_seeds():
    w = wire_seeds()
    s = {}
    s["one-query"] = b"\x00" + frame(w["web-1"])
    s["pipelined-bytewise"] = b"\x07" + b"".join(
        frame(w[k]) for k in ("web-1", "web-33", "apex-6", "big-33", "two-opt"))
    s["pipelined-whole"] = b"\x00" + b"".join(
        frame(w[k]) for k in ("big-33", "7f00000b.addr-1", "edns-version-1"))
    s["zero-length"] = b"\x03" + b"\x00\x00" + frame(w["web-1"])
    s["runt-frame"] = b"\x03" + frame(w["truncated-header"])
    s["oversized"] = b"\x05" + b"\x10\x01" + b"\x00" * 64
    s["max-frame"] = b"\x09" + b"\x10\x00" + w["web-1"] + b"\x00" * (4096 - len(w["web-1"]))
    s["one-byte"] = b"\x01\x00"
    s["half-frame"] = b"\x01" + frame(w["web-1"])[:9]
    s["huge-query"] = b"\x00" + frame(w["records-before-opt"] + b"\x00" * 3000)
    return s


def config_seeds():
    args = {
        "defaults": [],
        "full": ["--listen", "127.0.0.1:5300", "--listen", "[::1]:5300",
                 "--zone", "consul.internal.", "--consul", "https://127.0.0.1:8501",
                 "--datacenter", "dc2", "--consistency", "stale", "--wait", "30s",
                 "--ttl", "10s", "--negative-ttl", "1m", "--service-ttl", "web=30s",
                 "--only-passing", "--weight-scale", "256", "--edns-size", "4096",
                 "--max-watches", "190", "--workers", "2", "--tcp-max-conns",
                 "1000", "--tcp-idle-timeout", "250ms", "--log-level", "debug"],
        "equals-forms": ["--listen=0.0.0.0:53", "--zone=a.b", "--ttl=1h"],
        "unix-consul": ["--consul", "unix:///run/consul.sock"],
        "bad-listen": ["--listen", "localhost:53"],
        "bad-zone": ["--zone", "a..b"],
        "bad-bounds": ["--edns-size", "511"],
        "unknown": ["--nope"],
        "missing-value": ["--zone"],
        "stray-arg": ["extra"],
        "help": ["--help"],
        "version": ["-V"],
        "short-cluster": ["-Vh"],
        "short-cluster-unknown": ["-xh"],
        "token-file-missing": ["--token-file", "/nonexistent/token"],
        "svc-ttl-bad": ["--service-ttl", "=5s"],
        "many-listen": ["--listen", "127.0.0.1:1"] * 17,
    }
    return {k: "\0".join(v).encode() for k, v in args.items()}


def main():
    for target, seeds in (("wire", wire_seeds()), ("tcp", tcp_seeds()),
                          ("config", config_seeds())):
        d = os.path.join(CORPUS, target)
        os.makedirs(d, exist_ok=True)
        for k, data in seeds.items():
            with open(os.path.join(d, "seed-" + k), "wb") as f:
                f.write(data)
        print("%s: %d seeds" % (target, len(seeds)))


if __name__ == "__main__":
    main()
