# SPDX-License-Identifier: MIT
"""test_privileges.py -- port 53, --user and the systemd unit.

Checks:
- started as root with --user nobody on port 53 (of a random 127/8
  address), srvshimd answers, and /proc says every uid and gid is nobody's
  with no effective capability
- --user with an unknown user, or with root, exits 1 with a message and
  never serves
- unprivileged without CAP_NET_BIND_SERVICE, port 53 fails with advice
  (exit 1); with the capability as an ambient one (what the systemd unit
  does) it binds and answers
- examples/systemd/srvshim.service passes `systemd-analyze verify` with no
  unknown keys, and carries the hardening directives
"""

import os
import pwd
import random
import re
import shutil
import subprocess

import dns.rcode
import pytest

import conftest
from conftest import run_srvshimd
from dnsutil import describe

needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="starting as root needs root")
UNIT = os.path.join(conftest.REPO, "examples", "systemd", "srvshim.service")


def random_loopback():
    """A 127/8 address nobody else uses, so port 53 is free on it."""
    return "127.%d.%d.%d" % (random.randint(60, 250), random.randint(1, 250),
                             random.randint(2, 250))


def proc_status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f
                    if ":\t" in line)


class Port53(conftest.Srvshimd):
    """srvshimd on ADDR:53 only, optionally under a wrapper command."""

    def __init__(self, workdir, consul_addr, args, addr, wrapper=()):
        super().__init__(workdir, consul_addr, args, name="srvshimd53")
        self.addr4, self.wrapper = addr, list(wrapper)
        self.port4 = 53

    def addr(self, v6=False):
        return (self.addr4, 53)

    def argv_for_start(self):
        return self.wrapper + [conftest.srvshimd_path(), "--listen",
                               "%s:53" % self.addr4, "--log-level", "debug",
                               "--consul", self.consul_addr] + self.args


@pytest.fixture
def port53(tmp_path, consul_agent):
    started = []

    def make(*args, wrapper=(), wait="synced"):
        d = Port53(tmp_path / ("p53-%d" % len(started)),
                   consul_agent.http_addr, args, random_loopback(), wrapper)
        started.append(d)
        d.start(wait=wait)
        return d
    yield make
    for d in started:
        d.stop()


@needs_root
def test_user_drop_to_nobody(port53):
    nobody = pwd.getpwnam("nobody")
    d = port53("--user", "nobody")
    r = d.q("@", "SOA")
    assert r.rcode() == dns.rcode.NOERROR, describe(r)
    st = proc_status(d.pid)
    assert st["Uid"].split() == [str(nobody.pw_uid)] * 4, st["Uid"]
    assert st["Gid"].split() == [str(nobody.pw_gid)] * 4, st["Gid"]
    assert st["Groups"].split() == [str(nobody.pw_gid)], st["Groups"]
    assert int(st["CapEff"], 16) == 0 and int(st["CapPrm"], 16) == 0
    assert st["NoNewPrivs"].strip() == "1"
    # Every thread, not only the main one.
    for tid in os.listdir("/proc/%d/task" % d.pid):
        with open("/proc/%d/task/%s/status" % (d.pid, tid)) as f:
            uid = re.search(r"^Uid:\s+(.*)$", f.read(), re.M).group(1)
        assert uid.split() == [str(nobody.pw_uid)] * 4, (tid, uid)
    assert "privs: running as nobody" in d.log_text()


@needs_root
@pytest.mark.parametrize("user,why", [("no-such-user-x7", "no such user"),
                                      ("root", "is root")])
def test_user_drop_failure_is_fatal(user, why):
    p = run_srvshimd("--listen", "%s:53" % random_loopback(), "--user", user,
                     "--consul", "127.0.0.1:1")
    assert p.returncode == 1, p.stderr
    assert why in p.stderr and "--user %s" % user in p.stderr


def setpriv(ambient):
    exe = shutil.which("setpriv")
    if exe is None:
        pytest.skip("setpriv (util-linux) not installed")
    nobody = pwd.getpwnam("nobody")
    argv = [exe, "--reuid", str(nobody.pw_uid), "--regid",
            str(nobody.pw_gid), "--clear-groups"]
    if ambient:
        argv += ["--inh-caps", "+net_bind_service",
                 "--ambient-caps", "+net_bind_service"]
    return argv


@needs_root
def test_port53_unprivileged_needs_the_capability(port53, tmp_path):
    p = subprocess.run(setpriv(False) + [
        conftest.srvshimd_path(), "--listen", "%s:53" % random_loopback(),
        "--consul", "127.0.0.1:1"], capture_output=True, text=True,
        timeout=10)
    assert p.returncode == 1, p.stderr
    assert "permission denied" in p.stderr
    assert "CAP_NET_BIND_SERVICE" in p.stderr
    d = port53(wrapper=setpriv(True))
    r = d.q("@", "SOA")
    assert r.rcode() == dns.rcode.NOERROR, describe(r)
    st = proc_status(d.pid)
    assert st["Uid"].split()[1] == str(pwd.getpwnam("nobody").pw_uid)


def test_systemd_unit_verifies(tmp_path):
    with open(UNIT) as f:
        text = f.read()
    for key in ("AmbientCapabilities=CAP_NET_BIND_SERVICE",
                "NoNewPrivileges=yes", "ProtectSystem=strict",
                "ProtectHome=yes", "PrivateTmp=yes",
                "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
                "MemoryDenyWriteExecute=yes",
                "SystemCallFilter=@system-service"):
        assert re.search("^%s$" % re.escape(key), text, re.M), key
    assert re.search(r"^(DynamicUser=yes|User=\S+)$", text, re.M)
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    # verify wants the ExecStart binary to exist: point it at ours.
    unit = tmp_path / "srvshim.service"
    unit.write_text(re.sub(r"^ExecStart=\S+", "ExecStart=" +
                           conftest.srvshimd_path(), text, flags=re.M))
    p = subprocess.run([analyze, "verify", "--man=no", str(unit)],
                       capture_output=True, text=True, timeout=60)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert not re.search(r"Unknown (key|section)|ignoring|Invalid", out), out
    # And the flags in ExecStart are ones srvshimd accepts.
    args = re.search(r"^ExecStart=\S+ (.*)$", text, re.M).group(1).split()
    p = run_srvshimd(*(args + ["--help"]))
    assert p.returncode == 0, p.stderr
