# SPDX-License-Identifier: MIT
"""test_diagnostics.py -- the CHAOS-class diagnostic names, against real Consul.

Checks:
- version.bind, version.server: "srvshim <version>" (the one srvshimd
  --version prints), TXT class CH, AA, TTL 0; the same through `dig CH TXT`
- hostname.bind, id.server: the host name
- status.srvshim: Consul's address, connected, synced, last sync and its
  age, X-Consul-Index, services and instances (live: they move when a
  service is registered), watches and cap, errors; via dig too
- status.srvshim after the agent is killed: connected=no, errors grow and
  data-age is computed when asked (it grows between two queries)
- <svc>.services.srvshim: one record per instance Consul reported, the
  critical one with "served=no (critical)" and its check output, a
  warning one served, an unusable address named as the reason; with
  --only-passing the warning one is not served and says why; via dig too
- other qtypes on these names: NODATA; unknown CH names: REFUSED; an
  unknown service: NXDOMAIN; services.srvshim itself: NODATA
- --no-diagnostics: every CH name REFUSED, IN answers unchanged
"""

import re
import socket
import subprocess

import dns.flags
import dns.rcode
import dns.rdataclass
import dns.rdatatype

import conftest
from dnsutil import addrs, describe, poll


def ch(d, name, rdtype="TXT", **kw):
    return d.q(name if name.endswith(".") else name + ".", rdtype,
               rdclass="CH", **kw)


def txt_records(r):
    """[[str, ...] per TXT record], in the order sent."""
    out = []
    for rrset in r.answer:
        assert rrset.rdclass == dns.rdataclass.CH, describe(r)
        assert rrset.rdtype == dns.rdatatype.TXT, describe(r)
        assert rrset.ttl == 0
        for rd in rrset:
            out.append([s.decode() for s in rd.strings])
    return out


def kv(strings):
    return dict(s.split("=", 1) for s in strings)


def dig(d, name, *extra):
    p = subprocess.run(["dig", "+norec", "+time=2", "+tries=2", "@127.0.0.1",
                        "-p", str(d.port4), "CH", "TXT", name] + list(extra),
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def version_string():
    p = conftest.run_srvshimd("--version")
    assert p.returncode == 0
    return "srvshim " + p.stdout.split()[1]


# ---- version and host name ------------------------------------------------

def test_version_names(srv):
    want = version_string()
    for name in ("version.bind", "version.server", "VERSION.Bind"):
        r = ch(srv, name)
        assert r.rcode() == dns.rcode.NOERROR, describe(r)
        assert r.flags & dns.flags.AA
        assert txt_records(r) == [[want]], describe(r)
        out = dig(srv, name, "+short")
        assert out.strip() == '"%s"' % want


def test_hostname_names(srv):
    host = socket.gethostname()
    for name in ("hostname.bind", "id.server"):
        r = ch(srv, name)
        assert r.rcode() == dns.rcode.NOERROR, describe(r)
        assert txt_records(r) == [[host]], describe(r)
        assert dig(srv, name, "+short").strip() == '"%s"' % host


def test_ch_over_tcp_and_any(srv):
    r = ch(srv, "version.bind", tcp_=True)
    assert txt_records(r) == [[version_string()]]
    r = ch(srv, "version.bind", "ANY")
    assert txt_records(r) == [[version_string()]]


def test_other_types_nodata_unknown_names_refused(srv):
    for name in ("version.bind", "status.srvshim", "srvshim",
                 "services.srvshim"):
        r = ch(srv, name, "A")
        assert r.rcode() == dns.rcode.NOERROR and not r.answer, describe(r)
    for name in ("services.srvshim", "srvshim"):
        r = ch(srv, name)
        assert r.rcode() == dns.rcode.NOERROR and not r.answer, describe(r)
    for name in ("authors.bind", "foo.bind", "version.srvshim", "bind",
                 "status.srvshim.example", "web.service.local"):
        r = ch(srv, name)
        assert r.rcode() == dns.rcode.REFUSED, "%s: %s" % (name, describe(r))
        assert not r.answer
    r = ch(srv, "no-such-service-zz.services.srvshim")
    assert r.rcode() == dns.rcode.NXDOMAIN, describe(r)


# ---- status.srvshim -------------------------------------------------------

def status(d):
    r = ch(d, "status.srvshim")
    assert r.rcode() == dns.rcode.NOERROR, describe(r)
    recs = txt_records(r)
    assert len(recs) == 1, describe(r)
    return kv(recs[0])


def test_status_reports_consul_and_moves(srv, consul, consul_agent, uniq):
    st = status(srv)
    assert st["consul"] == consul_agent.http_addr
    assert st["connected"] == "yes" and st["synced"] == "yes"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", st["last-sync"])
    assert re.fullmatch(r"\d+\.\ds", st["last-sync-age"])
    assert st["data-age"] == "0.0s"
    assert int(st["index"]) > 0
    watches, cap = st["watches"].split("/")
    assert int(cap) == 64 and 1 <= int(watches) <= 64 + 2
    assert re.fullmatch(r"\d+", st["errors"])
    n_svc, n_inst = int(st["services"]), int(st["instances"])

    name = uniq("stat")
    consul.register_many(name, ["127.0.20.1", "127.0.20.2"])
    poll(lambda: addrs(srv.q(name, "A")) == ["127.0.20.1", "127.0.20.2"],
         what="new service answered")
    st = poll(lambda: (lambda s: s if int(s["services"]) == n_svc + 1
                       else None)(status(srv)), what="services counted")
    assert int(st["instances"]) == n_inst + 2
    assert int(st["index"]) > 0

    out = dig(srv, "status.srvshim")
    assert "status.srvshim." in out and "CH\tTXT" in out
    assert '"consul=%s"' % consul_agent.http_addr in out
    assert '"connected=yes"' in out


def test_status_after_consul_killed(new_consul, new_srvshimd):
    agent = new_consul()
    d = new_srvshimd(consul=agent.http_addr)
    st = status(d)
    assert st["connected"] == "yes" and st["data-age"] == "0.0s"
    errors = int(st["errors"])
    agent.kill()
    st = poll(lambda: (lambda s: s if s["connected"] == "no" else None)(
        status(d)), what="connected=no after the agent died")
    assert st["synced"] == "yes"
    first = float(st["data-age"].rstrip("s"))
    # the age is computed at query time: it grows between two queries
    st = poll(lambda: (lambda s: s if float(s["data-age"].rstrip("s")) >
                       first + 0.2 else None)(status(d)),
              what="data-age growing")
    assert int(st["errors"]) > errors
    assert float(st["last-sync-age"].rstrip("s")) >= 0.2


# ---- <svc>.services.srvshim -------------------------------------------------

def listing(d, name, tcp_=True):
    """(summary, {id: fields}); over TCP, or UDP with EDNS (512 bytes
    would truncate a few instances)."""
    kw = {} if tcp_ else {"edns": 0, "payload": 1232}
    r = ch(d, name + ".services.srvshim", tcp_=tcp_, **kw)
    assert r.rcode() == dns.rcode.NOERROR, describe(r)
    assert not r.flags & dns.flags.TC, describe(r)
    recs = txt_records(r)
    return kv(recs[0]), {kv(x)["id"]: kv(x) for x in recs[1:]}


def register_mixed(consul, name):
    consul.register(name + "-ok", name, "127.0.21.1", 8001, tags=["a", "b"],
                    weights={"Passing": 7, "Warning": 2})
    consul.register(name + "-warn", name, "127.0.21.2", 8002,
                    status="warning", weights={"Passing": 7, "Warning": 2})
    consul.register(name + "-down", name, "127.0.21.3", 8003)
    consul.api("PUT", "/v1/agent/check/fail/service:%s-down?note=disk%%20full"
               % name)
    consul.register(name + "-bad", name, "bad..address", 8004)


def test_service_listing_shows_every_instance_and_why(srv, consul, uniq):
    name = uniq("diag")
    register_mixed(consul, name)

    def ready():
        head, inst = listing(srv, name)
        down = inst.get(name + "-down", {})
        return (head, inst) if len(inst) == 4 and \
            down.get("health") == "critical" else None
    head, inst = poll(ready, what="4 instances listed, one critical")
    assert head == {"service": name, "instances": "4", "served": "2",
                    "ttl": "0"}
    ok = inst[name + "-ok"]
    assert ok["health"] == "passing" and ok["served"] == "yes"
    assert ok["address"] == "127.0.21.1" and ok["port"] == "8001"
    assert ok["tags"] == "a,b" and ok["weight"] == "7"
    assert ok["node"] == conftest.NODE
    warn = inst[name + "-warn"]
    assert warn["health"] == "warning" and warn["served"] == "yes"
    assert warn["weight"] == "2"
    down = inst[name + "-down"]
    assert down["served"] == "no (critical)"
    assert "disk full" in down["check"]
    assert down["address"] == "127.0.21.3" and down["port"] == "8003"
    bad = inst[name + "-bad"]
    assert bad["health"] == "passing"
    assert bad["served"].startswith("no (address")
    # the DNS side agrees: two addresses served
    assert addrs(srv.q(name, "A")) == ["127.0.21.1", "127.0.21.2"]
    # case-insensitive, UDP with EDNS too, and dig shows it
    head2, inst2 = listing(srv, name.upper(), tcp_=False)
    assert head2 == head and inst2 == inst
    out = dig(srv, name + ".services.srvshim")
    assert '"served=no (critical)"' in out and "disk full" in out


def test_only_passing_listing_says_why(consul, uniq, new_srvshimd):
    name = uniq("diagop")
    register_mixed(consul, name)
    d = new_srvshimd("--only-passing")

    def ready():
        _, inst = listing(d, name)
        return inst if len(inst) == 4 and \
            inst[name + "-down"]["health"] == "critical" else None
    inst = poll(ready, what="listing with --only-passing")
    assert inst[name + "-warn"]["served"] == "no (warning, and --only-passing)"
    assert inst[name + "-ok"]["served"] == "yes"
    assert addrs(d.q(name, "A")) == ["127.0.21.1"]


# ---- --no-diagnostics -------------------------------------------------------

def test_no_diagnostics_refuses_ch(consul, uniq, new_srvshimd):
    name = uniq("nodiag")
    consul.register(name + "-1", name, "127.0.22.1", 80)
    d = new_srvshimd("--no-diagnostics")
    for n in ("version.bind", "version.server", "hostname.bind", "id.server",
              "status.srvshim", name + ".services.srvshim"):
        r = ch(d, n)
        assert r.rcode() == dns.rcode.REFUSED, "%s: %s" % (n, describe(r))
        assert not r.answer
    assert "status: REFUSED" in dig(d, "version.bind")
    poll(lambda: addrs(d.q(name, "A")) == ["127.0.22.1"], what="IN answers")
