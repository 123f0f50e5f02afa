# SPDX-License-Identifier: MIT
"""test_examples.py -- examples/services/*.json work as scripts/quickstart uses them.

Checks:
- every example parses and registers with `consul services register`
- the queries quickstart prints answer as its README says: data A (three
  addresses), data SRV (weights 10/10/5, ports 8081-8083), _data._tcp SRV,
  primary.data A (one address), www A, data TXT (version=...)
"""

import glob
import json
import os
import subprocess

import pytest

import conftest
from dnsutil import addrs, poll, rrs

EXAMPLES = sorted(glob.glob(os.path.join(conftest.REPO, "examples",
                                         "services", "*.json")))


@pytest.fixture
def examples(consul_agent):
    assert EXAMPLES, "no examples/services/*.json"
    ids = []
    try:
        for path in EXAMPLES:
            with open(path) as f:
                ids.append(json.load(f)["service"]["id"])
            p = subprocess.run([conftest.consul_path(), "services", "register",
                                "-http-addr=" + consul_agent.http_addr, path],
                               capture_output=True, text=True, timeout=30)
            assert p.returncode == 0, "%s: %s" % (path, p.stdout + p.stderr)
        yield ids
    finally:
        for sid in ids:
            consul_agent.api("PUT", "/v1/agent/service/deregister/" + sid)


def test_examples_answer(srv, examples):
    assert set(examples) == {"data-1", "data-2", "data-3", "www-1"}
    want = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
    poll(lambda: addrs(srv.q("data", "A")) == want, what="data A")
    r = srv.q("data", "SRV")
    assert sorted((x.port, x.weight) for x in rrs(r, "SRV")) == \
        [(8081, 10), (8082, 10), (8083, 5)]
    assert len(rrs(srv.q("_data._tcp", "SRV"), "SRV")) == 3
    assert addrs(srv.q("primary.data", "A")) == ["127.0.0.11"]
    assert addrs(srv.q("v2.data", "A")) == ["127.0.0.13"]
    poll(lambda: addrs(srv.q("www", "A")) == ["127.0.0.21"], what="www A")
    txt = {s.decode() for t in rrs(srv.q("data", "TXT"), "TXT")
           for s in t.strings}
    assert txt == {"version=1.4.2", "version=1.5.0"}
