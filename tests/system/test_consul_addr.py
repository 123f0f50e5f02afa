# SPDX-License-Identifier: MIT
"""test_consul_addr.py -- the ways srvshimd is told where Consul is and how to read.

Each test uses its own Consul agent and srvshimd.
Checks:
- CONSUL_HTTP_ADDR (URL form) is used when --consul is absent
- --consul as host:port and http://host:port, winning over a wrong
  CONSUL_HTTP_ADDR
- --consul unix:///path reaches an agent listening on a Unix socket
- --datacenter dc1 and --consistency stale still sync and answer
- a short --wait (blocking queries returning often) changes nothing visible
"""

import os

import pytest

import conftest
from dnsutil import addrs, poll


def agent_with_svc(new_consul, name, ip, **kw):
    agent = new_consul(**kw)
    reg = conftest.Registrar(agent)
    reg.register(name + "-1", name, ip, 9100)
    return agent, reg


def wait_a(d, name, ip):
    poll(lambda: addrs(d.q(name, "A")) == [ip], timeout=15,
         what="%s A %s" % (name, ip))


def test_consul_env_address(new_consul, new_srvshimd):
    agent, _ = agent_with_svc(new_consul, "envsvc", "127.0.10.9")
    d = new_srvshimd(env={"CONSUL_HTTP_ADDR": "http://" + agent.http_addr},
                     use_consul_flag=False)
    wait_a(d, "envsvc", "127.0.10.9")


@pytest.mark.parametrize("form", ["http://%s", "%s"])
def test_consul_flag_forms(new_consul, new_srvshimd, form):
    agent, _ = agent_with_svc(new_consul, "flagsvc", "127.0.10.10")
    d = new_srvshimd(consul=form % agent.http_addr,
                     env={"CONSUL_HTTP_ADDR": "127.0.0.1:1"})
    wait_a(d, "flagsvc", "127.0.10.10")


def test_consul_unix_socket(new_consul, new_srvshimd, tmp_path):
    sock = os.path.join(str(tmp_path), "consul.sock")
    agent, _ = agent_with_svc(
        new_consul, "unixsvc", "127.0.10.11",
        extra=["-hcl", 'addresses { http = "127.0.0.1 unix://%s" }' % sock])
    d = new_srvshimd(consul="unix://" + sock)
    wait_a(d, "unixsvc", "127.0.10.11")


@pytest.mark.parametrize("flags", [["--datacenter", "dc1"],
                                   ["--consistency", "stale"],
                                   ["--consistency", "default"],
                                   ["--wait", "1s"]])
def test_read_flags(new_consul, new_srvshimd, flags):
    agent, reg = agent_with_svc(new_consul, "rdsvc", "127.0.10.12")
    d = new_srvshimd(*flags, consul=agent.http_addr)
    wait_a(d, "rdsvc", "127.0.10.12")
    reg.critical("rdsvc-1")
    poll(lambda: not d.q("rdsvc", "A").answer, what="change followed")
