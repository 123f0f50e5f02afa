# SPDX-License-Identifier: MIT
"""test_haproxy.py -- examples/haproxy/haproxy.cfg with real HAProxy, Consul,
srvshimd and three real HTTP backends registered through the sidecar.

Checks:
- the example config passes `haproxy -c`; HAProxy fills its server-template
  slots from _<svc>._tcp SRV (one query: targets' A records are glue) and
  requests through it reach all three backends
- SIGTERM to one sidecar's COMMAND: the sidecar deregisters, the instance
  leaves srvshim's answers at once, HAProxy empties its slot and every later
  request is served by the two others, with no error
- SIGKILL to another sidecar: nothing deregisters; its TTL check goes
  critical, it leaves srvshim's answers and HAProxy's slots, and requests go
  only to the last backend (its backend process may well still be running)
- --weight-scale 256: Consul weights 3/2/1 become HAProxy weights 3/2/1;
  without it HAProxy sees 1/1/1 (it maps an SRV weight w to (w+255)/256)
"""

import pytest

import conftest
import lb
from dnsutil import poll, rrs

TTL = "2s"           # the sidecar's check TTL: SIGKILL shows within ~2s
DNS_WAIT = 5.0       # deadline for srvshim to show a Consul change
HAPROXY_WAIT = 8.0   # deadline for HAProxy to show a DNS change (asks every 1s)


def srv_ports(srv, svc):
    """Ports in srvshim's _svc._tcp SRV answer."""
    return sorted(r.port for r in rrs(srv.q("_%s._tcp" % svc, "SRV"), "SRV"))


@pytest.fixture
def stack(consul_agent, new_srvshimd, uniq, tmp_path):
    """srvshimd --weight-scale 256, HAProxy from the example (service name
    changed to a fresh one), and a list to put backends in (stopped at the
    end)."""
    svc = uniq("www")
    srv = new_srvshimd("--weight-scale", "256")
    hap = lb.HAProxy(tmp_path / "haproxy", srv.port4, subs=[
        ("_www._tcp.service.local", "_%s._tcp.service.local" % svc)])
    hap.start()
    backends = []
    yield svc, srv, hap, backends
    for b in backends:
        b.stop()
    hap.stop()


def test_haproxy_follows_deaths(consul_agent, stack, tmp_path):
    svc, srv, hap, backends = stack
    for i in range(3):
        backends.append(lb.Backend(tmp_path / "b", consul_agent.http_addr,
                                   svc, "b%d" % i, ttl=TTL).start())
    b0, b1, b2 = backends
    every = sorted(b.port for b in backends)
    poll(lambda: srv_ports(srv, svc) == every, DNS_WAIT, what="3 in DNS")
    poll(lambda: sorted(hap.active()) == sorted(b.hostport for b in backends),
         HAPROXY_WAIT, what="HAProxy has the 3 instances")
    seen = set()

    def all_three():
        seen.update(lb.spread("127.0.0.1", hap.port, 6))
        return seen >= {"b0", "b1", "b2"}
    poll(all_three, 5.0, what="requests reach b0, b1 and b2")
    assert "ERR" not in seen, seen

    # SIGTERM to b0's COMMAND: the sidecar deregisters as the backend exits.
    b0.term_command()
    poll(lambda: b0.port not in srv_ports(srv, svc), DNS_WAIT,
         what="b0 gone from srvshim's SRV answer")
    assert b0.proc.proc.wait(10) == 0, b0.proc.log_tail()
    assert b0.consul_ids(consul_agent) == []
    poll(lambda: b0.hostport not in hap.active(), HAPROXY_WAIT,
         what="HAProxy emptied b0's slot")
    got = lb.spread("127.0.0.1", hap.port, 30)
    assert set(got) == {"b1", "b2"}, got

    # SIGKILL to b1's sidecar: no deregistration; the TTL check expires.
    b1.kill_sidecar()
    sid = b1.consul_ids(consul_agent)
    assert len(sid) == 1, "b1 must still be registered: %r" % sid

    def critical():
        checks = consul_agent.api("GET", "/v1/health/checks/" + svc) or []
        return any(c["ServiceID"] == sid[0] and c["Status"] == "critical"
                   for c in checks)
    poll(critical, 10.0, what="b1's TTL check critical")
    poll(lambda: srv_ports(srv, svc) == [b2.port], DNS_WAIT,
         what="only b2 left in srvshim's SRV answer")
    poll(lambda: list(hap.active()) == [b2.hostport], HAPROXY_WAIT,
         what="HAProxy routes to b2 only")
    got = lb.spread("127.0.0.1", hap.port, 30)
    assert got == {"b2": 30}, got


def test_haproxy_weight_scale(consul, new_srvshimd, uniq, tmp_path):
    """Weights reach HAProxy only when scaled by 256. The instances are
    registered with Weights through the API and no backend listens: only
    the configured weights are compared, not health."""
    svc = uniq("www")
    ports = conftest.free_port(), conftest.free_port(), conftest.free_port()
    for i, (w, port) in enumerate(zip((3, 2, 1), ports)):
        consul.register("%s-%d" % (svc, i), svc, "127.0.0.1", port,
                        weights={"Passing": w, "Warning": 1})
    want = {"127.0.0.1:%d" % p: w for p, w in zip(ports, (3, 2, 1))}
    subs = [("_www._tcp.service.local", "_%s._tcp.service.local" % svc)]
    haps = []
    try:
        for scale, expect in (("256", want), ("1", dict.fromkeys(want, 1))):
            srv = new_srvshimd("--weight-scale", scale)
            hap = lb.HAProxy(tmp_path / ("haproxy" + scale), srv.port4,
                             subs=subs)
            haps.append(hap.start())

            def weights(hap=hap):
                return {"%s:%s" % (s["srv_addr"], s["srv_port"]):
                        int(s["srv_uweight"]) for s in hap.servers()
                        if s["srv_addr"] != "-"}
            poll(lambda: weights() == expect, HAPROXY_WAIT,
                 what="HAProxy weights %r with --weight-scale %s"
                 % (expect, scale))
    finally:
        for h in haps:
            h.stop()
