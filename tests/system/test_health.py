# SPDX-License-Identifier: MIT
"""test_health.py -- which instances are served, followed live from Consul.

Checks (each change is awaited by polling the answer, never by sleeping):
- passing instances answered; a failing check removes one, passing it again
  brings it back
- warning counts as healthy by default; with --only-passing it does not
- all instances critical: NOERROR/NODATA (name still exists), not NXDOMAIN
- deregistering every instance: NXDOMAIN
- service maintenance mode removes the instance, disabling brings it back
- a critical node-level check removes the node's instances; an instance
  without Service.Address is served at its node's address
- SRV weights: Weights.Passing for passing, Weights.Warning for warning,
  default 1, times --weight-scale; a failed instance leaves SRV and its glue
- an instance with several checks is healthy only while none is critical
- with --max-watches 1 (fewer watches than services) every service is still
  answered and health changes in each are still followed
"""

import dns.rcode
import pytest

from dnsutil import addrs, describe, poll, rrs


def wait_addrs(srv, name, want, rdtype="A"):
    want = sorted(want)

    def check():
        r = srv.q(name, rdtype)
        return r if r.rcode() == dns.rcode.NOERROR and \
            addrs(r, rdtype) == want else None
    return poll(check, what="%s %s == %s" % (name, rdtype, want))


def wait_rcode(srv, name, rcode, rdtype="A"):
    def check():
        r = srv.q(name, rdtype)
        return r if r.rcode() == rcode and not r.answer else None
    return poll(check, what="%s %s -> %s, empty" % (name, rdtype,
                                                  dns.rcode.to_text(rcode)))


def weights(srv, name):
    """{port: weight} of the SRV answer."""
    return {x.port: x.weight for x in rrs(srv.q(name, "SRV"), "SRV")}


def wait_weights(srv, name, want):
    return poll(lambda: weights(srv, name) == want,
                what="%s SRV weights == %s" % (name, want))


@pytest.fixture
def pair(consul, srv, uniq):
    name = uniq("hc")
    consul.register(name + "-a", name, "127.0.1.1", 8001)
    consul.register(name + "-b", name, "127.0.1.2", 8002)
    wait_addrs(srv, name, ["127.0.1.1", "127.0.1.2"])
    return name


def test_fail_and_pass_again(consul, srv, pair):
    consul.critical(pair + "-b")
    wait_addrs(srv, pair, ["127.0.1.1"])
    r = srv.q(pair, "SRV")
    assert [x.port for x in rrs(r, "SRV")] == [8001], describe(r)
    assert addrs(r, "A", "additional") == ["127.0.1.1"]
    consul.passing(pair + "-b")
    wait_addrs(srv, pair, ["127.0.1.1", "127.0.1.2"])


def test_warning_is_healthy_by_default(consul, srv, uniq):
    name = uniq("warn")
    consul.register(name + "-a", name, "127.0.1.11", 8011,
                    weights={"Passing": 5, "Warning": 3})
    consul.register(name + "-b", name, "127.0.1.12", 8012)
    wait_addrs(srv, name, ["127.0.1.11", "127.0.1.12"])
    consul.warning(name + "-a")
    # the warning weight shows the change was seen; the instance stays
    wait_weights(srv, name, {8011: 3, 8012: 1})
    assert addrs(srv.q(name, "A")) == ["127.0.1.11", "127.0.1.12"]


def test_only_passing_drops_warning(consul, new_srvshimd, pair):
    d = new_srvshimd("--only-passing")
    wait_addrs(d, pair, ["127.0.1.1", "127.0.1.2"])
    consul.warning(pair + "-a")
    wait_addrs(d, pair, ["127.0.1.2"])
    consul.passing(pair + "-a")
    wait_addrs(d, pair, ["127.0.1.1", "127.0.1.2"])


def test_all_critical_is_nodata(consul, srv, pair):
    consul.critical(pair + "-a")
    consul.critical(pair + "-b")
    r = wait_rcode(srv, pair, dns.rcode.NOERROR)
    assert rrs(r, "SOA", "authority"), describe(r)
    for rdtype in ("SRV", "AAAA", "TXT"):
        r = srv.q(pair, rdtype)
        assert r.rcode() == dns.rcode.NOERROR and not r.answer, describe(r)


def test_deregister_is_nxdomain(consul, srv, pair):
    consul.deregister(pair + "-a")
    wait_addrs(srv, pair, ["127.0.1.2"])
    consul.deregister(pair + "-b")
    wait_rcode(srv, pair, dns.rcode.NXDOMAIN)
    r = srv.q("_%s._tcp" % pair, "SRV")
    assert r.rcode() == dns.rcode.NXDOMAIN, describe(r)


def test_maintenance(consul, srv, pair):
    consul.maintenance(pair + "-a", True)
    wait_addrs(srv, pair, ["127.0.1.2"])
    consul.maintenance(pair + "-a", False)
    wait_addrs(srv, pair, ["127.0.1.1", "127.0.1.2"])


def test_node_check_critical(consul, srv, uniq):
    name = uniq("nodechk")
    node = uniq("node")
    # no Service.Address: the node's address is the instance's
    svc = {"ID": name + "-x", "Service": name, "Port": 8100}
    consul.catalog_node(node, "127.0.2.7", [svc], node_status="passing")
    consul.register(name + "-local", name, "127.0.2.1", 8101)
    wait_addrs(srv, name, ["127.0.2.1", "127.0.2.7"])
    r = srv.q(name, "SRV")
    assert {x.port for x in rrs(r, "SRV")} == {8100, 8101}
    consul.catalog_node(node, "127.0.2.7", [svc], node_status="critical")
    wait_addrs(srv, name, ["127.0.2.1"])
    consul.catalog_node(node, "127.0.2.7", [svc], node_status="passing")
    wait_addrs(srv, name, ["127.0.2.1", "127.0.2.7"])


def test_several_checks_any_critical(consul, srv, uniq):
    name = uniq("multi")
    sid = name + "-0"
    checks = [{"CheckID": "%s-c%d" % (sid, i), "Name": "c%d" % i,
               "TTL": "60m", "Status": "passing"} for i in (1, 2)]
    consul.register(sid, name, "127.0.3.1", 8200, checks=checks)
    wait_addrs(srv, name, ["127.0.3.1"])
    consul.api("PUT", "/v1/agent/check/fail/%s-c2" % sid)
    wait_rcode(srv, name, dns.rcode.NOERROR)
    consul.api("PUT", "/v1/agent/check/pass/%s-c2" % sid)
    wait_addrs(srv, name, ["127.0.3.1"])


def test_weights(consul, srv, uniq):
    name = uniq("wt")
    consul.register(name + "-0", name, "127.0.4.1", 8300,
                    weights={"Passing": 10, "Warning": 2})
    consul.register(name + "-1", name, "127.0.4.2", 8301)  # default weights
    wait_weights(srv, name, {8300: 10, 8301: 1})
    consul.warning(name + "-0")
    wait_weights(srv, name, {8300: 2, 8301: 1})
    consul.passing(name + "-0")
    wait_weights(srv, name, {8300: 10, 8301: 1})


def test_weight_scale(consul, new_srvshimd, uniq):
    name = uniq("wscale")
    consul.register(name + "-0", name, "127.0.4.11", 8400,
                    weights={"Passing": 10, "Warning": 2})
    consul.register(name + "-1", name, "127.0.4.12", 8401)
    d = new_srvshimd("--weight-scale", "3")
    wait_weights(d, name, {8400: 30, 8401: 3})
    consul.warning(name + "-0")
    wait_weights(d, name, {8400: 6, 8401: 3})


def test_new_service_appears(consul, srv, uniq):
    name = uniq("late")
    r = srv.q(name, "A")
    assert r.rcode() == dns.rcode.NXDOMAIN, describe(r)
    consul.register(name + "-0", name, "127.0.5.1", 8500)
    wait_addrs(srv, name, ["127.0.5.1"])


def test_registered_critical_then_passing(consul, srv, uniq):
    name = uniq("crit")
    consul.register(name + "-0", name, "127.0.5.2", 8501, status="critical")
    wait_rcode(srv, name, dns.rcode.NOERROR)
    consul.passing(name + "-0")
    wait_addrs(srv, name, ["127.0.5.2"])


def test_more_services_than_watches(consul, new_srvshimd, uniq):
    names = [uniq("mw") for _ in range(4)]
    for i, name in enumerate(names):
        consul.register(name + "-0", name, "127.0.12.%d" % (i + 1), 8600)
        consul.register(name + "-1", name, "127.0.13.%d" % (i + 1), 8601)
    d = new_srvshimd("--max-watches", "1")
    for i, name in enumerate(names):
        wait_addrs(d, name, ["127.0.12.%d" % (i + 1), "127.0.13.%d" % (i + 1)])
    for i, name in enumerate(names):
        consul.critical(name + "-1")
        wait_addrs(d, name, ["127.0.12.%d" % (i + 1)])
    consul.passing(names[2] + "-1")
    wait_addrs(d, names[2], ["127.0.12.3", "127.0.13.3"])
    consul.deregister(names[3] + "-0")
    consul.deregister(names[3] + "-1")
    wait_rcode(d, names[3], dns.rcode.NXDOMAIN)
