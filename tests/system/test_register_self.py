# SPDX-License-Identifier: MIT
"""test_register_self.py -- srvshimd --register-self NAME.

Checks:
- srvshimd registers itself as NAME (ID NAME-<uuid v4>) with the address
  and port of its first --listen and meta srvshim_version / srvshim_zone;
  its TTL check passes with a note about the watch; it answers for itself
  in DNS (NAME A and SRV)
- when its Consul watch fails (a proxy fails the watch's reads while the
  agent API still works), the check turns critical with the reason, and
  passes again when the watch recovers
- SIGTERM: deregistered before exit
"""

import re

from dnsutil import poll, rrs
from toolutil import ConsulProxy, agent_checks, health

UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def self_check(agent, name):
    for cid, c in agent_checks(agent).items():
        if c["ServiceName"] == name:
            return c
    return None


def test_register_self_in_dns_and_deregistered_at_stop(consul_agent,
                                                       new_srvshimd, uniq):
    name = uniq("ns")
    d = new_srvshimd("--register-self", name)
    e = poll(lambda: health(consul_agent, name), what="srvshimd registered")
    svc = e[0]["Service"]
    assert re.fullmatch(re.escape(name) + "-" + UUID4, svc["ID"]), svc["ID"]
    assert svc["Address"] == "127.0.0.1" and svc["Port"] == d.port4
    assert svc["Meta"]["srvshim_zone"] == "service.local"
    assert svc["Meta"]["srvshim_version"]
    c = poll(lambda: (self_check(consul_agent, name) or {}).get("Output",
                                                             "").startswith(
        "srvshimd: consul watch synced") and self_check(consul_agent, name),
             what="self check output")
    assert c["Status"] == "passing", c
    assert c["Name"] == "srvshimd consul watch"

    # the daemon answers for itself
    srvs = poll(lambda: rrs(d.q("_%s._tcp" % name, "SRV"), "SRV"),
                what="own SRV")
    assert [s.port for s in srvs] == [d.port4]
    assert [a.address for a in rrs(d.q(name, "A"), "A")] == ["127.0.0.1"]

    assert d.stop() == 0
    assert health(consul_agent, name) == []
    assert "deregistered" in d.log_text()


def test_register_self_critical_while_watch_fails(consul_agent, new_srvshimd,
                                                  uniq):
    proxy = ConsulProxy(consul_agent)
    name = uniq("nsw")
    try:
        # --wait 1s: blocking queries come back through the proxy often
        d = new_srvshimd("--register-self", name, "--wait", "1s",
                         consul=proxy.http_addr)

        def status():
            c = self_check(consul_agent, name)
            return c and c["Status"]
        poll(lambda: status() == "passing", what="self check passing")

        proxy.break_reads = True
        poll(lambda: status() == "critical", timeout=15,
             what="self check critical while the watch fails")
        poll(lambda: "consul watch not connected" in
             self_check(consul_agent, name)["Output"], what="the reason")
        # the daemon itself keeps answering (from the last good data)
        assert d.alive()
        assert d.q("@", "SOA").answer

        proxy.break_reads = False
        poll(lambda: status() == "passing", timeout=40,
             what="self check passing again")
        assert d.stop() == 0
        assert health(consul_agent, name) == []
    finally:
        proxy.close()
