# SPDX-License-Identifier: MIT
"""test_resolver_netns.py -- glibc's resolver using srvshim as its nameserver.

A network namespace made for this module holds its own loopback with a Consul
dev agent, srvshimd on 127.0.0.1:53 and dnsmasq on 127.0.0.3:53 (srvshimd's
upstream, and a site resolver forwarding service.local to srvshimd).
`ip netns exec` bind-mounts /etc/netns/NAME/resolv.conf (written by the tests:
"nameserver 127.0.0.1", with and without "options edns0") and an
nsswitch.conf whose hosts line is "files dns" over the real ones, so plain
`getent ahosts` goes through glibc's stub resolver to srvshimd.

Checks, with and without `options edns0`:
- getent ahosts <svc>.service.local returns exactly the healthy instances'
  addresses (IPv4 and IPv6); failing a check and deregistering an instance
  show up in getent's answer, and so does a critical instance coming back
- getent ahosts of an SRV target (<hex>.addr.service.local) returns its address
- 40 instances: all 40 addresses come back. Without EDNS the UDP reply has TC
  set (checked with dig), so glibc must have retried over TCP; with edns0
  (glibc offers 1200 bytes) the reply fits in UDP
- a name outside the zone is answered through the recursor (srvshimd
  --recursor pointing at dnsmasq): XFAIL while srvshimd has no --recursor
  (branch `forward`); it becomes a plain test once the flag exists
- without --recursor (a second srvshimd on 127.0.0.2:53) the same name fails
  in getent although the upstream itself answers it; with the upstream as a
  second nameserver line glibc moves on after REFUSED and gets it there
- dnsmasq as the machine's resolver with README's stanza
  (server=/service.local/127.0.0.1#53): getent gets the zone from srvshimd
  through it, and other names from dnsmasq itself
Namespaces left by a killed run (srvshim-t<pid>-*, that pid gone) are deleted.
"""

import json
import os
import random
import re
import shutil
import subprocess

import pytest

import conftest
from dnsutil import hex_label, poll

OUTSIDE_NAME = "outside.example.test"
OUTSIDE_ADDR = "192.0.2.44"  # TEST-NET-1, answered only by dnsmasq
DNSMASQ = "127.0.0.3"         # dnsmasq's address (port 53) in the namespace
RESOLV_VARIANTS = {"plain": "", "edns0": "options edns0\n"}


NS_PREFIX = "srvshim-t"


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def delete_stale_namespaces():
    """Deletes namespaces (and their /etc/netns files) that an earlier run of
    this module made and could not delete because it was killed; a namespace
    whose creating pytest is still alive is left alone."""
    p = subprocess.run(["ip", "netns", "list"], capture_output=True,
                       text=True, timeout=30)
    for line in p.stdout.splitlines():
        m = re.match(r"(%s(\d+)-[0-9a-f]{4})\b" % NS_PREFIX, line)
        if m and not _pid_alive(int(m.group(2))):
            subprocess.run(["ip", "netns", "del", m.group(1)],
                           capture_output=True, timeout=30)
            shutil.rmtree(os.path.join("/etc/netns", m.group(1)),
                          ignore_errors=True)


class Netns:
    """A network namespace with loopback up and its own /etc/netns files."""

    def __init__(self):
        self.name = "%s%d-%04x" % (NS_PREFIX, os.getpid(),
                                   random.getrandbits(16))
        self.etc = os.path.join("/etc/netns", self.name)
        self.made = False

    def create(self):
        if os.geteuid() != 0:
            pytest.fail("the netns tests need root (ip netns add)")
        if not shutil.which("ip"):
            pytest.fail("no `ip` (iproute2) in PATH")
        subprocess.run(["ip", "netns", "add", self.name], check=True,
                       capture_output=True, timeout=30)
        self.made = True
        os.makedirs(self.etc)
        self.run("ip", "link", "set", "lo", "up", check=True)
        # dnsmasq binds only addresses that an interface carries. With that
        # one non-loopback IPv4 address and none for IPv6, getent's
        # AI_ADDRCONFIG would drop every AAAA; an IPv6 one makes the
        # namespace dual-stack, as most hosts are.
        self.run("ip", "addr", "add", DNSMASQ + "/8", "dev", "lo", check=True)
        self.run("ip", "-6", "addr", "add", "fd00:53::3/128", "dev", "lo",
                 "nodad", check=True)
        self.write_nsswitch()
        self.write_resolv("nameserver 127.0.0.1\n")

    def write_nsswitch(self):
        """The machine's nsswitch.conf, with hosts: files dns only (no mdns,
        no systemd-resolved module), so getent's path is glibc's stub."""
        lines = []
        try:
            with open("/etc/nsswitch.conf") as f:
                lines = [ln for ln in f.read().splitlines()
                         if not ln.startswith("hosts:")]
        except OSError:
            pass
        with open(os.path.join(self.etc, "nsswitch.conf"), "w") as f:
            f.write("\n".join(lines + ["hosts: files dns", ""]))

    def write_resolv(self, text):
        with open(os.path.join(self.etc, "resolv.conf"), "w") as f:
            f.write(text)

    def argv(self, *cmd):
        return ["ip", "netns", "exec", self.name] + list(cmd)

    def run(self, *cmd, check=False, timeout=30, input=None):
        p = subprocess.run(self.argv(*cmd), capture_output=True, text=True,
                           timeout=timeout, input=input)
        if check:
            assert p.returncode == 0, "%s: exit %s\n%s" % (
                " ".join(cmd), p.returncode, p.stdout + p.stderr)
        return p

    def destroy(self):
        if self.made:
            subprocess.run(["ip", "netns", "del", self.name],
                           capture_output=True, timeout=30)
        shutil.rmtree(self.etc, ignore_errors=True)
        try:
            os.rmdir("/etc/netns")  # only if no one else has files there
        except OSError:
            pass


class NsConsul(conftest.Consul):
    """conftest's dev agent, run inside the namespace; its HTTP API is
    reached with curl inside the namespace too."""

    def __init__(self, ns, workdir):
        super().__init__(workdir, "consul-netns")
        self.ns = ns

    def spawn(self, argv, env=None):
        super().spawn(self.ns.argv(*argv), env)  # ip netns exec execs: same PID

    def api(self, method, path, body=None, timeout=10):
        argv = ["curl", "-sS", "--fail", "-X", method, "-m", str(timeout)]
        data = None
        if body is not None:
            argv += ["-H", "Content-Type: application/json",
                     "--data-binary", "@-"]
            data = json.dumps(body)
        p = self.ns.run(*(argv + [self.url + path]), input=data,
                        timeout=timeout + 5)
        if p.returncode != 0:
            raise OSError("curl %s %s: exit %d: %s"
                          % (method, path, p.returncode, p.stderr.strip()))
        if not p.stdout.strip():
            return None
        try:
            return json.loads(p.stdout)
        except ValueError:
            return p.stdout


class NsProc(conftest.Proc):
    def __init__(self, ns, workdir, name):
        super().__init__(workdir, name)
        self.ns = ns

    def spawn(self, argv, env=None):
        super().spawn(self.ns.argv(*argv), env)


class World:
    """Everything the module's tests share inside the namespace."""

    def __init__(self, ns, consul):
        self.ns = ns
        self.consul = consul

    def dig(self, *args, server="127.0.0.1"):
        return self.ns.run("dig", "@" + server, "+time=2", "+tries=1",
                           *args, timeout=20)

    def getent(self, name, resolv, nameserver="127.0.0.1"):
        """Addresses glibc returns for name, with resolv.conf variant
        `resolv`; None when getent finds nothing (its exit status 2)."""
        self.ns.write_resolv("nameserver %s\n%s"
                             % (nameserver, RESOLV_VARIANTS[resolv]))
        return self._getent(name)

    def _getent(self, name):
        p = self.ns.run("getent", "ahosts", name, timeout=60)
        if p.returncode == 2 and not p.stdout:
            return None
        assert p.returncode == 0, "getent ahosts %s: exit %s\n%s" % (
            name, p.returncode, p.stdout + p.stderr)
        return sorted({ln.split()[0] for ln in p.stdout.splitlines()})

    def srv_addrs(self, name, rdtype="A"):
        """What srvshimd itself answers, asked with dig over TCP."""
        p = self.dig("+tcp", "+short", name, rdtype)
        assert p.returncode == 0, p.stdout + p.stderr
        return sorted(p.stdout.split())

    def wait_srv_addrs(self, name, want):
        """Until srvshimd answers A plus AAAA for name with exactly want."""
        want = sorted(want)
        poll(lambda: sorted(self.srv_addrs(name, "A")
                            + self.srv_addrs(name, "AAAA")) == want,
             timeout=15, what="%s on srvshimd == %s" % (name, want))


def start_srvshimd(ns, workdir, name, listen, consul, *extra):
    d = NsProc(ns, workdir, name)
    d.spawn([conftest.srvshimd_path(), "--listen", listen,
             "--consul", consul.http_addr, "--log-level", "debug"]
            + list(extra), env=conftest._clean_env())
    host = listen.rsplit(":", 1)[0]

    def synced():
        if not d.alive():
            raise AssertionError("%s exited: %s" % (name, d.log_tail()))
        p = ns.run("dig", "@" + host, "+time=1", "+tries=1", "+norec",
                   "service.local", "SOA", timeout=10)
        return "status: NOERROR" in p.stdout and "ANSWER: 1" in p.stdout
    poll(synced, timeout=20, what="%s synced" % name)
    return d


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    for tool in ("dig", "getent", "curl", "dnsmasq"):
        if not shutil.which(tool):
            pytest.fail("no %s in PATH (scripts/install-deps installs it)"
                        % tool)
    delete_stale_namespaces()
    workdir = tmp_path_factory.mktemp("netns")
    ns = Netns()
    procs = []
    try:
        ns.create()
        consul = NsConsul(ns, workdir / "consul")
        procs.append(consul)
        consul.start()

        # dnsmasq: one host record of its own, no upstream, and the
        # service.local stanza README gives for dnsmasq.
        up = NsProc(ns, workdir, "dnsmasq")
        procs.append(up)
        up.spawn(["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
                  "--no-resolv", "--no-hosts", "--bind-interfaces",
                  "--listen-address=" + DNSMASQ, "--port=53",
                  "--user=root", "--group=root",
                  "--pid-file=%s" % (workdir / "dnsmasq.pid"),
                  "--host-record=%s,%s" % (OUTSIDE_NAME, OUTSIDE_ADDR),
                  "--server=/service.local/127.0.0.1#53",
                  "--log-queries", "--log-facility=-"])
        w = World(ns, consul)
        poll(lambda: w.dig("+short", OUTSIDE_NAME, "A", server=DNSMASQ)
             .stdout.split() == [OUTSIDE_ADDR],
             timeout=15, what="dnsmasq answering")

        # The resolver under test. --recursor is the forwarding flag from
        # branch `forward`; until it is merged the daemon runs without it.
        extra = ["--recursor", DNSMASQ + ":53"]
        procs.append(start_srvshimd(ns, workdir, "srvshimd-netns",
                                    "127.0.0.1:53", consul, *extra))
        w.reg = conftest.Registrar(consul)
        yield w
        w.reg.cleanup()
    finally:
        for p in reversed(procs):
            p.stop()
        ns.destroy()


@pytest.fixture(params=sorted(RESOLV_VARIANTS))
def resolv(request):
    return request.param


def test_getent_follows_health(world, resolv):
    reg = world.reg
    name = "data-%s-%04x" % (resolv, random.getrandbits(16))
    fqdn = name + ".service.local"
    net = random.randint(1, 254)
    a1, a2, a3 = ("127.65.%d.1" % net, "fd00::65:%x" % net,
                  "127.65.%d.3" % net)
    reg.register(name + "-1", name, a1, 8001)
    reg.register(name + "-2", name, a2, 8002)
    reg.register(name + "-3", name, a3, 8003, status="critical")

    world.wait_srv_addrs(fqdn, [a1, a2])
    assert world.getent(fqdn, resolv) == sorted([a1, a2])

    # An SRV target resolves through glibc too.
    target = "%s.addr.service.local" % hex_label(a2)
    assert world.getent(target, resolv) == [a2]

    reg.critical(name + "-1")
    world.wait_srv_addrs(fqdn, [a2])
    assert world.getent(fqdn, resolv) == [a2]

    reg.deregister(name + "-2")
    reg.passing(name + "-3")
    world.wait_srv_addrs(fqdn, [a3])
    assert world.getent(fqdn, resolv) == [a3]

    reg.critical(name + "-3")
    world.wait_srv_addrs(fqdn, [])
    assert world.getent(fqdn, resolv) is None


def test_getent_forty_instances(world, resolv):
    reg = world.reg
    name = "big-%s-%04x" % (resolv, random.getrandbits(16))
    fqdn = name + ".service.local"
    net = random.randint(1, 254)
    want = ["127.64.%d.%d" % (net, i) for i in range(1, 41)]
    reg.register_many(name, want, port=9000)
    world.wait_srv_addrs(fqdn, want)

    # What glibc's UDP query gets: without EDNS a 512-byte reply cannot hold
    # 40 A records (TC set, so the 40 can only come over TCP); with edns0
    # glibc offers 1200 bytes, which holds them.
    if resolv == "plain":
        udp = world.dig("+noedns", "+ignore", "+norec", fqdn, "A")
        assert " tc" in udp.stdout.split("flags:")[1].split(";")[0], udp.stdout
    else:
        udp = world.dig("+edns=0", "+bufsize=1200", "+ignore", "+norec",
                        fqdn, "A")
        flags = udp.stdout.split("flags:")[1].split(";")[0]
        assert " tc" not in flags and "ANSWER: 40" in udp.stdout, udp.stdout

    got = world.getent(fqdn, resolv)
    assert got == sorted(want), "getent returned %d of 40" % len(got or [])



def _flags(dig_out):
    return dig_out.split("flags:")[1].split(";")[0].split()


def test_reply_larger_than_mtu_goes_truncated(world, tmp_path):
    """UDP replies leave with DF set and are never fragmented (RFC 9715):
    with the namespace's loopback MTU lowered to 1280, a 40-instance SRV
    reply (about 1.9 kB, within the client's 4096 and --edns-size 4096)
    cannot be sent whole, so srvshimd sends header, question and OPT with
    TC set, and the whole answer comes over TCP. At the normal MTU the
    same query gets all 40 over UDP."""
    d = start_srvshimd(world.ns, tmp_path, "srvshimd-mtu", "127.0.0.5:53",
                       world.consul, "--edns-size", "4096")
    name = "mtu-%04x" % random.getrandbits(16)
    fqdn = name + ".service.local"
    net = random.randint(1, 254)
    want = ["127.62.%d.%d" % (net, i) for i in range(1, 41)]
    ids = world.reg.register_many(name, want, port=9000)
    try:
        def udp():
            return world.dig("+bufsize=4096", "+ignore", "+norec", fqdn,
                             "SRV", server="127.0.0.5")
        poll(lambda: "ANSWER: 40," in udp().stdout, timeout=15,
             what="40 SRV records over UDP at MTU 65536")
        r = udp()
        assert "tc" not in _flags(r.stdout), r.stdout
        assert int(r.stdout.split("MSG SIZE  rcvd: ")[1].split()[0]) > 1300

        world.ns.run("ip", "link", "set", "lo", "mtu", "1280", check=True)
        r = udp()
        assert "status: NOERROR" in r.stdout, r.stdout
        assert {"qr", "aa", "tc"} <= set(_flags(r.stdout)), r.stdout
        assert "ANSWER: 0," in r.stdout and "ADDITIONAL: 1" in r.stdout, \
            r.stdout  # the OPT only
        t = world.dig("+tcp", "+norec", fqdn, "SRV", server="127.0.0.5")
        assert "ANSWER: 40," in t.stdout, t.stdout
        # small replies are untouched
        r = world.dig("+bufsize=4096", "+norec", fqdn, "SOA",
                      server="127.0.0.5")
        assert "tc" not in _flags(r.stdout), r.stdout
        assert d.alive()
    finally:
        world.ns.run("ip", "link", "set", "lo", "mtu", "65536")
        for sid in ids:
            world.reg.deregister(sid)
        d.stop()

def test_getent_outside_zone_through_recursor(world, resolv):
    assert world.getent(OUTSIDE_NAME, resolv) == [OUTSIDE_ADDR]
    # The zone is still answered by srvshimd itself, not the upstream.
    target = "%s.addr.service.local" % hex_label("127.63.0.9")
    assert world.getent(target, resolv) == ["127.63.0.9"]


def test_getent_outside_zone_without_recursor_fails(world, tmp_path):
    d = start_srvshimd(world.ns, tmp_path, "srvshimd-norecursor",
                       "127.0.0.2:53", world.consul)
    try:
        # The upstream knows the name; srvshimd without --recursor refuses.
        up = world.dig("+short", OUTSIDE_NAME, "A", server=DNSMASQ)
        assert up.stdout.split() == [OUTSIDE_ADDR]
        r = world.dig("+norec", OUTSIDE_NAME, "A", server="127.0.0.2")
        assert "status: REFUSED" in r.stdout, r.stdout
        world.ns.write_resolv("nameserver 127.0.0.2\n")
        assert world._getent(OUTSIDE_NAME) is None
        # ...while the zone itself still resolves through that daemon.
        target = "%s.addr.service.local" % hex_label("127.63.0.8")
        assert world._getent(target) == ["127.63.0.8"]
        # glibc takes REFUSED as "try the next nameserver": a second line
        # with the site resolver makes outside names work without
        # --recursor (one extra round trip each).
        world.ns.write_resolv("nameserver 127.0.0.2\nnameserver %s\n"
                              % DNSMASQ)
        assert world._getent(OUTSIDE_NAME) == [OUTSIDE_ADDR]
        assert world._getent(target) == ["127.63.0.8"]
    finally:
        d.stop()


def test_getent_through_dnsmasq_forwarding_zone(world, resolv):
    reg = world.reg
    name = "fwd-%s-%04x" % (resolv, random.getrandbits(16))
    fqdn = name + ".service.local"
    net = random.randint(1, 254)
    a1, a2, bad = ("127.62.%d.1" % net, "127.62.%d.2" % net,
                   "127.62.%d.3" % net)
    reg.register(name + "-1", name, a1, 8001)
    reg.register(name + "-2", name, a2, 8002)
    reg.register(name + "-3", name, bad, 8003, status="critical")
    world.wait_srv_addrs(fqdn, [a1, a2])

    assert world.getent(fqdn, resolv, nameserver=DNSMASQ) == [a1, a2]
    assert world.getent(OUTSIDE_NAME, resolv, nameserver=DNSMASQ) == \
        [OUTSIDE_ADDR]
    # SRV through the forwarder: ports and targets from Consul.
    p = world.dig("+short", "_%s._tcp.service.local" % name, "SRV",
                  server=DNSMASQ)
    assert sorted(p.stdout.splitlines()) == sorted(
        "1 1 %d %s.addr.service.local." % (port, hex_label(a))
        for a, port in ((a1, 8001), (a2, 8002))), p.stdout
