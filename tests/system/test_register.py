# SPDX-License-Identifier: MIT
"""test_register.py -- `srvshim register`, the sidecar, against real agents.

Checks:
- a wrapped COMMAND's instance is registered with ID <name>-<uuid v4>, its
  port, tags, meta and weight, a passing TTL check whose note names the
  command's pid, and shows in srvshimd's DNS (SRV, TXT, tag form)
- SIGTERM to the sidecar: COMMAND gets SIGTERM (once), the instance is
  deregistered, the sidecar exits with COMMAND's status; SIGHUP is passed
  on and changes nothing else
- COMMAND killed by a signal: exit status 128 + N; COMMAND exits 3 on its
  own: deregistered, exit 3; COMMAND not found: 127
- no COMMAND: runs until SIGTERM, deregisters, exits 0
- SIGKILL to the sidecar: nothing deregisters, the TTL check (2 s) expires
  and the instance leaves DNS
- the agent restarted with empty state: the sidecar registers again under
  the same ID
- Consul not there at start: COMMAND runs anyway, the sidecar retries and
  registers once the agent is up
- --check-http: 2xx passing, 500 critical with the status and body as the
  check output, 429 warning; --check-tcp: refused is critical with the
  error, a listener makes it pass
- usage errors exit 2 and name the flag; --help and --version exit 0
"""

import os
import re
import signal
import socket

import dns.rcode

import conftest
from dnsutil import poll, rrs
from toolutil import (HealthServer, agent_check, agent_services,
                      deregister_quietly, health, http_get, new_sidecar,
                      run_srvshim, seed_path)

assert new_sidecar  # a fixture, used by name

UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"

# A COMMAND that records the signals it gets, exits with argv[2] on
# SIGTERM/SIGINT, and says when it is ready.
TRAP = r"""
import os, signal, sys, time
marker, code = sys.argv[1], int(sys.argv[2])
def note(sig):
    with open(marker, "a") as f:
        f.write(signal.Signals(sig).name + "\n")
def stop(sig, frame):
    note(sig)
    sys.exit(code)
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
signal.signal(signal.SIGHUP, lambda sig, frame: note(sig))
with open(marker + ".ready", "w") as f:
    f.write(str(os.getpid()))
while True:
    time.sleep(0.05)
"""


def trap_command(tmp_path, code):
    marker = str(tmp_path / "signals")
    return marker, ["/usr/bin/python3", "-c", TRAP, marker, str(code)]


def signals_seen(marker):
    try:
        with open(marker) as f:
            return f.read().split()
    except OSError:
        return []


def wait_registered(agent, name, status="passing", timeout=15):
    """Until the catalog shows one instance of name with that check status;
    returns its health entry."""
    def one():
        entries = health(agent, name)
        for e in entries:
            mine = [c for c in e["Checks"] if c["ServiceID"]]
            if mine and all(c["Status"] == status for c in mine):
                return e
        return None
    return poll(one, timeout=timeout, what="%s registered, %s" % (name, status))


def wait_gone(agent, name, timeout=15):
    poll(lambda: health(agent, name) == [], timeout=timeout,
         what="%s deregistered" % name)


def test_wrapped_command_registered_and_in_dns(consul_agent, srv, uniq,
                                               new_sidecar):
    name = uniq("data")
    port = conftest.free_port()
    s = new_sidecar(consul_agent.http_addr,
                    ["--name", name, "--port", port, "--address", "127.0.0.1",
                     "--tag", "primary", "--meta", "version=1.2",
                     "--weight", "7"],
                    [seed_path("service-data-plain"), "-p", port])
    iid = s.instance_id()
    try:
        assert re.fullmatch(re.escape(name) + "-" + UUID4, iid), iid
        e = wait_registered(consul_agent, name)
        svc = e["Service"]
        assert svc["ID"] == iid
        assert svc["Port"] == port and svc["Address"] == "127.0.0.1"
        assert svc["Tags"] == ["primary"]
        assert svc["Meta"] == {"version": "1.2"}
        assert svc["Weights"] == {"Passing": 7, "Warning": 1}
        # the first heartbeat follows the registration and sets the note
        m = poll(lambda: re.fullmatch(r"srvshim register: alive, pid (\d+)",
                                      agent_check(consul_agent, iid)["Output"]),
                 what="heartbeat note")
        assert agent_check(consul_agent, iid)["Name"] == "srvshim register"
        # the pid is COMMAND's, which answers on the port
        assert int(m.group(1)) != s.pid
        status, body = http_get("http://127.0.0.1:%d/" % port)
        assert status == 200 and "pid %s" % m.group(1) in body, body

        def in_dns():
            r = srv.q("_%s._tcp" % name, "SRV")
            got = rrs(r, "SRV")
            return got if got and got[0].port == port else None
        got = poll(in_dns, what="SRV of the wrapped instance")
        assert len(got) == 1 and got[0].weight == 7
        txt = rrs(srv.q(name, "TXT"), "TXT")
        assert [b"".join(t.strings) for t in txt] == [b"version=1.2"]
        r = srv.q("primary." + name, "A")
        assert [a.address for a in rrs(r, "A")] == ["127.0.0.1"]
    finally:
        assert s.stop() == 0
    wait_gone(consul_agent, name)


def test_sigterm_passed_on_deregistered_status_propagated(
        consul_agent, uniq, new_sidecar, tmp_path):
    name = uniq("trap")
    marker, cmd = trap_command(tmp_path, 7)
    s = new_sidecar(consul_agent.http_addr, ["--name", name, "--port", 9100],
                    cmd)
    wait_registered(consul_agent, name)
    poll(lambda: os.path.exists(marker + ".ready"), what="COMMAND ready")

    os.kill(s.pid, signal.SIGHUP)
    poll(lambda: signals_seen(marker) == ["SIGHUP"], what="SIGHUP passed on")
    assert s.alive()
    wait_registered(consul_agent, name)

    os.kill(s.pid, signal.SIGTERM)
    assert s.wait() == 7
    assert signals_seen(marker) == ["SIGHUP", "SIGTERM"]
    # deregistered before the sidecar exited: no polling needed
    assert health(consul_agent, name) == []


def test_command_killed_by_signal_gives_128_plus_n(consul_agent, uniq,
                                                   new_sidecar):
    name = uniq("sleeper")
    s = new_sidecar(consul_agent.http_addr, ["--name", name, "--port", 9101],
                    ["sleep", "600"])
    wait_registered(consul_agent, name)
    os.kill(s.pid, signal.SIGTERM)
    assert s.wait() == 128 + signal.SIGTERM
    assert health(consul_agent, name) == []


def test_command_exit_3_deregisters_and_exits_3(consul_agent, uniq,
                                                 new_sidecar, tmp_path):
    name = uniq("exits")
    go = tmp_path / "go"
    s = new_sidecar(consul_agent.http_addr, ["--name", name, "--port", 9102],
                    ["sh", "-c", 'while [ ! -e "$1" ]; do sleep 0.05; done; '
                     'exit 3', "sh", str(go)])
    wait_registered(consul_agent, name)
    go.write_text("")
    assert s.wait() == 3
    assert health(consul_agent, name) == []
    assert "exited (status 3)" in s.log_text()


def test_command_not_found_gives_127(consul_agent, uniq, new_sidecar):
    name = uniq("missing")
    s = new_sidecar(consul_agent.http_addr, ["--name", name, "--port", 9103],
                    ["/nonexistent/srvshim-test-command"])
    assert s.wait() == 127
    assert "cannot run /nonexistent/srvshim-test-command" in s.log_text()
    assert health(consul_agent, name) == []


def test_no_command_runs_until_sigterm(consul_agent, uniq, new_sidecar):
    name = uniq("bare")
    s = new_sidecar(consul_agent.http_addr, ["--name", name, "--port", 9104])
    wait_registered(consul_agent, name)
    iid = s.instance_id()
    poll(lambda: agent_check(consul_agent, iid)["Output"] ==
         "srvshim register: alive, pid %d" % s.pid, what="heartbeat note")
    os.kill(s.pid, signal.SIGTERM)
    assert s.wait() == 0
    assert health(consul_agent, name) == []


def test_sigkill_sidecar_instance_expires_after_ttl(consul_agent, srv, uniq,
                                                    new_sidecar, tmp_path):
    name = uniq("killed")
    marker, cmd = trap_command(tmp_path, 0)
    s = new_sidecar(consul_agent.http_addr,
                    ["--name", name, "--port", 9105, "--ttl", "2s"], cmd)
    iid = s.instance_id()
    try:
        wait_registered(consul_agent, name)
        poll(lambda: rrs(srv.q(name, "SRV"), "SRV"), what="in DNS")
        s.kill()
        # no deregistration: still registered, the TTL check expires
        assert iid in agent_services(consul_agent)
        poll(lambda: agent_check(consul_agent, iid)["Status"] == "critical",
             timeout=10, what="TTL check expired")

        def out_of_dns():
            r = srv.q(name, "SRV")
            return r.rcode() == dns.rcode.NOERROR and not r.answer
        poll(out_of_dns, timeout=10, what="instance left DNS")
    finally:
        # COMMAND outlives a SIGKILLed sidecar (nobody is left to tell it)
        poll(lambda: os.path.exists(marker + ".ready"), what="COMMAND ready")
        with open(marker + ".ready") as f:
            os.kill(int(f.read()), signal.SIGKILL)
        deregister_quietly(consul_agent, iid)


def test_agent_restarted_empty_sidecar_registers_again(new_consul,
                                                       new_sidecar, uniq):
    agent = new_consul()
    name = uniq("phoenix")
    s = new_sidecar(agent.http_addr,
                    ["--name", name, "--port", 9106, "--ttl", "2s"],
                    ["sleep", "600"])
    iid = s.instance_id()
    wait_registered(agent, name)
    agent.kill()
    agent2 = new_consul(ports=agent.ports, name="consul-restarted")
    # a dev agent restarts empty; the next heartbeat hears "unknown check"
    e = wait_registered(agent2, name, timeout=30)
    assert e["Service"]["ID"] == iid
    assert s.alive()
    assert "registering again" in s.log_text()
    os.kill(s.pid, signal.SIGTERM)
    assert s.wait() == 128 + signal.SIGTERM
    assert health(agent2, name) == []


def test_consul_absent_at_start_command_runs_then_registered(
        new_consul, new_sidecar, uniq, tmp_path):
    agent = new_consul(start=False)
    name = uniq("patient")
    marker, cmd = trap_command(tmp_path, 0)
    s = new_sidecar(agent.http_addr,
                    ["--name", name, "--port", 9107, "--ttl", "2s"], cmd)
    poll(lambda: os.path.exists(marker + ".ready"), what="COMMAND running")
    poll(lambda: "register failed" in s.log_text(), what="a failed register")
    assert s.alive()
    agent.start()
    wait_registered(agent, name, timeout=30)
    assert s.alive() and signals_seen(marker) == []
    os.kill(s.pid, signal.SIGTERM)
    assert s.wait() == 0
    assert signals_seen(marker) == ["SIGTERM"]


def test_check_http_follows_the_probe(consul_agent, uniq, new_sidecar):
    hs = HealthServer(200, "fine")
    name = uniq("probed")
    try:
        s = new_sidecar(consul_agent.http_addr,
                        ["--name", name, "--port", hs.port, "--ttl", "2s",
                         "--check-http", hs.url])
        iid = s.instance_id()
        wait_registered(consul_agent, name, "passing")
        poll(lambda: "HTTP GET %s: 200" % hs.url in
             agent_check(consul_agent, iid)["Output"], what="200 as output")

        hs.set(500, "database down")
        wait_registered(consul_agent, name, "critical")
        poll(lambda: agent_check(consul_agent, iid)["Output"] ==
             "HTTP GET %s: 500 (database down)" % hs.url, what="500 as output")

        hs.set(429, "slow down")
        wait_registered(consul_agent, name, "warning")
        poll(lambda: "429 (slow down)" in
             agent_check(consul_agent, iid)["Output"], what="429 as output")

        hs.set(200, "fine again")
        wait_registered(consul_agent, name, "passing")
    finally:
        hs.close()
    os.kill(s.pid, signal.SIGTERM)
    assert s.wait() == 0


def test_check_tcp_follows_the_listener(consul_agent, uniq, new_sidecar):
    port = conftest.free_port()
    name = uniq("tcp")
    s = new_sidecar(consul_agent.http_addr,
                    ["--name", name, "--port", port, "--ttl", "2s",
                     "--check-tcp", "127.0.0.1:%d" % port])
    iid = s.instance_id()
    wait_registered(consul_agent, name, "critical")
    poll(lambda: "Connection refused" in
         agent_check(consul_agent, iid)["Output"], what="refused as output")
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(16)
    try:
        wait_registered(consul_agent, name, "passing")
    finally:
        ls.close()
    wait_registered(consul_agent, name, "critical")
    os.kill(s.pid, signal.SIGTERM)
    assert s.wait() == 0


def test_usage_errors_exit_2_and_name_the_flag():
    cases = [
        (["register", "--port", "80"], "--name and --port are required"),
        (["register", "--name", "x", "--port", "0"], "--port 0"),
        (["register", "--name", "x", "--port", "80", "--meta", "bad key=1"],
         "--meta bad key=1"),
        (["register", "--name", "x", "--port", "80", "--meta", "novalue"],
         "--meta novalue"),
        (["register", "--name", "x", "--port", "80", "--ttl", "500ms"],
         "--ttl 500ms"),
        (["register", "--name", "x", "--port", "80", "--weight", "0"],
         "--weight 0"),
        (["register", "--name", "x", "--port", "80", "--check-http",
          "ftp://h/"], "--check-http ftp://h/"),
        (["register", "--name", "x", "--port", "80", "--check-tcp", "nohost"],
         "--check-tcp nohost"),
        (["register", "--name", "x", "--port", "80", "--check-tcp", "h:1",
          "--check-http", "http://h/"], "not both"),
        (["register", "--name", "x", "--port", "80", "--consul",
          "ftp://h"], "scheme"),
        (["register", "--bogus"], "unknown option --bogus"),
        (["frobnicate"], "unknown command frobnicate"),
        ([], "usage:"),
    ]
    for args, text in cases:
        r = run_srvshim(*args)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert text in r.stderr, (args, r.stderr)
        assert r.stdout == "", (args, r.stdout)
    r = run_srvshim("register", "--name", "x", "--port", "80",
                    env={"CONSUL_HTTP_SSL_VERIFY": "maybe"})
    assert r.returncode == 2 and "CONSUL_HTTP_SSL_VERIFY" in r.stderr


def test_help_and_version():
    for args, text in ((["--help"], "srvshim register"),
                       (["register", "--help"], "--deregister-after"),
                       (["lookup", "--help"], "Exit status")):
        r = run_srvshim(*args)
        assert r.returncode == 0 and text in r.stdout, (args, r)
    r = run_srvshim("--version")
    assert r.returncode == 0 and re.fullmatch(r"srvshim \S+\n", r.stdout)


def test_token_file_sent_to_consul(consul_agent, uniq, new_sidecar,
                                   tmp_path):
    """A dev agent without ACLs accepts any token; what matters is that the
    file is read and the token is not logged."""
    tok = tmp_path / "token"
    tok.write_text("s3cr3t-token-value\n")
    name = uniq("tok")
    s = new_sidecar(consul_agent.http_addr,
                    ["--name", name, "--port", 9108, "--token-file", tok])
    wait_registered(consul_agent, name)
    os.kill(s.pid, signal.SIGTERM)
    assert s.wait() == 0
    assert "s3cr3t" not in s.log_text()
    r = run_srvshim("register", "--name", name, "--port", 1, "--token-file",
                    tmp_path / "nope")
    assert r.returncode == 2 and "nope" in r.stderr
