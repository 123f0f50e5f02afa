# SPDX-License-Identifier: MIT
"""conftest.py -- a real `consul agent -dev` and srvshimd on free loopback ports.

Owns:  picking free ports, starting/stopping Consul agents and srvshimd by PID
       (terminate -> wait -> kill; never by name), registering services through
       Consul's HTTP API, and showing the daemons' logs when a test fails.
Fixtures:
  consul_agent   session: one dev agent shared by most tests
  consul         function: a Registrar on that agent; deregisters at teardown
  srv            function: the session srvshimd (default flags), checked alive
  new_consul     function: factory for a private agent (outage tests)
  new_srvshimd   function: factory for a srvshimd with extra flags
  uniq           function: factory for unique service names
Memory checking: with SRVSHIM_VALGRIND=1 every srvshimd daemon runs under
valgrind memcheck and must exit 0 (not 99: errors or leaks) when stopped; a
sanitizer build (configure --enable-sanitizers) must leave no ASan, LSan or
UBSan report in the daemon's log. Either failure fails the test that stops it.
Start reading at Consul and Srvshimd."""

import atexit
import itertools
import json
import os
import random
import signal
import socket
import subprocess
import urllib.error
import urllib.request

import dns.exception
import dns.rcode
import pytest

import dnsutil

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
ZONE = "service.local"
NODE = "srvshim-test"
CHECK_TTL = "60m"  # long: a check only changes when a test changes it

# Every process this session started, for the failure report and a last
# cleanup; stopped by PID only.
_LIVE = []


def srvshimd_path():
    return os.environ.get("SRVSHIMD") or os.path.join(REPO, "srvshimd")


def consul_path():
    return os.environ.get("CONSUL") or "consul"


# ---- memory checking ------------------------------------------------------

VALGRIND = os.environ.get("SRVSHIM_VALGRIND", "") not in ("", "0")
VALGRIND_ERROR = 99
# Start-up and shutdown take several times longer under valgrind.
SLOW = 4 if VALGRIND else 1
SANITIZER_REPORTS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                     "runtime error:", "WARNING: ThreadSanitizer")


def memcheck_argv():
    if not VALGRIND:
        return []
    return ["valgrind", "-q", "--error-exitcode=%d" % VALGRIND_ERROR,
            "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
            "--show-leak-kinds=definite,indirect", "--track-fds=no"]


def sanitizer_env(env):
    """Defaults that make a sanitizer report fatal and leaks counted."""
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
    return env


def sanitizer_report(text):
    """The first line of a sanitizer report in text, or None."""
    for line in text.splitlines():
        if any(m in line for m in SANITIZER_REPORTS):
            return line
    return None


# ---- ports ----------------------------------------------------------------

_handed_out = set()


def _can_bind(host, port, kind):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, kind)
    try:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port(hosts=("127.0.0.1",)):
    """A port free for both UDP and TCP on every host given, never handed
    out before in this session. Chosen below the kernel's ephemeral range so
    that outgoing connections (srvshimd -> Consul) cannot take it."""
    for _ in range(1000):
        port = random.randint(20000, 32000)
        if port in _handed_out:
            continue
        if all(_can_bind(h, port, k) for h in hosts
               for k in (socket.SOCK_STREAM, socket.SOCK_DGRAM)):
            _handed_out.add(port)
            return port
    raise RuntimeError("no free loopback port found")


# ---- processes ------------------------------------------------------------


class Proc:
    """A child process with its combined output in a log file."""

    name = "proc"

    def __init__(self, workdir, name):
        self.name = name
        self.workdir = str(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.log_path = os.path.join(self.workdir, name + ".log")
        self.proc = None

    def spawn(self, argv, env=None):
        self.argv = argv
        with open(self.log_path, "ab") as log:
            log.write(("+ %s\n" % " ".join(argv)).encode())
            log.flush()
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env=env, start_new_session=True)
        _LIVE.append(self)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines=60):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signals by PID, waits, kills if needed. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self in _LIVE:
            _LIVE.remove(self)
        return self.proc.returncode

    def kill(self):
        return self.stop(signal.SIGKILL)


def _stop_all():
    for p in list(_LIVE):
        try:
            p.stop(timeout=5)
        except BaseException:  # noqa: BLE001 -- best effort at exit
            pass


atexit.register(_stop_all)


def _on_sigterm(signum, frame):
    # `timeout` (or CI) ending the run: unwind like ^C so fixtures stop
    # their processes, instead of leaving agents and daemons behind.
    raise KeyboardInterrupt("SIGTERM")


signal.signal(signal.SIGTERM, _on_sigterm)


# ---- Consul ---------------------------------------------------------------


class Consul(Proc):
    """One `consul agent -dev` on loopback, every port chosen free."""

    api_headers = {}  # sent with every api() call (a token, say)

    def __init__(self, workdir, name="consul", ports=None, extra=()):
        super().__init__(workdir, name)
        self.extra = list(extra)
        self.ports = ports or {k: free_port() for k in
                               ("http", "dns", "serf_lan", "serf_wan",
                                "server", "grpc")}
        self.http_addr = "127.0.0.1:%d" % self.ports["http"]
        self.url = "http://" + self.http_addr

    def start(self, timeout=60):
        p = self.ports
        self.spawn([consul_path(), "agent", "-dev",
                    "-bind", "127.0.0.1", "-client", "127.0.0.1",
                    "-http-port", str(p["http"]), "-dns-port", str(p["dns"]),
                    "-serf-lan-port", str(p["serf_lan"]),
                    "-serf-wan-port", str(p["serf_wan"]),
                    "-server-port", str(p["server"]),
                    "-grpc-port", str(p["grpc"]),
                    "-log-level", "warn", "-node", NODE] + self.extra,
                   env=_clean_env())
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=60):
        def ready():
            if not self.alive():
                raise RuntimeError("consul exited: %s" % self.log_tail())
            if not self.api("GET", "/v1/status/leader"):
                return False
            self.api("GET", "/v1/agent/self")
            node = self.api("GET", "/v1/catalog/node/" + NODE)
            if not node or "consul" not in (node.get("Services") or {}):
                return False
            return self.api("GET", "/v1/health/service/consul?passing=1")
        try:
            dnsutil.poll(ready, timeout=timeout, interval=0.1,
                         what="consul agent ready")
        except AssertionError as e:
            raise AssertionError("%s\n--- %s ---\n%s"
                                 % (e, self.log_path, self.log_tail()))

    def api(self, method, path, body=None, timeout=10):
        """One HTTP call; returns parsed JSON (None for an empty body).
        Raises on any status other than 200."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in self.api_headers.items():
            req.add_header(k, v)
        with urllib.request.urlopen(req, timeout=timeout) as r:
            text = r.read()
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError:
            return text.decode()


def _clean_env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSUL_")}
    env.update(extra or {})
    return env


class Registrar:
    """Registers services on one agent and removes them all at cleanup()."""

    def __init__(self, agent):
        self.agent = agent
        self.services = []   # agent service IDs
        self.nodes = []      # catalog-only nodes

    @property
    def url(self):
        return self.agent.url

    def api(self, *a, **kw):
        return self.agent.api(*a, **kw)

    def register(self, sid, name, address=None, port=80, tags=None,
                 meta=None, weights=None, status="passing", checks=None):
        """Agent-registers one instance with a TTL check whose CheckID is
        service:<sid> and whose initial status is `status` (None: no check
        at all; an unchecked instance is healthy). `checks` replaces it
        with an explicit Checks list."""
        body = {"ID": sid, "Name": name, "Port": port}
        if address is not None:
            body["Address"] = address
        if tags:
            body["Tags"] = list(tags)
        if meta:
            body["Meta"] = dict(meta)
        if weights:
            body["Weights"] = dict(weights)
        if checks is not None:
            body["Checks"] = checks
        elif status is not None:
            body["Check"] = {"CheckID": "service:" + sid, "Name": sid + " ttl",
                             "TTL": CHECK_TTL, "Status": status,
                             "DeregisterCriticalServiceAfter": "90m"}
        self.api("PUT", "/v1/agent/service/register", body)
        if sid not in self.services:
            self.services.append(sid)
        return sid

    def register_many(self, name, addresses, port=9000, **kw):
        """One instance per address, IDs <name>-<i>, ports port+i."""
        ids = []
        for i, a in enumerate(addresses):
            ids.append(self.register("%s-%d" % (name, i), name, a,
                                     port + i, **kw))
        return ids

    def deregister(self, sid):
        self.api("PUT", "/v1/agent/service/deregister/" + sid)
        if sid in self.services:
            self.services.remove(sid)

    def _check(self, what, sid, note=""):
        self.api("PUT", "/v1/agent/check/%s/service:%s?note=%s"
                 % (what, sid, note or what))

    def passing(self, sid):
        self._check("pass", sid)

    def warning(self, sid):
        self._check("warn", sid)

    def critical(self, sid):
        self._check("fail", sid)

    def maintenance(self, sid, enable=True):
        self.api("PUT", "/v1/agent/service/maintenance/%s?enable=%s&reason=test"
                 % (sid, "true" if enable else "false"))

    def catalog_node(self, node, address, services, node_status="passing"):
        """Catalog-registers (no agent) a node with a node-level check of the
        given status and services given as Consul Service dicts. Calling it
        again with another status changes the node check."""
        for svc in services:
            body = {"Node": node, "Address": address, "Service": svc,
                    "Checks": [{"Node": node, "CheckID": "node-health",
                                "Name": "node health",
                                "Status": node_status}]}
            self.api("PUT", "/v1/catalog/register", body)
        if node not in self.nodes:
            self.nodes.append(node)

    def catalog_deregister(self, node):
        self.api("PUT", "/v1/catalog/deregister", {"Node": node})
        if node in self.nodes:
            self.nodes.remove(node)

    def cleanup(self):
        for sid in list(self.services):
            try:
                self.deregister(sid)
            except (urllib.error.URLError, OSError):
                pass
        for node in list(self.nodes):
            try:
                self.catalog_deregister(node)
            except (urllib.error.URLError, OSError):
                pass


# ---- srvshimd -------------------------------------------------------------


class Srvshimd(Proc):
    """srvshimd on a free 127.0.0.1 port and a free [::1] port."""

    zone = ZONE

    def __init__(self, workdir, consul_addr, args=(), name="srvshimd",
                 env=None, zone=ZONE, use_consul_flag=True):
        super().__init__(workdir, name)
        self.port4 = free_port(("127.0.0.1",))
        self.port6 = free_port(("::1",))
        self.zone = zone
        self.consul_addr = consul_addr
        self.args = list(args)
        self.env = env
        self.use_consul_flag = use_consul_flag

    def argv_for_start(self):
        argv = [srvshimd_path(),
                "--listen", "127.0.0.1:%d" % self.port4,
                "--listen", "[::1]:%d" % self.port6,
                "--log-level", "debug"]
        if self.use_consul_flag and self.consul_addr:
            argv += ["--consul", self.consul_addr]
        if self.zone != ZONE:
            argv += ["--zone", self.zone]
        return argv + self.args

    def start(self, wait="synced", timeout=20):
        path = srvshimd_path()
        if not os.access(path, os.X_OK):
            pytest.fail("srvshimd not found or not executable at %s "
                        "(set SRVSHIMD, or build it first)" % path)
        timeout *= SLOW
        self.spawn(memcheck_argv() + self.argv_for_start(),
                   env=sanitizer_env(_clean_env(self.env)))
        if wait == "synced":
            self.wait_synced(timeout)
        elif wait == "answering":
            self.wait_answering(timeout)
        return self

    def addr(self, v6=False):
        return ("::1", self.port6) if v6 else ("127.0.0.1", self.port4)

    def q(self, name, rdtype="A", **kw):
        """Query; a relative name is put under the zone."""
        return dnsutil.query(self, self.fqdn(name), rdtype, **kw)

    def fqdn(self, name):
        if name == "@":
            return self.zone + "."
        if name.endswith("."):
            return name
        return name + "." + self.zone + "."

    def _alive_or_fail(self):
        if not self.alive():
            raise AssertionError("srvshimd exited with %s:\n%s"
                                 % (self.proc.returncode, self.log_tail()))

    def wait_answering(self, timeout=20):
        """Until the SOA query gets any reply at all; returns it."""
        def answered():
            self._alive_or_fail()
            try:
                return self.q("@", "SOA", timeout=0.5)
            except (dns.exception.Timeout, OSError):
                return None
        return self._poll(answered, timeout, "srvshimd answering")

    def wait_synced(self, timeout=20):
        def synced():
            self._alive_or_fail()
            try:
                r = self.q("@", "SOA", timeout=0.5)
            except (dns.exception.Timeout, OSError):
                return None
            return r if r.rcode() == dns.rcode.NOERROR and r.answer else None
        return self._poll(synced, timeout, "srvshimd synced (SOA NOERROR)")

    def _poll(self, fn, timeout, what):
        try:
            return dnsutil.poll(fn, timeout=timeout, interval=0.05, what=what)
        except AssertionError as e:
            raise AssertionError("%s\n--- %s ---\n%s"
                                 % (e, self.log_path, self.log_tail()))

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """As Proc.stop; then fails the test on a memory error: a sanitizer
        report in the log, or valgrind's error exit after a clean stop."""
        was_running = self.alive()
        rc = super().stop(sig, timeout * SLOW)
        report = sanitizer_report(self.log_text())
        if report:
            pytest.fail("srvshimd (pid %s): sanitizer report: %s\n%s"
                        % (self.pid, report, self.log_tail(40)))
        if VALGRIND and was_running and sig in (signal.SIGTERM,
                                                signal.SIGINT) \
                and rc == VALGRIND_ERROR:
            pytest.fail("srvshimd (pid %s): valgrind found errors or "
                        "leaks:\n%s" % (self.pid, self.log_tail(60)))
        return rc

    def serial(self):
        r = self.q("@", "SOA")
        assert r.rcode() == dns.rcode.NOERROR, dnsutil.describe(r)
        return dnsutil.rrs(r, "SOA")[0].serial


# ---- failure reports ------------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for p in list(_LIVE):
            state = "running" if p.alive() else \
                "exited %s" % p.proc.returncode
            rep.sections.append(("%s (pid %s, %s) %s"
                                  % (p.name, p.pid, state, p.log_path),
                                  p.log_tail(60 if isinstance(p, Srvshimd)
                                             else 20)))


# ---- fixtures -------------------------------------------------------------


@pytest.fixture(scope="session")
def consul_agent(tmp_path_factory):
    agent = Consul(tmp_path_factory.mktemp("consul"), "consul")
    agent.start()
    yield agent
    agent.stop()


@pytest.fixture
def consul(consul_agent):
    """A Registrar on the session agent; all it registered goes at teardown."""
    reg = Registrar(consul_agent)
    yield reg
    reg.cleanup()


_session_srv = {}


@pytest.fixture(scope="session")
def _srvshimd_session(consul_agent, tmp_path_factory):
    d = Srvshimd(tmp_path_factory.mktemp("srvshimd"), consul_agent.http_addr)
    d.start()
    _session_srv["d"] = d
    yield
    d = _session_srv.pop("d")
    d.stop()


@pytest.fixture
def srv(_srvshimd_session, consul_agent, tmp_path_factory):
    """The shared srvshimd (default flags). If a test leaves it dead, that
    test fails and the next one gets a fresh daemon."""
    d = _session_srv["d"]
    if not d.alive():
        d.stop()
        d = Srvshimd(tmp_path_factory.mktemp("srvshimd"), consul_agent.http_addr)
        d.start()
        _session_srv["d"] = d
    yield d
    if not d.alive():
        pytest.fail("srvshimd died during the test (exit %s):\n%s"
                    % (d.proc.returncode, d.log_tail()))


@pytest.fixture
def new_consul(tmp_path):
    """Factory: new_consul(ports=None, start=True, name=None, extra=())
    makes a private dev agent (extra: more `consul agent` arguments)."""
    started = []

    def make(ports=None, start=True, name=None, extra=()):
        a = Consul(tmp_path / ("consul%d" % len(started)),
                   name or "consul%d" % len(started), ports, extra)
        started.append(a)
        if start:
            a.start()
        return a
    yield make
    for a in started:
        a.stop()


@pytest.fixture
def new_srvshimd(tmp_path, consul_agent):
    """Factory: new_srvshimd(*flags, consul=addr, wait='synced'|'answering'|None,
    env=..., zone=...) starts a private srvshimd (stopped at teardown)."""
    started = []

    def make(*args, consul=None, wait="synced", env=None, zone=ZONE,
             use_consul_flag=True, timeout=20):
        d = Srvshimd(tmp_path / ("srvshimd%d" % len(started)),
                     consul if consul is not None else consul_agent.http_addr,
                     args, name="srvshimd%d" % len(started), env=env,
                     zone=zone, use_consul_flag=use_consul_flag)
        started.append(d)
        d.start(wait=wait, timeout=timeout)
        return d
    yield make
    for d in started:
        d.stop()


_counter = itertools.count(1)


@pytest.fixture
def uniq():
    """uniq('data') -> 'data-7k3f': a service name no other test uses."""
    def make(prefix="svc"):
        return "%s-%d%04x" % (prefix, next(_counter), random.getrandbits(16))
    return make


def run_srvshimd(*args, timeout=10, env=None):
    """Runs srvshimd to completion (for flag checks): CompletedProcess."""
    path = srvshimd_path()
    if not os.access(path, os.X_OK):
        pytest.fail("srvshimd not found or not executable at %s" % path)
    p = subprocess.run([path] + list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=timeout * SLOW,
                       env=sanitizer_env(_clean_env(env)))
    report = sanitizer_report(p.stderr)
    if report:
        pytest.fail("srvshimd %s: sanitizer report: %s\n%s"
                    % (" ".join(args), report, p.stderr[-4000:]))
    return p
