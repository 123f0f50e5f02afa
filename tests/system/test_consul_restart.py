# SPDX-License-Identifier: MIT
"""test_consul_restart.py -- a Consul server restarted with its data.

`consul agent -dev` keeps nothing, so this uses one real server agent
(-server, bootstrap_expect 1, a data dir: consul_servers.Agent).
Checks:
- the agent killed (SIGKILL) and restarted on the same ports with the same
  data dir: while a thread queries srvshimd continuously (every 10 ms),
  every answer during the outage, the restart, the election and after is
  the registered set: never SERVFAIL, never NXDOMAIN, never empty, never a
  timeout (a restarting server that has not replayed its log yet must not
  make srvshimd drop anything);
- after the restart srvshimd converges: a registration made then shows,
  and the outage was logged once ("unreachable") and its end once.
(The restart with empty data is test_consul_outage.py's.)"""

import re

import conftest
from consul_servers import Agent, Querier
from dnsutil import addrs, poll


def test_restart_same_data_answers_never_stop(tmp_path, new_srvshimd, uniq):
    ports = {k: conftest.free_port() for k in
             ("http", "serf_lan", "serf_wan", "server")}
    a = Agent(tmp_path / "s1", "s1", "127.0.0.1", ports).start()
    try:
        a.wait_leader()
        reg = conftest.Registrar(a)
        name = uniq("rst")
        want = ["127.0.22.1", "127.0.22.2"]
        # No TTL checks: Consul 1.8 brings an agent's TTL checks back
        # critical after a restart (its truth, which srvshimd follows);
        # instances without checks are healthy and persisted.
        reg.register(name + "-1", name, want[0], 8001, status=None)
        reg.register(name + "-2", name, want[1], 8002, status=None)
        d = new_srvshimd("--wait", "2s", consul=a.http_addr, timeout=30)
        poll(lambda: addrs(d.q(name, "A")) == want, what="answered")
        q = Querier(d, name, [want])
        q.start()
        a.kill()
        poll(lambda: "unreachable" in d.log_text(), what="outage seen")
        # same ports, same data dir: raft replays the registrations
        a2 = Agent(tmp_path / "s1", "s1", "127.0.0.1", ports,
                   data_dir=a.data_dir).start()
        a = a2
        a.wait_leader()
        poll(lambda: re.search(r"watch: consul .*, recovered", d.log_text()),
             timeout=30, what="srvshimd recovered")
        reg = conftest.Registrar(a)
        more = want + ["127.0.22.3"]
        q.accept.append(more)
        reg.register(name + "-3", name, more[2], 8003, status=None)
        poll(lambda: addrs(d.q(name, "A")) == more, timeout=30,
             what="registration after the restart")
        q.stop_clean()
        log = d.log_text()
        assert len(re.findall(r"watch: consul .*, unreachable", log)) == 1
        assert len(re.findall(r"watch: consul .*, recovered", log)) == 1
    finally:
        a.stop()
