# SPDX-License-Identifier: MIT
"""test_negative.py -- NXDOMAIN and NODATA answers (RFC 2308).

Checks:
- unknown names in the zone (a service, a name below one, an unknown
  _svc._tcp, an unknown tag, a bad <hex>.addr label) -> NXDOMAIN, AA=1
- registered service with no healthy instance -> NOERROR with no answer
- no records of the type: AAAA on an IPv4-only service, MX, TXT on a service
  without Meta, A on _svc._tcp, CNAME -> NODATA
- empty non-terminals _tcp.<zone>, addr.<zone> -> NODATA
- every negative answer has exactly the zone SOA in authority (owner = apex),
  with TTL = negative TTL (5 s by default, never 0), over UDP and TCP and
  with EDNS; --negative-ttl changes it and the positive TTL stays
"""

import dns.flags
import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from dnsutil import addrs, describe, poll, rrs


def check_negative(srv, r, rcode, neg_ttl=5):
    assert r.rcode() == rcode, describe(r)
    assert not r.answer, describe(r)
    assert r.flags & dns.flags.AA, "AA on a negative in-zone answer"
    assert len(r.authority) == 1, describe(r)
    soa = r.authority[0]
    assert soa.rdtype == dns.rdatatype.SOA and len(soa) == 1, describe(r)
    assert soa.name == dns.name.from_text(srv.fqdn("@")), "SOA owner = apex"
    assert soa.ttl == neg_ttl, "negative TTL %d, want %d" % (soa.ttl, neg_ttl)
    assert soa.ttl > 0
    return r


@pytest.fixture
def v4svc(consul, srv, uniq):
    name = uniq("neg")
    consul.register(name + "-0", name, "127.0.6.1", 8600, tags=["blue"])
    poll(lambda: addrs(srv.q(name, "A")) == ["127.0.6.1"], what="registered")
    return name


@pytest.mark.parametrize("rel", [
    "nosuchservice-zz", "a.b.c.nosuchservice-zz", "_nosuchservice-zz._tcp",
    "x.y.z.q"])
def test_nxdomain_unknown(srv, rel):
    check_negative(srv, srv.q(rel, "A"), dns.rcode.NXDOMAIN)


def test_nxdomain_below_service_and_tag(srv, v4svc):
    check_negative(srv, srv.q("nosuchtag." + v4svc, "A"), dns.rcode.NXDOMAIN)
    check_negative(srv, srv.q("a.blue." + v4svc, "A"), dns.rcode.NXDOMAIN)
    check_negative(srv, srv.q("_%s._nosuchtag" % v4svc, "SRV"),
                   dns.rcode.NXDOMAIN)


@pytest.mark.parametrize("label", ["zz00000b", "7f00000", "7f00000b0",
                                   "g" * 32, "0" * 31, "xyz"])
def test_nxdomain_bad_addr_label(srv, label):
    check_negative(srv, srv.q(label + ".addr", "A"), dns.rcode.NXDOMAIN)


def test_nxdomain_below_addr_name(srv):
    check_negative(srv, srv.q("x.7f00000b.addr", "A"), dns.rcode.NXDOMAIN)


@pytest.mark.parametrize("rdtype", ["AAAA", "MX", "TXT", "CNAME", "NS",
                                    "PTR"])
def test_nodata_type(srv, v4svc, rdtype):
    check_negative(srv, srv.q(v4svc, rdtype), dns.rcode.NOERROR)


def test_nodata_a_on_rfc2782_name(srv, v4svc):
    check_negative(srv, srv.q("_%s._tcp" % v4svc, "A"), dns.rcode.NOERROR)


def test_nodata_no_healthy_instance(consul, srv, v4svc):
    consul.critical(v4svc + "-0")
    poll(lambda: not srv.q(v4svc, "A").answer, what="instance gone")
    for rdtype in ("A", "SRV", "TXT"):
        check_negative(srv, srv.q(v4svc, rdtype), dns.rcode.NOERROR)
    check_negative(srv, srv.q("_%s._tcp" % v4svc, "SRV"), dns.rcode.NOERROR)


@pytest.mark.parametrize("rel", ["_tcp", "_udp", "addr"])
def test_nodata_empty_non_terminal(srv, rel):
    for rdtype in ("A", "SRV"):
        check_negative(srv, srv.q(rel, rdtype), dns.rcode.NOERROR)


@pytest.mark.parametrize("rdtype", ["A", "AAAA", "SRV", "TXT", "MX"])
def test_nodata_apex_types(srv, rdtype):
    check_negative(srv, srv.q("@", rdtype), dns.rcode.NOERROR)


def test_negative_over_tcp_and_edns(srv):
    check_negative(srv, srv.q("nosuchservice-zz", "A", tcp_=True),
                   dns.rcode.NXDOMAIN)
    r = srv.q("nosuchservice-zz", "A", edns=0)
    check_negative(srv, r, dns.rcode.NXDOMAIN)
    assert r.edns == 0
    check_negative(srv, srv.q("_tcp", "A", edns=0, v6=True), dns.rcode.NOERROR)


def test_negative_ttl_flag(consul, new_srvshimd, uniq):
    name = uniq("negttl")
    consul.register(name + "-0", name, "127.0.6.2", 8601)
    d = new_srvshimd("--negative-ttl", "1m")
    poll(lambda: addrs(d.q(name, "A")) == ["127.0.6.2"], what="registered")
    check_negative(d, d.q("nosuchservice-zz", "A"), dns.rcode.NXDOMAIN, 60)
    check_negative(d, d.q(name, "AAAA"), dns.rcode.NOERROR, 60)
    assert rrs(d.q("@", "SOA"), "SOA")[0].minimum == 60
    r = d.q(name, "A")
    assert r.answer[0].ttl == 0, "positive TTL unchanged by --negative-ttl"
