# SPDX-License-Identifier: MIT
"""test_config_reload.py -- the config file, --check-config, SIGHUP, systemd.

Checks:
- every examples/config/*.json passes --check-config (exit 0) and the printed
  effective configuration is JSON that says what the file says
- --check-config on bad files exits 2 naming the file and the key: unknown
  key, wrong type, bad value, not an object, missing file
- flags override the file; a --listen flag replaces the file's list
- a file holding a token that others can read gets a warning; mode 600 does
  not; the token is never printed
- SIGHUP with a changed file applies TTLs and the log level without a
  restart (same PID, answers keep flowing)
- SIGHUP with a broken file changes nothing and says so; the daemon answers
- SIGHUP with a changed listen address: logged as needing a restart, the
  old address keeps answering
- systemd: READY=1 on NOTIFY_SOCKET only after the first sync (never while
  Consul is unreachable), WATCHDOG=1 while running with WATCHDOG_USEC,
  STOPPING=1 at SIGTERM
- --syslog: nothing logged on stderr
"""

import glob
import json
import re
import os
import signal
import socket
import time

import dns.rcode
import pytest

import conftest
from conftest import run_srvshimd
from dnsutil import poll

EXAMPLES = os.path.join(conftest.REPO, "examples", "config")


def write(path, obj, mode=0o600):
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    os.chmod(path, mode)
    return str(path)


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(EXAMPLES,
                                                               "*.json"))))
def test_examples_check(path):
    p = run_srvshimd("--check-config", path)
    assert p.returncode == 0, p.stderr
    eff = json.loads(p.stdout)
    with open(path) as f:
        given = json.load(f)
    for key, val in given.items():
        if key == "token":
            assert eff[key] == "(set)"
        elif isinstance(val, bool) or isinstance(val, (int, list, dict)):
            assert eff[key] == val, key
        else:
            assert str(eff[key]) == str(val), key


def test_examples_exist():
    assert glob.glob(os.path.join(EXAMPLES, "*.json"))


@pytest.mark.parametrize("body,needle", [
    ({"nosuch": 1}, '"nosuch"'),
    ({"ttl": [1, {}]}, '"ttl"'),
    ({"ttl": "1.5s"}, "--ttl"),
    ({"listen": ["127.0.0.1"]}, "--listen"),
    ({"only-passing": "yes"}, "only-passing"),
    ({"help": True}, '"help"'),
    ("[1, 2]", "not a JSON object"),
    ('{"ttl": "5s"', "not a JSON object"),
])
def test_check_config_rejects(tmp_path, body, needle):
    path = write(tmp_path / "bad.json", body)
    p = run_srvshimd("--check-config", path)
    assert p.returncode == 2, p
    assert path in p.stderr and needle in p.stderr, p.stderr


def test_check_config_missing_file(tmp_path):
    p = run_srvshimd("--check-config", str(tmp_path / "none.json"))
    assert p.returncode == 2 and "cannot read config file" in p.stderr


def test_flags_override_file(tmp_path):
    path = write(tmp_path / "c.json", {
        "listen": ["127.0.0.1:5301", "127.0.0.1:5302"], "ttl": "7s",
        "service-ttl": {"a": "1s"}, "only-passing": True})
    p = run_srvshimd("--check-config", path, "--listen", "127.0.0.1:5399",
                     "--ttl", "9s", "--service-ttl", "b=2s")
    eff = json.loads(p.stdout)
    assert eff["listen"] == ["127.0.0.1:5399"]
    assert eff["ttl"] == "9s"
    assert eff["service-ttl"] == {"b": "2s"}
    assert eff["only-passing"] is True


def test_token_file_mode_warning(tmp_path):
    secret = "9f1c-secret-token"
    loose = write(tmp_path / "loose.json", {"token": secret}, 0o644)
    p = run_srvshimd("--check-config", loose)
    assert p.returncode == 0
    assert "others can read it" in p.stderr and "chmod 600" in p.stderr
    assert secret not in p.stdout + p.stderr
    assert json.loads(p.stdout)["token"] == "(set)"
    tight = write(tmp_path / "tight.json", {"token": secret}, 0o600)
    p = run_srvshimd("--check-config", tight)
    assert p.returncode == 0 and "others can read" not in p.stderr


def test_token_is_not_a_flag():
    p = run_srvshimd("--token", "x")
    assert p.returncode == 2 and "unknown option --token" in p.stderr


# ---- reload -------------------------------------------------------------------


@pytest.fixture
def svc(consul, uniq):
    name = uniq("cfg")
    consul.register(name + "-1", name, "127.0.8.1", 8080)
    return name


def ttl_of(d, name):
    r = d.q(name, "A")
    return r.answer[0].ttl if r.answer else None


def test_reload_applies_ttl_and_log_level(new_srvshimd, consul, svc,
                                          tmp_path):
    path = tmp_path / "c.json"
    write(path, {"ttl": "0s", "log-level": "info"})
    d = new_srvshimd("--config", str(path))
    poll(lambda: ttl_of(d, svc) == 0, what="ttl 0")
    pid = d.pid
    write(path, {"ttl": "42s", "log-level": "debug",
                 "service-ttl": {svc: "17s"}})
    os.kill(pid, signal.SIGHUP)
    poll(lambda: ttl_of(d, svc) == 17, what="service ttl 17 after reload")
    assert d.pid == pid and d.alive()
    assert "reload done, log level debug, ttl 42s" in d.log_text()
    # debug logging is on now: a change is logged at debug level
    consul.critical(svc + "-1")
    poll(lambda: "watch: service %s, changed" % svc in d.log_text(),
         what="debug line after reload")


def test_reload_bad_file_keeps_running_config(new_srvshimd, svc, tmp_path):
    path = tmp_path / "c.json"
    write(path, {"ttl": "11s"})
    d = new_srvshimd("--config", str(path))
    poll(lambda: ttl_of(d, svc) == 11, what="ttl 11")
    write(path, '{"ttl": ')
    os.kill(d.pid, signal.SIGHUP)
    poll(lambda: "reload failed" in d.log_text(), what="reload failed")
    assert d.alive()
    assert ttl_of(d, svc) == 11


def test_reload_listen_change_needs_restart(new_srvshimd, svc, tmp_path):
    path = tmp_path / "c.json"
    write(path, {"ttl": "3s"})
    d = new_srvshimd("--config", str(path))
    poll(lambda: ttl_of(d, svc) == 3, what="ttl 3")
    # the flags stay the same; a listen change comes from... the file does
    # not decide listen here (flags win), so change the zone instead
    write(path, {"ttl": "4s", "zone": "other.test"})
    os.kill(d.pid, signal.SIGHUP)
    poll(lambda: "need a restart" in d.log_text(), what="restart warning")
    poll(lambda: ttl_of(d, svc) == 4, what="ttl 4 still applied")


def test_reload_listen_in_file_needs_restart(consul_agent, tmp_path, svc):
    port = conftest.free_port()
    path = tmp_path / "c.json"
    write(path, {"listen": ["127.0.0.1:%d" % port],
                 "consul": consul_agent.http_addr})
    d = conftest.Srvshimd(tmp_path / "d", "", ["--config", str(path)],
                          use_consul_flag=False)
    d.port4 = port
    d.argv_for_start = lambda: [conftest.srvshimd_path(), "--config",
                                str(path), "--log-level", "debug"]
    d.start()
    try:
        write(path, {"listen": ["127.0.0.1:%d" % conftest.free_port()],
                     "consul": consul_agent.http_addr})
        os.kill(d.pid, signal.SIGHUP)
        poll(lambda: "need a restart" in d.log_text(), what="warning")
        assert d.q(svc, "A").answer, "old address still answers"
    finally:
        d.stop()


# ---- systemd -------------------------------------------------------------------


@pytest.fixture
def notify_sock(tmp_path):
    path = str(tmp_path / "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(0.2)
    yield s, path
    s.close()


def messages(sock):
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except socket.timeout:
            return out


def test_notify_ready_after_sync(new_srvshimd, notify_sock):
    sock, path = notify_sock
    d = new_srvshimd(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"})
    got = []
    poll(lambda: got.extend(messages(sock)) or any(
        "READY=1" in m for m in got), what="READY=1")
    poll(lambda: got.extend(messages(sock)) or sum(
        "WATCHDOG=1" in m for m in got) >= 2, what="watchdog pets")
    d.stop()
    got.extend(messages(sock))
    assert any("STOPPING=1" in m for m in got)



def test_notify_abstract_socket_and_watchdog_pid(new_srvshimd):
    """NOTIFY_SOCKET=@name is an abstract socket (what systemd hands to
    services in containers); a WATCHDOG_PID naming another process means
    the watchdog is not ours: no pets, READY=1 all the same."""
    name = "srvshim-test-%d-%d" % (os.getpid(), conftest.free_port())
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + name)
    s.settimeout(0.2)
    try:
        new_srvshimd(env={"NOTIFY_SOCKET": "@" + name,
                          "WATCHDOG_USEC": "200000",
                          "WATCHDOG_PID": "1"})
        got = []
        poll(lambda: got.extend(messages(s)) or any(
            "READY=1" in m for m in got), what="READY=1 on @" + name)
        assert any(re.search(r"STATUS=serving \d+ services", m) for m in got)
        time.sleep(0.6)  # three watchdog periods
        got.extend(messages(s))
        assert not any("WATCHDOG=1" in m for m in got), got
    finally:
        s.close()


def test_notify_bad_socket_logged_once(new_srvshimd):
    """A NOTIFY_SOCKET that is neither a path nor @name cannot be used: one
    warning naming it, and srvshimd serves all the same."""
    d = new_srvshimd(env={"NOTIFY_SOCKET": "vsock:2:1234",
                          "WATCHDOG_USEC": "200000"})
    poll(lambda: "NOTIFY_SOCKET=vsock:2:1234 failed" in d.log_text(),
         what="the warning")
    time.sleep(0.5)
    assert d.log_text().count("NOTIFY_SOCKET=vsock") == 1, d.log_tail()
    assert d.alive()

def test_notify_not_ready_without_consul(new_srvshimd, notify_sock):
    sock, path = notify_sock
    dead = "127.0.0.1:%d" % conftest.free_port()
    d = new_srvshimd(consul=dead, wait="answering",
                     env={"NOTIFY_SOCKET": path})
    poll(lambda: "unreachable" in d.log_text(), what="consul unreachable")
    assert not any("READY=1" in m for m in messages(sock))


def test_syslog_keeps_stderr_quiet(new_srvshimd):
    d = new_srvshimd("--syslog")
    assert "srvshimd[info]" not in d.log_text()


# ---- reloading the resolver side ---------------------------------------------


def test_reload_allow_applies_at_once(new_srvshimd, svc, tmp_path):
    """--allow in the file: after SIGHUP with a list that leaves out
    127.0.0.1, this client is REFUSED at once; back again after the next."""
    path = tmp_path / "c.json"
    write(path, {"allow": ["127.0.0.0/8", "::1/128"]})
    d = new_srvshimd("--config", str(path))
    assert d.q(svc, "A").rcode() == dns.rcode.NOERROR
    write(path, {"allow": ["127.0.0.9/32", "::1/128"]})
    os.kill(d.pid, signal.SIGHUP)
    poll(lambda: d.q(svc, "A").rcode() == dns.rcode.REFUSED,
         what="REFUSED after reload")
    assert d.q(svc, "A", v6=True).rcode() == dns.rcode.NOERROR
    write(path, {"allow": ["127.0.0.0/8"]})
    os.kill(d.pid, signal.SIGHUP)
    poll(lambda: d.q(svc, "A").rcode() == dns.rcode.NOERROR,
         what="answered again")
    assert d.alive()


def test_reload_recursors_apply_at_once(new_srvshimd, tmp_path):
    """A new recursor list in the file is used for the next forwarded query
    (no restart); the old upstream sees nothing more."""
    from fakes.upstream import Upstream
    first = Upstream(conftest.free_port(), records=1, ttl=0).start()
    second = Upstream(conftest.free_port(), records=2, ttl=0).start()
    try:
        path = tmp_path / "c.json"
        write(path, {"recursor": [first.addr()], "cache-size": 0})
        d = new_srvshimd("--config", str(path))
        r = d.q("www.example.org.", "A")
        assert r.rcode() == dns.rcode.NOERROR and len(r.answer[0]) == 1
        write(path, {"recursor": [second.addr()], "cache-size": 0})
        os.kill(d.pid, signal.SIGHUP)
        poll(lambda: "recursor %s (reload)" % second.addr() in d.log_text(),
             what="reload applied")
        before = first.count()
        r = d.q("www.example.net.", "A")
        assert r.rcode() == dns.rcode.NOERROR and len(r.answer[0]) == 2
        assert first.count() == before
    finally:
        first.stop()
        second.stop()


# ---- the query log -------------------------------------------------------------


def test_query_log_off_by_default(new_srvshimd, svc):
    d = new_srvshimd()
    d.q(svc, "A")
    assert "query: " not in d.log_text()


def test_query_log_one_line_per_query(new_srvshimd, svc):
    d = new_srvshimd("--query-log")
    d.q(svc, "SRV")
    d.q("nosuch-" + svc, "A", tcp_=True)
    poll(lambda: "nosuch-" in d.log_text(), what="tcp query logged")
    log = d.log_text()
    assert re.search(r"query: 127\.0\.0\.1#\d+ udp %s\.service\.local\. SRV, "
                     r"NOERROR, 1 answers, \d+ bytes" % re.escape(svc), log), log
    assert re.search(r"query: 127\.0\.0\.1#\d+ tcp nosuch-%s\.service\.local\. "
                     r"A, NXDOMAIN, 0 answers" % re.escape(svc), log), log
