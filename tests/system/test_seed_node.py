# SPDX-License-Identifier: MIT
"""test_seed_node.py -- the seed's Node.js services (examples/seed/node)
against a real Consul and srvshimd.

Checks:
- package.json + package-lock.json install with `npm ci` (consul 0.x, pinned)
- two data.js instances register themselves in Consul (TTL check, passing)
  and show in srvshim's _data._tcp SRV answer
- www.js (Node's dns module asking srvshim) and www-consul.js (the talk's
  original Consul watch) both return answers from both data instances
- SIGINT to one data instance: it deregisters and exits 0, leaves srvshim's
  answer, and neither www sends to it any more
Uses a private Consul agent: the seed's service name `data` is fixed.
"""

import json
import os
import shutil
import signal
import subprocess

import pytest

import conftest
import lb
from dnsutil import poll, rrs

SRC = os.path.join(conftest.REPO, "examples", "seed", "node")


@pytest.fixture(scope="module")
def node_app(tmp_path_factory):
    """A copy of examples/seed/node with its pinned node_modules."""
    for tool in ("node", "npm"):
        if not shutil.which(tool):
            pytest.fail("%s not found (scripts/install-deps installs "
                        "nodejs and npm)" % tool)
    d = tmp_path_factory.mktemp("seed-node")
    for f in os.listdir(SRC):
        if f.endswith((".js", ".json")):
            shutil.copy(os.path.join(SRC, f), d)
    p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund",
                        "--prefer-offline"], cwd=d, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, "npm ci: %s" % (p.stdout + p.stderr)
    with open(d / "node_modules" / "consul" / "package.json") as f:
        assert json.load(f)["version"] == "0.40.0"
    return d


def node(workdir, app, script, name, env):
    p = conftest.Proc(workdir, name)
    full = dict(os.environ)
    full.update(env)
    p.spawn(["node", str(app / script)], env=conftest._clean_env(full))
    return p


def data_ids(port):
    """{id} of the data instances seen in 16 GETs through www on port."""
    seen = set()
    for _ in range(16):
        try:
            seen.add(json.loads(lb.http_get("127.0.0.1", port))["id"])
        except (OSError, ValueError):
            seen.add("ERR")
    return seen


def test_seed_node(node_app, new_consul, new_srvshimd, tmp_path):
    agent = new_consul()
    srv = new_srvshimd(consul=agent.http_addr)
    procs = []
    try:
        ports = [conftest.free_port(), conftest.free_port()]
        data = [node(tmp_path, node_app, "data.js", "data%d" % i,
                     {"CONSUL_HTTP_ADDR": agent.http_addr,
                      "ADDRESS": "127.0.0.1", "PORT": str(p)})
                for i, p in enumerate(ports)]
        procs += data

        def registered():
            svcs = agent.api("GET", "/v1/health/service/data?passing=1")
            return {s["Service"]["Port"]: s["Service"]["ID"]
                    for s in svcs} if len(svcs) == 2 else None
        ids = poll(registered, 10.0, what="two data instances passing")
        assert sorted(ids) == sorted(ports)
        assert all(i.startswith("data-") for i in ids.values())
        poll(lambda: sorted(r.port for r in
                            rrs(srv.q("_data._tcp", "SRV"), "SRV")) ==
             sorted(ports), 5.0, what="both in srvshim's SRV answer")

        www_port, wwwc_port = conftest.free_port(), conftest.free_port()
        procs.append(node(tmp_path, node_app, "www.js", "www",
                          {"SRVSHIM": "127.0.0.1:%d" % srv.port4,
                           "PORT": str(www_port)}))
        procs.append(node(tmp_path, node_app, "www-consul.js", "www-consul",
                          {"CONSUL_HTTP_ADDR": agent.http_addr,
                           "PORT": str(wwwc_port)}))
        both = set(ids.values())
        for port in (www_port, wwwc_port):
            # Listening, and (www-consul) its watch has fired once.
            poll(lambda port=port: lb.http_get("127.0.0.1", port), 10.0,
                 what="www on %d answering" % port)
            seen = set()

            def saw_both(port=port, seen=seen):
                seen.update(data_ids(port))
                return seen >= both
            poll(saw_both, 10.0, what="www on %d returns both" % port)
            assert seen == both, seen

        gone_port = ports[0]
        data[0].proc.send_signal(signal.SIGINT)
        assert data[0].proc.wait(10) == 0, data[0].log_tail()
        assert ids[gone_port] not in (agent.api("GET", "/v1/agent/services")
                                      or {})
        poll(lambda: [r.port for r in rrs(srv.q("_data._tcp", "SRV"),
                                          "SRV")] == [ports[1]],
             5.0, what="the SIGINTed instance gone from srvshim")
        for port in (www_port, wwwc_port):
            poll(lambda port=port: data_ids(port) == {ids[ports[1]]}, 5.0,
                 what="www on %d uses only the live instance" % port)
    finally:
        for p in procs:
            p.stop()
