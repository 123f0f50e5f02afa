# SPDX-License-Identifier: MIT
"""test_clients.py -- the SRV clients in examples/clients/ against a Consul-fed srvshimd.

Each client (C with c-ares, Python with dnspython, Node.js's dns module, Perl
with Net::DNS, Java with JNDI, shell with dig +short) is run as a user would
run it; its output is compared with what was registered in Consul.

Checks, for every client:
- a service with three instances, one of them critical (an IPv4 and an IPv6
  instance healthy): the client prints exactly one "TARGET PORT ADDRESS" line
  per healthy instance, sorted, where TARGET is <hex>.addr.service.local of the
  instance's address, PORT its Consul port, and ADDRESS the address the client
  resolved for the target (A for IPv4, AAAA in RFC 5952 text for IPv6); the
  critical instance appears nowhere
- the same with the server given as ::1 and the <svc>.service.local SRV form
- a name that does not exist: exit status 1, nothing on stdout, the name on
  stderr
The C client is compiled and the Java client javac'd once per session, into a
temporary directory, with warnings as errors.
"""

import ipaddress
import os
import random
import shutil
import subprocess

import pytest

import conftest
from dnsutil import hex_label, poll, rrs

CLIENTS_DIR = os.path.join(conftest.REPO, "examples", "clients")
RUN_TIMEOUT = 60  # a hung client fails the test instead of hanging the run


def _tool(*names):
    for n in names:
        path = shutil.which(n)
        if path:
            return path
    pytest.fail("none of %s found in PATH (scripts/install-deps installs it)"
                % ", ".join(names))


def _compile(argv, what):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, "%s failed:\n%s\n%s" % (what, " ".join(argv),
                                                      p.stdout + p.stderr)


@pytest.fixture(scope="session")
def cares_bin(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("cares") / "srv_cares")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libcares"],
                           capture_output=True, text=True, timeout=30)
    assert flags.returncode == 0, "pkg-config libcares: " + flags.stderr
    _compile([_tool("cc", "gcc"), "-std=c11", "-Wall", "-Wextra",
              "-Wpedantic", "-Werror", "-o", out,
              os.path.join(CLIENTS_DIR, "srv_cares.c")] + flags.stdout.split(),
             "cc srv_cares.c")
    return out


@pytest.fixture(scope="session")
def java_classes(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("jndi"))
    _compile([_tool("javac"), "-Xlint:all", "-Werror", "-d", out,
              os.path.join(CLIENTS_DIR, "SrvJndi.java")], "javac SrvJndi.java")
    return out


def _argv(kind, request):
    """The command line that runs one client, minus its arguments."""
    src = lambda f: os.path.join(CLIENTS_DIR, f)  # noqa: E731
    if kind == "c-ares":
        return [request.getfixturevalue("cares_bin")]
    if kind == "dnspython":
        return ["/usr/bin/python3", src("srv_dnspython.py")]
    if kind == "node":
        return [_tool("node", "nodejs"), src("srv_node.js")]
    if kind == "perl":
        return [_tool("perl"), src("srv_perl.pl")]
    if kind == "jndi":
        return [_tool("java"), "-cp", request.getfixturevalue("java_classes"),
                "SrvJndi"]
    if kind == "dig":
        _tool("dig")
        return ["/bin/sh", src("srv_dig.sh")]
    raise AssertionError(kind)


CLIENTS = ["c-ares", "dnspython", "node", "perl", "jndi", "dig"]


@pytest.fixture(params=CLIENTS)
def client(request):
    """client(server, port, name) -> CompletedProcess of one client run."""
    argv = _argv(request.param, request)

    def run(server, port, name):
        return subprocess.run(argv + [server, str(port), name],
                              capture_output=True, text=True,
                              timeout=RUN_TIMEOUT, env=conftest._clean_env())
    run.kind = request.param
    return run


@pytest.fixture
def service(srv, consul, uniq):
    """A unique service: one IPv4 and one IPv6 instance passing, one IPv4
    instance critical. Returns (name, expected output lines, critical)."""
    name = uniq("data")
    net = random.randint(1, 254)
    # The IPv6 address has two zero runs: RFC 5952 text squashes the longer.
    healthy = [("127.66.%d.11" % net, 8081),
               ("fd00:0:0:%x::12" % net, 8082)]
    bad = ("127.66.%d.13" % net, 8083)
    for i, (addr, port) in enumerate(healthy):
        consul.register("%s-%d" % (name, i), name, addr, port)
    consul.register("%s-bad" % name, name, bad[0], bad[1], status="critical")
    want = sorted("%s.addr.%s %d %s" % (hex_label(a), srv.zone, p,
                                        ipaddress.ip_address(a))
                  for a, p in healthy)
    # Wait for srvshimd itself to show the two healthy instances.
    poll(lambda: sorted(r.port for r in rrs(srv.q(name, "SRV"), "SRV"))
         == [8081, 8082], what="%s SRV on srvshimd" % name)
    return name, want, bad


def _check_output(client, p, want, bad):
    where = "%s exited %s\nstdout:\n%s\nstderr:\n%s" % (
        client.kind, p.returncode, p.stdout, p.stderr)
    assert p.returncode == 0, where
    got = p.stdout.splitlines()
    assert got == want, where
    assert hex_label(bad[0]) not in p.stdout, where
    assert " %d " % bad[1] not in p.stdout, where


def test_client_srv_rfc2782_name(client, srv, service):
    name, want, bad = service
    p = client("127.0.0.1", srv.port4, "_%s._tcp.%s" % (name, srv.zone))
    _check_output(client, p, want, bad)


def test_client_srv_over_ipv6_plain_name(client, srv, service):
    name, want, bad = service
    p = client("::1", srv.port6, "%s.%s" % (name, srv.zone))
    _check_output(client, p, want, bad)


def test_client_nxdomain_fails(client, srv, uniq):
    name = "_%s._tcp.%s" % (uniq("absent"), srv.zone)
    p = client("127.0.0.1", srv.port4, name)
    assert p.returncode == 1, "%s exited %s\nstdout:\n%s\nstderr:\n%s" % (
        client.kind, p.returncode, p.stdout, p.stderr)
    assert p.stdout == ""
    assert name in p.stderr
