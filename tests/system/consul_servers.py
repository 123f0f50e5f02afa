# SPDX-License-Identifier: MIT
"""consul_servers.py -- non-dev Consul agents: servers with a data dir, clients.

Owns:  writing one agent's JSON config (ports, addresses, retry_join, the
       data dir, raft_multiplier 1 for fast elections on loopback), starting
       it with conftest.Proc (stopped by PID), finding the leader, and a
       Querier thread that asks srvshimd continuously and records every
       answer that is not the expected one.
Never: dev agents (conftest.Consul) or srvshimd itself (conftest.Srvshimd).

`consul agent -dev` keeps nothing on disk, so a restart "with the same data"
and a cluster with a leader to kill need real server agents. Every address
in 127.0.0.0/8 is loopback on Linux, so three servers use 127.0.0.2-4 with
the same ports on each."""

import json
import os
import threading
import time

import dns.exception
import dns.rcode

import conftest
from dnsutil import addrs, poll


class Agent(conftest.Proc):
    """One `consul agent -config-file` on addr. server=False makes a client
    agent (no data kept but its own state)."""

    def __init__(self, workdir, name, addr, ports, server=True,
                 bootstrap_expect=1, join=(), data_dir=None):
        super().__init__(workdir, name)
        self.addr = addr
        self.ports = dict(ports)
        self.server = server
        self.http_addr = "%s:%d" % (addr, ports["http"])
        self.url = "http://" + self.http_addr
        self.data_dir = data_dir or os.path.join(self.workdir, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        cfg = {
            "node_name": name, "datacenter": "dc1",
            "data_dir": self.data_dir,
            "bind_addr": addr, "client_addr": addr, "advertise_addr": addr,
            "ports": {"http": ports["http"], "dns": -1, "grpc": -1,
                      "serf_lan": ports["serf_lan"],
                      "serf_wan": ports["serf_wan"],
                      "server": ports["server"]},
            "server": server, "log_level": "warn",
            "disable_update_check": True, "leave_on_terminate": False,
            "performance": {"raft_multiplier": 1,
                            "rpc_hold_timeout": "3s"},
            "retry_join": list(join), "retry_interval": "1s",
        }
        if server:
            cfg["bootstrap_expect"] = bootstrap_expect
        self.config_path = os.path.join(self.workdir, name + ".json")
        with open(self.config_path, "w") as f:
            json.dump(cfg, f, indent=1)

    def start(self):
        self.spawn([conftest.consul_path(), "agent",
                    "-config-file", self.config_path],
                   env=conftest._clean_env())
        return self

    api_headers = conftest.Consul.api_headers

    def api(self, method, path, body=None, timeout=10):
        return conftest.Consul.api(self, method, path, body, timeout)

    def leader(self):
        """The leader's server address (addr:port) as this agent sees it,
        or "" when there is none or the agent does not answer."""
        try:
            return self.api("GET", "/v1/status/leader", timeout=2) or ""
        except OSError:
            return ""

    def wait_leader(self, timeout=60, not_=None):
        return poll(lambda: self.leader() not in ("", not_) and
                    self.leader(), timeout=timeout, interval=0.1,
                    what="%s sees a leader" % self.name)

    def wait_member_count(self, n, timeout=60):
        def alive():
            try:
                ms = self.api("GET", "/v1/agent/members", timeout=2)
            except OSError:
                return False
            return sum(1 for m in ms if m.get("Status") == 1) >= n
        poll(alive, timeout=timeout, interval=0.1,
             what="%s sees %d members" % (self.name, n))


class Querier(threading.Thread):
    """Asks srvshimd `name` A every `interval` s until stop(); counts
    replies and records every one that is not NOERROR with one of the
    address lists in `accept` (timeouts too). The test may add to accept
    while it runs (a registration that is about to show)."""

    def __init__(self, d, name, accept, interval=0.01):
        super().__init__(daemon=True)
        self.d, self.name, self.interval = d, name, interval
        self.accept = list(accept)
        self.count = 0
        self.bad = []
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            try:
                r = self.d.q(self.name, "A", timeout=1.0)
                got = (r.rcode(), addrs(r))
            except (dns.exception.Timeout, OSError) as e:
                got = ("timeout", repr(e))
            if got[0] != dns.rcode.NOERROR or got[1] not in self.accept:
                self.bad.append((time.monotonic(), got))
            self.count += 1
            time.sleep(self.interval)

    def stop(self):
        self.halt.set()
        self.join(5)
        return self.count, self.bad

    def stop_clean(self, least=100):
        """stop(), then asserts the querier ran (more than `least`
        answers) and that no answer was wrong."""
        count, bad = self.stop()
        assert count > least, "the querier hardly ran (%d)" % count
        assert not bad, "%d of %d answers wrong, first: %r" \
            % (len(bad), count, bad[:5])
