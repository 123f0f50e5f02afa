# SPDX-License-Identifier: MIT
"""test_consul_outage.py -- Consul going away, coming back empty, never there.

Each test uses its own Consul agent (function scope) and its own srvshimd.
Checks:
- before the first complete sync (nothing listens at the Consul address):
  in-zone queries get SERVFAIL, never NXDOMAIN; out-of-zone stays REFUSED;
  once Consul starts there, the first sync happens and answers appear
- Consul killed (SIGKILL): answers go on from the last good snapshot, for
  services, tags, SRV and negative answers alike
- Consul restarted with empty state on the same ports: srvshimd converges,
  the service goes (NXDOMAIN), re-registered it comes back, and the SOA
  serial keeps increasing across the restart
"""

import time

import dns.rcode

import conftest
from dnsutil import addrs, describe, poll, rrs


def register_web(reg):
    reg.register("web-1", "web", "127.0.10.1", 8080, tags=["blue"])
    reg.register("web-2", "web", "127.0.10.2", 8081)


def test_servfail_before_first_sync(new_consul, new_srvshimd):
    # reserve the agent's ports, but start nothing there yet
    agent = new_consul(start=False)
    d = new_srvshimd(consul=agent.http_addr, wait="answering")
    for name, rdtype in (("@", "SOA"), ("web", "A"), ("nosuchservice-zz", "A"),
                         ("7f00000b.addr", "A"), ("_web._tcp", "SRV")):
        r = d.q(name, rdtype)
        assert r.rcode() == dns.rcode.SERVFAIL, \
            "%s %s before sync: %s" % (name, rdtype, describe(r))
    r = d.q("example.com.", "A")
    assert r.rcode() == dns.rcode.REFUSED, describe(r)
    r = d.q("web", "A", tcp_=True)
    assert r.rcode() == dns.rcode.SERVFAIL
    # now Consul appears: the first sync comes (retries with backoff)
    agent.start()
    reg = conftest.Registrar(agent)
    register_web(reg)
    d.wait_synced(timeout=60)
    poll(lambda: addrs(d.q("web", "A")) == ["127.0.10.1", "127.0.10.2"],
         timeout=30, what="web answered after first sync")


def test_consul_killed_keeps_answers(new_consul, new_srvshimd):
    agent = new_consul()
    reg = conftest.Registrar(agent)
    register_web(reg)
    d = new_srvshimd(consul=agent.http_addr)
    poll(lambda: addrs(d.q("web", "A")) == ["127.0.10.1", "127.0.10.2"],
         what="web answered")
    serial = d.serial()
    agent.kill()
    deadline = time.monotonic() + 3
    n = 0
    while time.monotonic() < deadline or n < 20:
        n += 1
        assert addrs(d.q("web", "A")) == ["127.0.10.1", "127.0.10.2"]
        assert len(rrs(d.q("_web._tcp", "SRV"), "SRV")) == 2
        assert addrs(d.q("blue.web", "A")) == ["127.0.10.1"]
        r = d.q("nosuchservice-zz", "A")
        assert r.rcode() == dns.rcode.NXDOMAIN, describe(r)
        assert d.serial() == serial
    assert d.alive()


def test_consul_restarted_empty_converges(new_consul, new_srvshimd):
    agent = new_consul()
    reg = conftest.Registrar(agent)
    register_web(reg)
    reg.register("api-1", "api", "127.0.10.5", 9000)
    d = new_srvshimd(consul=agent.http_addr)
    poll(lambda: addrs(d.q("web", "A")) == ["127.0.10.1", "127.0.10.2"],
         what="web answered")
    poll(lambda: addrs(d.q("api", "A")) == ["127.0.10.5"], what="api")
    serial = d.serial()
    agent.kill()
    assert addrs(d.q("web", "A")) == ["127.0.10.1", "127.0.10.2"]

    # same ports, fresh in-memory state
    agent2 = new_consul(ports=agent.ports, name="consul-restarted")
    poll(lambda: d.q("web", "A").rcode() == dns.rcode.NXDOMAIN,
         timeout=60, what="web gone after empty restart")
    assert d.q("api", "A").rcode() == dns.rcode.NXDOMAIN
    assert d.q("@", "SOA").rcode() == dns.rcode.NOERROR
    assert d.serial() > serial, "SOA serial must keep increasing"

    reg2 = conftest.Registrar(agent2)
    reg2.register("web-3", "web", "127.0.10.3", 8082)
    poll(lambda: addrs(d.q("web", "A")) == ["127.0.10.3"], timeout=30,
         what="re-registered web back")
    # health changes are followed again after the restart
    reg2.critical("web-3")
    poll(lambda: d.q("web", "A").rcode() == dns.rcode.NOERROR and
         not d.q("web", "A").answer, what="web-3 critical")

