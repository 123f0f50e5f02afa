# SPDX-License-Identifier: MIT
"""test_seed.py -- examples/seed: the seed's services in C, end to end.

Each test has its own Consul agent and srvshimd: the seed's service names
(`data`, `www`) are fixed and must not meet other tests' instances.
Checks:
- in-process registration: two service-data instances register themselves
  (uuid IDs, TTL check); service-www finds one through srvshim (c-ares SRV)
  on every request and fetches from it (libcurl), reaching both over a few
  requests; SIGINT to one deregisters it and www only reaches the other
- the sidecar pair: service-data-plain (no Consul code) and service-www
  both run under `srvshim register`; www (found itself with `srvshim
  lookup`) reaches data; data's sidecar stopped, www answers 503
- the line counts in examples/seed/README.md are the files' real ones
"""

import os
import re
import signal

import conftest
from dnsutil import poll
from toolutil import (Sidecar, health, http_get, lookup, seed_path)

SEED_SRC = os.path.join(conftest.REPO, "examples", "seed")


class Service(conftest.Proc):
    pass


def start(tmp_path, name, argv, env=None):
    p = Service(tmp_path / name, name)
    p.spawn([str(a) for a in argv], env=conftest._clean_env(env))
    return p


def www_answers(port):
    status, body = http_get("http://127.0.0.1:%d/" % port)
    return body if status == 200 else None


def test_in_process_seed_pair(new_consul, new_srvshimd, tmp_path):
    agent = new_consul()
    d = new_srvshimd(consul=agent.http_addr)
    env = {"CONSUL_HTTP_ADDR": agent.http_addr}
    p1, p2, pw = (conftest.free_port() for _ in range(3))
    procs = []
    try:
        data1 = start(tmp_path, "data1", [seed_path("service-data"), "-p",
                                          p1], env)
        data2 = start(tmp_path, "data2", [seed_path("service-data"), "-p",
                                          p2], env)
        www = start(tmp_path, "www", [seed_path("service-www"), "-p", pw,
                                      "-s", "127.0.0.1:%d" % d.port4])
        procs = [data1, data2, www]
        entries = poll(lambda: len(health(agent, "data")) == 2 and
                       health(agent, "data"), what="two data instances")
        ids = {e["Service"]["ID"] for e in entries}
        assert all(re.fullmatch(r"data-[0-9a-f-]{36}", i) for i in ids), ids
        assert all(c["Status"] == "passing" for e in entries
                   for c in e["Checks"])

        seen = set()

        def both():
            body = www_answers(pw)
            m = body and re.fullmatch(r"www -> data from (data-\S+) port "
                                      r"(\d+)\n", body)
            if m:
                seen.add((m.group(1), int(m.group(2))))
            return {p for _, p in seen} == {p1, p2}
        poll(both, timeout=20, interval=0.01, what="www reached both")
        assert {i for i, _ in seen} == ids

        assert data1.stop(signal.SIGINT) == 0
        poll(lambda: len(health(agent, "data")) == 1, what="data1 gone")
        for _ in range(10):
            body = poll(lambda: www_answers(pw), what="www answer")
            assert body.endswith("port %d\n" % p2), body
    finally:
        for p in procs:
            p.stop()


def test_sidecar_seed_pair(new_consul, new_srvshimd, tmp_path):
    agent = new_consul()
    d = new_srvshimd(consul=agent.http_addr)
    pd, pw = conftest.free_port(), conftest.free_port()
    data = Sidecar(tmp_path / "data", "data-sidecar").start(
        agent.http_addr,
        ["--name", "data", "--port", pd, "--address", "127.0.0.1",
         "--check-http", "http://127.0.0.1:%d/health" % pd],
        [seed_path("service-data-plain"), "-p", pd])
    www = Sidecar(tmp_path / "www", "www-sidecar").start(
        agent.http_addr,
        ["--name", "www", "--port", pw, "--address", "127.0.0.1",
         "--check-tcp", "127.0.0.1:%d" % pw],
        [seed_path("service-www"), "-p", pw, "-s",
         "127.0.0.1:%d" % d.port4])
    try:
        # www is itself found through srvshim
        url = poll(lambda: lookup(d, "--url", "http", "www").stdout.strip(),
                   timeout=20, what="www discoverable")
        assert url == "http://127.0.0.1:%d/" % pw
        body = poll(lambda: www_answers(pw), timeout=20, what="www -> data")
        assert re.fullmatch(r"www -> data from port %d \(pid \d+\)\n" % pd,
                            body), body

        assert data.stop() == 0
        assert health(agent, "data") == []
        # srvshimd follows within milliseconds; then www finds no instance
        status, body = poll(lambda: (lambda r: r[0] == 503 and
                                     "no _data._tcp" in r[1] and r)(
                                         http_get(url)),
                            what="www: no data instance")
        assert body.startswith("www: no _data._tcp.service.local instance"), \
            body
    finally:
        data.stop()
        www.stop()


def test_readme_line_counts_are_true():
    with open(os.path.join(SEED_SRC, "README.md")) as f:
        text = f.read()
    rows = re.findall(r"^\| `(service-[a-z-]+\.c)` \| (\d+) \|", text, re.M)
    assert {r[0] for r in rows} == {"service-data.c", "service-data-plain.c",
                                    "service-www.c"}, rows
    for fname, claimed in rows:
        with open(os.path.join(SEED_SRC, fname)) as f:
            actual = sum(1 for _ in f)
        assert int(claimed) == actual, "%s: README says %s, file has %d" % (
            fname, claimed, actual)
