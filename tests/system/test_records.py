# SPDX-License-Identifier: MIT
"""test_records.py -- every positive row of the record table, against Consul.

Checks:
- <svc> A: one record per distinct IPv4 address of the healthy instances;
  AAAA likewise for IPv6; a mixed service answers each family apart
- AA=1, RA=0, default positive TTL 0, answers on the [::1] listener too
- an instance without Service.Address is served at its node's address
- <svc> SRV: priority 1, weight 1 by default, the instance's port, target
  <hex>.addr.<zone> decoding to the instance address, the target's A/AAAA in
  the additional section; two instances on one address: one A, two SRV
- _<svc>._tcp and _<svc>._udp SRV: the same set as <svc> SRV
- _<svc>._<tag> SRV and <tag>.<svc> A/AAAA/SRV: only tagged instances
- <hex>.addr.<zone> A/AAAA decoded statelessly (IPv4, IPv6, upper-case hex)
- TXT on <svc>: each healthy instance's Meta as key=value strings
- apex SOA (owner, serial increases on each published change) and NS (target
  a <hex>.addr name that resolves)
- the same for A, SRV, _svc._tcp SRV, the addr form and SOA through `dig`
"""

import ipaddress
import re
import subprocess

import dns.flags
import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from dnsutil import addrs, describe, hex_label, poll, rrs

V4 = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
V6 = ["fd00::11", "fd00::12"]


def ok(r):
    return r.rcode() == dns.rcode.NOERROR and r.answer


def wait_addrs(srv, name, want, rdtype="A", **kw):
    """Polls until name's answer addresses are exactly want; returns reply."""
    want = sorted(want)

    def check():
        r = srv.q(name, rdtype, **kw)
        return r if addrs(r, rdtype) == want else None
    return poll(check, what="%s %s == %s" % (name, rdtype, want))


def srv_set(r):
    """{(priority, weight, port, target)} of the answer's SRV records."""
    return {(x.priority, x.weight, x.port, x.target.to_text())
            for x in rrs(r, "SRV")}


def target_for(srv, ip):
    return "%s.addr.%s." % (hex_label(ip), srv.zone)


@pytest.fixture
def data(consul, srv, uniq):
    """A 3-instance service like the example `data`: tags primary/v1 on the
    first, v1 on the others, Meta version on each."""
    name = uniq("data")
    for i, ip in enumerate(V4):
        consul.register("%s-%d" % (name, i), name, ip, 8081 + i,
                        tags=["primary", "v1"] if i == 0 else ["v1"],
                        meta={"version": "1.%d" % i})
    wait_addrs(srv, name, V4)
    return name


def test_a_one_record_per_address(srv, data):
    r = srv.q(data, "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert addrs(r) == V4
    assert r.flags & dns.flags.AA, "AA must be set on in-zone answers"
    assert not r.flags & dns.flags.RA, "RA must be clear"
    assert r.flags & dns.flags.QR
    for rrset in r.answer:
        assert rrset.name == dns.name.from_text(srv.fqdn(data))
        assert rrset.ttl == 0, "default positive TTL is 0"


def test_a_over_ipv6_listener_and_tcp(srv, data):
    assert addrs(srv.q(data, "A", v6=True)) == V4
    assert addrs(srv.q(data, "A", tcp_=True)) == V4
    assert addrs(srv.q(data, "A", tcp_=True, v6=True)) == V4


def test_distinct_addresses_only(consul, srv, uniq):
    name = uniq("dup")
    consul.register(name + "-a", name, "127.0.0.41", 7001)
    consul.register(name + "-b", name, "127.0.0.41", 7002)
    poll(lambda: len(rrs(srv.q(name, "SRV"), "SRV")) == 2, what="2 SRV")
    r = srv.q(name, "A")
    assert addrs(r) == ["127.0.0.41"], describe(r)
    assert {x.port for x in rrs(srv.q(name, "SRV"), "SRV")} == {7001, 7002}


def test_node_address_when_no_service_address(consul, srv, uniq):
    name = uniq("noaddr")
    consul.register(name + "-0", name, None, 7050)
    r = wait_addrs(srv, name, ["127.0.0.1"])  # the dev agent's node address
    r = srv.q(name, "SRV")
    assert srv_set(r) == {(1, 1, 7050, target_for(srv, "127.0.0.1"))}


def test_aaaa_ipv6_service(consul, srv, uniq):
    name = uniq("six")
    for i, ip in enumerate(V6):
        consul.register("%s-%d" % (name, i), name, ip, 9100 + i)
    r = wait_addrs(srv, name, V6, "AAAA")
    assert r.flags & dns.flags.AA
    a = srv.q(name, "A")
    assert a.rcode() == dns.rcode.NOERROR and not a.answer, describe(a)


def test_mixed_families_split(consul, srv, uniq):
    name = uniq("mix")
    consul.register(name + "-4", name, "127.0.0.51", 7100)
    consul.register(name + "-6", name, "fd00::51", 7101)
    wait_addrs(srv, name, ["127.0.0.51"], "A")
    wait_addrs(srv, name, ["fd00::51"], "AAAA")
    r = poll(lambda: (lambda r: r if len(rrs(r, "SRV")) == 2 else None)(
        srv.q(name, "SRV")), what="2 SRV")
    assert srv_set(r) == {(1, 1, 7100, target_for(srv, "127.0.0.51")),
                          (1, 1, 7101, target_for(srv, "fd00::51"))}
    assert addrs(r, "A", "additional") == ["127.0.0.51"]
    assert addrs(r, "AAAA", "additional") == ["fd00::51"]


def test_srv_records_and_glue(srv, data):
    r = srv.q(data, "SRV")
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    want = {(1, 1, 8081 + i, target_for(srv, ip)) for i, ip in enumerate(V4)}
    assert srv_set(r) == want, describe(r)
    # the glue: each target's A in the additional section, owner = target
    glue = {}
    for rrset in r.additional:
        if rrset.rdtype == dns.rdatatype.A:
            glue[rrset.name.to_text()] = sorted(x.address for x in rrset)
    assert glue == {target_for(srv, ip): [ip] for ip in V4}, describe(r)


def test_srv_targets_resolve(srv, data):
    for ip in V4:
        r = srv.q(target_for(srv, ip), "A")
        assert addrs(r) == [ip], describe(r)
        assert r.flags & dns.flags.AA


@pytest.mark.parametrize("proto", ["_tcp", "_udp"])
def test_rfc2782_srv_same_set(srv, data, proto):
    plain = srv_set(srv.q(data, "SRV"))
    r = srv.q("_%s.%s" % (data, proto), "SRV")
    assert r.rcode() == dns.rcode.NOERROR
    assert srv_set(r) == plain and len(plain) == 3, describe(r)
    assert addrs(r, "A", "additional") == V4


def test_rfc2782_tag_srv(srv, data):
    r = srv.q("_%s._primary" % data, "SRV")
    assert srv_set(r) == {(1, 1, 8081, target_for(srv, V4[0]))}, describe(r)
    r = srv.q("_%s._v1" % data, "SRV")
    assert len(srv_set(r)) == 3


def test_tag_subdomain(srv, data):
    r = srv.q("primary." + data, "A")
    assert addrs(r) == [V4[0]], describe(r)
    r = srv.q("primary." + data, "SRV")
    assert srv_set(r) == {(1, 1, 8081, target_for(srv, V4[0]))}
    assert addrs(r, "A", "additional") == [V4[0]]
    assert addrs(srv.q("v1." + data, "A")) == V4


def test_tag_subdomain_aaaa(consul, srv, uniq):
    name = uniq("tag6")
    consul.register(name + "-0", name, "fd00::61", 7200, tags=["blue"])
    consul.register(name + "-1", name, "fd00::62", 7201, tags=["green"])
    wait_addrs(srv, name, ["fd00::61", "fd00::62"], "AAAA")
    assert addrs(srv.q("blue." + name, "AAAA"), "AAAA") == ["fd00::61"]
    assert addrs(srv.q("green." + name, "AAAA"), "AAAA") == ["fd00::62"]


@pytest.mark.parametrize("ip", ["127.0.0.11", "10.1.2.3", "192.0.2.255"])
def test_addr_form_ipv4(srv, ip):
    r = srv.q("%s.addr" % hex_label(ip), "A")
    assert r.rcode() == dns.rcode.NOERROR and addrs(r) == [ip], describe(r)
    assert r.flags & dns.flags.AA


def test_addr_form_example_and_upper_case(srv):
    assert addrs(srv.q("7f00000b.addr", "A")) == ["127.0.0.11"]
    assert addrs(srv.q("7F00000B.ADDR", "A")) == ["127.0.0.11"]


def test_addr_form_ipv6(srv):
    ip = "2001:db8::1:2"
    lbl = hex_label(ip)
    assert len(lbl) == 32
    r = srv.q(lbl + ".addr", "AAAA")
    assert addrs(r, "AAAA") == [ip], describe(r)
    # the other family: no data, but the name exists
    r = srv.q(lbl + ".addr", "A")
    assert r.rcode() == dns.rcode.NOERROR and not r.answer, describe(r)
    r = srv.q("7f00000b.addr", "AAAA")
    assert r.rcode() == dns.rcode.NOERROR and not r.answer, describe(r)


def test_txt_meta(consul, srv, uniq):
    name = uniq("meta")
    consul.register(name + "-0", name, "127.0.0.71", 7300,
                    meta={"version": "2.0", "env": "prod"})
    consul.register(name + "-1", name, "127.0.0.72", 7301,
                    meta={"version": "2.1"})
    wait_addrs(srv, name, ["127.0.0.71", "127.0.0.72"])
    r = srv.q(name, "TXT")
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    strings = {s.decode() for t in rrs(r, "TXT") for s in t.strings}
    assert strings == {"version=2.0", "env=prod", "version=2.1"}, describe(r)


def test_txt_meta_only_healthy(consul, srv, uniq):
    name = uniq("metah")
    consul.register(name + "-0", name, "127.0.0.73", 7300, meta={"k": "up"})
    consul.register(name + "-1", name, "127.0.0.74", 7301, meta={"k": "down"})
    wait_addrs(srv, name, ["127.0.0.73", "127.0.0.74"])
    consul.critical(name + "-1")
    wait_addrs(srv, name, ["127.0.0.73"])
    strings = {s.decode() for t in rrs(srv.q(name, "TXT"), "TXT")
               for s in t.strings}
    assert strings == {"k=up"}


def test_soa_apex(srv):
    r = srv.q("@", "SOA")
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    assert len(r.answer) == 1 and len(r.answer[0]) == 1, describe(r)
    assert r.answer[0].name == dns.name.from_text(srv.fqdn("@"))
    soa = r.answer[0][0]
    assert soa.serial > 0
    assert soa.minimum == 5, "SOA minimum carries the negative TTL"
    assert soa.mname.is_subdomain(dns.name.from_text(srv.fqdn("@")))


def test_soa_serial_increases_on_change(consul, srv, uniq):
    before = srv.serial()
    name = uniq("serial")
    consul.register(name + "-0", name, "127.0.0.81", 7400)
    wait_addrs(srv, name, ["127.0.0.81"])
    mid = srv.serial()
    assert mid > before
    consul.critical(name + "-0")
    poll(lambda: not srv.q(name, "A").answer, what="instance gone")
    assert srv.serial() > mid


def test_ns_apex(srv):
    r = srv.q("@", "NS")
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    targets = [x.target for x in rrs(r, "NS")]
    assert targets, describe(r)
    addr_zone = dns.name.from_text("addr." + srv.zone + ".")
    for t in targets:
        assert t.is_subdomain(addr_zone) and len(t) == len(addr_zone) + 1, t
        label = t.labels[0].decode()
        assert re.fullmatch(r"[0-9a-fA-F]{8}|[0-9a-fA-F]{32}", label), label
        ip = str(ipaddress.ip_address(bytes.fromhex(label)))
        rdtype = "A" if len(label) == 8 else "AAAA"
        a = srv.q(t.to_text(), rdtype)
        assert addrs(a, rdtype) == [ip], describe(a)


# ---- the same through dig ---------------------------------------------------


def dig(srv, name, rdtype, *extra):
    """Runs dig; returns (status, [(owner, type, rdata)])."""
    ip, port = srv.addr()
    out = subprocess.run(["dig", "@" + ip, "-p", str(port), "+norec",
                          "+time=2", "+tries=2", "+noall", "+comments",
                          "+answer", *extra, srv.fqdn(name), rdtype],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stdout + out.stderr
    m = re.search(r"status: ([A-Z]+)", out.stdout)
    assert m, out.stdout
    flags = re.search(r"flags: ([a-z ]*);", out.stdout).group(1).split()
    records = []
    for line in out.stdout.splitlines():
        if not line or line.startswith(";"):
            continue
        f = line.split()
        records.append((f[0].lower(), f[3], " ".join(f[4:]).lower()))
    return m.group(1), flags, records


def test_dig_a(srv, data):
    status, flags, recs = dig(srv, data, "A")
    assert status == "NOERROR" and "aa" in flags and "ra" not in flags
    assert sorted(r[2] for r in recs if r[1] == "A") == V4


@pytest.mark.parametrize("tcp", [False, True])
def test_dig_srv(srv, data, tcp):
    status, _, recs = dig(srv, data, "SRV", *(["+tcp"] if tcp else []))
    assert status == "NOERROR"
    got = sorted(r[2] for r in recs if r[1] == "SRV")
    want = sorted("1 1 %d %s" % (8081 + i, target_for(srv, ip))
                  for i, ip in enumerate(V4))
    assert got == want


def test_dig_rfc2782_srv(srv, data):
    status, _, recs = dig(srv, "_%s._tcp" % data, "SRV")
    assert status == "NOERROR"
    assert len([r for r in recs if r[1] == "SRV"]) == 3
    assert all(r[0] == "_%s._tcp.%s." % (data, srv.zone) for r in recs)


def test_dig_addr_form(srv):
    status, _, recs = dig(srv, "7f00000b.addr", "A")
    assert status == "NOERROR"
    assert recs == [("7f00000b.addr.%s." % srv.zone, "A", "127.0.0.11")]


def test_dig_soa(srv):
    status, flags, recs = dig(srv, "@", "SOA")
    assert status == "NOERROR" and "aa" in flags
    assert len(recs) == 1 and recs[0][0] == srv.zone + "." and recs[0][1] == "SOA"
