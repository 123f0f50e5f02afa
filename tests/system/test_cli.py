# SPDX-License-Identifier: MIT
"""test_cli.py -- srvshimd's command line, exit codes and flag effects.

Checks:
- an unknown flag, and bad values for --listen, --ttl, --negative-ttl,
  --service-ttl, --edns-size, --weight-scale, --log-level, --consistency,
  --tcp-idle-timeout, --consul and --zone -> exit 2, message names the flag
- -h/--help (mentions --listen) and -V/--version (prints 0.1.0) -> exit 0
- binding a port already in use, or an address not on this host -> exit 1,
  message names --listen
- SIGTERM and SIGINT -> exit 0
- --ttl sets the positive TTL; --service-ttl overrides it for one service
  (case-insensitively) and leaves the negative TTL alone; durations in
  s/m/h and bare seconds
- --zone other.test serves <svc>.other.test and refuses service.local
- --edns-size sets the UDP size advertised in the OPT
- --workers 1 serves
"""

import signal
import socket

import dns.flags
import dns.name
import dns.rcode
import pytest

import conftest
from conftest import run_srvshimd
from dnsutil import addrs, describe, poll, rrs


@pytest.mark.parametrize("args,flag", [
    (["--no-such-flag"], "--no-such-flag"),
    (["--listen", "not-an-address"], "--listen"),
    (["--listen", "127.0.0.1:99999"], "--listen"),
    (["--listen", "[::1:5300"], "--listen"),
    (["--ttl", "abc"], "--ttl"),
    (["--ttl", "-5"], "--ttl"),
    (["--ttl", "10x"], "--ttl"),
    (["--negative-ttl", "soon"], "--negative-ttl"),
    (["--service-ttl", "web"], "--service-ttl"),
    (["--service-ttl", "web=forever"], "--service-ttl"),
    (["--edns-size", "100"], "--edns-size"),
    (["--edns-size", "5000"], "--edns-size"),
    (["--weight-scale", "0"], "--weight-scale"),
    (["--weight-scale", "257"], "--weight-scale"),
    (["--log-level", "loud"], "--log-level"),
    (["--consistency", "strong"], "--consistency"),
    (["--tcp-idle-timeout", "x"], "--tcp-idle-timeout"),
    (["--wait", "forever"], "--wait"),
    (["--consul", "ftp://127.0.0.1:8500"], "--consul"),
    (["--zone", "bad..zone"], "--zone"),
    (["--max-watches", "many"], "--max-watches"),
    (["--ttl"], "--ttl"),
])
def test_usage_error(args, flag):
    p = run_srvshimd("--listen", "127.0.0.1:%d" % conftest.free_port(), *args)
    assert p.returncode == 2, "%s: exit %s\n%s" % (args, p.returncode, p.stderr)
    assert flag in p.stderr, "%s: message does not name %s: %r" % (
        args, flag, p.stderr)


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help(flag):
    p = run_srvshimd(flag)
    assert p.returncode == 0, p.stderr
    out = p.stdout + p.stderr
    for f in ("--listen", "--zone", "--consul", "--ttl", "--edns-size"):
        assert f in out, "%s missing from --help" % f


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version(flag):
    p = run_srvshimd(flag)
    assert p.returncode == 0, p.stderr
    assert "0.1.0" in p.stdout + p.stderr


def test_bind_in_use(consul_agent):
    port = conftest.free_port()
    holder_u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder_t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder_u.bind(("127.0.0.1", port))
        holder_t.bind(("127.0.0.1", port))
        holder_t.listen(1)
        p = run_srvshimd("--listen", "127.0.0.1:%d" % port,
                         "--consul", consul_agent.http_addr, timeout=20)
    finally:
        holder_u.close()
        holder_t.close()
    assert p.returncode == 1, "exit %s: %s" % (p.returncode, p.stderr)
    assert "--listen" in p.stderr, p.stderr
    assert str(port) in p.stderr, p.stderr


def test_bind_address_not_here(consul_agent):
    # 192.0.2.1 (TEST-NET-1) is on no interface here: bind fails, no traffic
    p = run_srvshimd("--listen", "192.0.2.1:%d" % conftest.free_port(),
                     "--consul", consul_agent.http_addr, timeout=20)
    assert p.returncode == 1, "exit %s: %s" % (p.returncode, p.stderr)
    assert "--listen" in p.stderr, p.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_clean_exit(new_srvshimd, sig):
    d = new_srvshimd()
    assert d.stop(sig) == 0, d.log_tail()


def test_ttl_and_service_ttl(consul, new_srvshimd, uniq):
    a, b = uniq("ttla"), uniq("ttlb")
    consul.register(a + "-0", a, "127.0.11.1", 9500)
    consul.register(b + "-0", b, "127.0.11.2", 9501)
    d = new_srvshimd("--ttl", "30", "--service-ttl", "%s=2m" % b.upper(),
                     "--service-ttl", "nosuch=1h")
    poll(lambda: addrs(d.q(a, "A")) and addrs(d.q(b, "A")), what="both")
    assert d.q(a, "A").answer[0].ttl == 30
    assert d.q(b, "A").answer[0].ttl == 120
    r = d.q(b, "SRV")
    assert {x.ttl for x in r.answer} == {120}
    assert {x.ttl for x in r.additional} == {120}, describe(r)
    assert d.q("_%s._tcp" % b, "SRV").answer[0].ttl == 120
    assert d.q("_%s._tcp" % a, "SRV").answer[0].ttl == 30
    neg = d.q(b, "AAAA")
    assert neg.rcode() == dns.rcode.NOERROR and neg.authority[0].ttl == 5
    assert d.q("nosuchservice-zz", "A").authority[0].ttl == 5


@pytest.mark.parametrize("value,seconds", [("1h", 3600), ("90s", 90),
                                           ("7", 7)])
def test_ttl_durations(consul, new_srvshimd, uniq, value, seconds):
    a = uniq("dur")
    consul.register(a + "-0", a, "127.0.11.3", 9502)
    d = new_srvshimd("--ttl", value)
    poll(lambda: addrs(d.q(a, "A")), what="registered")
    assert d.q(a, "A").answer[0].ttl == seconds


def test_zone_other(consul, new_srvshimd, uniq):
    a = uniq("zone")
    consul.register(a + "-0", a, "127.0.11.4", 9503, tags=["blue"])
    d = new_srvshimd(zone="other.test")
    poll(lambda: addrs(d.q(a, "A")) == ["127.0.11.4"], what="in other.test")
    r = d.q(a + ".other.test.", "A")
    assert r.flags & dns.flags.AA and addrs(r) == ["127.0.11.4"]
    r = d.q("_%s._tcp.other.test." % a, "SRV")
    assert [x.target.to_text() for x in rrs(r, "SRV")] == \
        ["7f000b04.addr.other.test."]
    assert addrs(d.q("blue.%s.other.test." % a, "A")) == ["127.0.11.4"]
    soa = d.q("other.test.", "SOA")
    assert soa.answer[0].name == dns.name.from_text("other.test.")
    r = d.q(a + ".service.local.", "A")
    assert r.rcode() == dns.rcode.REFUSED, describe(r)
    r = d.q("nosuchservice-zz.other.test.", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert r.authority[0].name == dns.name.from_text("other.test.")


@pytest.mark.parametrize("size", [512, 1400, 4096])
def test_edns_size_advertised(new_srvshimd, size):
    d = new_srvshimd("--edns-size", str(size))
    r = d.q("@", "SOA", edns=0, payload=4096)
    assert r.edns == 0 and r.payload == size, describe(r)


def test_workers_one(new_srvshimd):
    d = new_srvshimd("--workers", "1")
    for i in range(1, 20):
        assert addrs(d.q("7f0009%02x.addr" % i, "A")) == ["127.0.9.%d" % i]

