# SPDX-License-Identifier: MIT
"""benchlib.py -- shared plumbing for bench/run, bench/freshness, bench/scale.

Owns:   free loopback ports, starting and stopping processes by PID (each in
        its own session, so a server's children are stopped with it), a
        `consul agent -dev` on loopback, srvshimd, building srvshimd and the
        trivial responder, /proc readings (CPU of a process tree, RSS),
        Debian packages the benchmarks need, medians.
Never:  kills anything it did not start; never touches system services.

Paths: the repository is the parent of this file's folder; the shared
folder (PERF-ANCHORS.md, bench/echo.c) is ../shared beside the repository,
as CI lays it out.
"""

import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)


def _shared():
    """../shared beside the repository (CI's layout); a git worktree under
    wt/ of the main checkout finds it one level further up. SRVSHIM_SHARED
    overrides."""
    if os.environ.get("SRVSHIM_SHARED"):
        return os.environ["SRVSHIM_SHARED"]
    for up in (("..",), ("..", "..")):
        d = os.path.normpath(os.path.join(REPO, *up, "shared"))
        if os.path.isdir(d):
            return d
    return os.path.normpath(os.path.join(REPO, "..", "shared"))


SHARED = _shared()
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def die(msg):
    log(msg)
    sys.exit(2)


# ---- packages and builds ----------------------------------------------------

def ensure_packages(pkgs):
    """apt-get installs the Debian packages whose command is missing.
    pkgs: {command: package}."""
    missing = sorted({p for cmd, p in pkgs.items() if shutil.which(cmd) is None})
    if not missing:
        return
    if os.geteuid() != 0:
        die("missing %s; install them (apt-get install %s)"
            % (", ".join(missing), " ".join(missing)))
    log("installing " + " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends"]
                       + missing, env=env, stdout=subprocess.DEVNULL)
    if r.returncode != 0:
        subprocess.run(["apt-get", "update"], env=env,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends"]
                       + missing, env=env, stdout=subprocess.DEVNULL,
                       check=True)


def build_srvshimd():
    """Builds srvshimd in the repository (configure first when needed);
    returns its path."""
    if not os.path.exists(os.path.join(REPO, "Makefile")):
        log("configuring the tree")
        subprocess.run("autoreconf -fi && ./configure", shell=True, cwd=REPO,
                       check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["make", "-j2", "srvshimd", "src/libsrvshim.a"], cwd=REPO,
                   check=True, stdout=subprocess.DEVNULL)
    return os.path.join(REPO, "srvshimd")


def build_echo(workdir):
    """Compiles the trivial responder from ../shared/bench/echo.c."""
    src = os.path.join(SHARED, "bench", "echo.c")
    if not os.path.exists(src):
        die("%s is missing: the trivial responder (the harness ceiling) "
            "comes from the shared folder beside the repository; without "
            "it there is no ceiling to compare with, so stopping" % src)
    out = os.path.join(workdir, "echo")
    subprocess.run(["cc", "-O2", "-Wall", "-pthread", "-o", out, src],
                   check=True)
    return out


def consul_path():
    return os.environ.get("CONSUL") or shutil.which("consul") or \
        "/usr/local/bin/consul"


# ---- ports ------------------------------------------------------------------

_handed = set()


def _can_bind(port, kind):
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port():
    """A loopback port free for UDP and TCP, never handed out twice."""
    for _ in range(2000):
        port = random.randint(33000, 60000)
        if port in _handed:
            continue
        if _can_bind(port, socket.SOCK_DGRAM) and \
                _can_bind(port, socket.SOCK_STREAM):
            _handed.add(port)
            return port
    raise RuntimeError("no free loopback port")


# ---- processes --------------------------------------------------------------

_procs = []


class Proc:
    """One started process, in its own session; stop() ends it by PID."""

    def __init__(self, name, argv, workdir, env=None, cpus=None):
        self.name = name
        self.log_path = os.path.join(workdir, name + ".log")
        if cpus is not None:
            argv = ["taskset", "-c", cpus] + list(argv)
        self.logf = open(self.log_path, "wb")
        self.t_start = time.monotonic()
        self.p = subprocess.Popen(argv, stdout=self.logf,
                                  stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=env,
                                  start_new_session=True)
        self.pid = self.p.pid
        _procs.append(self)

    def alive(self):
        return self.p.poll() is None

    def log_tail(self, n=2000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout=10):
        if self.p.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                # The session we created holds the children too.
                os.killpg(self.pid, signal.SIGKILL)
                self.p.wait(5)
            except ProcessLookupError:
                pass
        # A forking server (NSD) may leave children in our session.
        try:
            os.killpg(self.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
        self.logf.close()
        if self in _procs:
            _procs.remove(self)


def stop_all():
    for p in list(reversed(_procs)):
        try:
            p.stop()
        except Exception as e:  # keep stopping the others
            log("stopping %s: %s" % (p.name, e))


def _children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def tree_pids(pid):
    kids = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def _stat_fields(pid):
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    return st[st.rindex(")") + 2:].split()


def tree_cpu_s(pid):
    """utime+stime of a process and its descendants (all threads), seconds.
    The root is the server itself or a `taskset` that exec'd it."""
    total = 0
    for p in tree_pids(pid):
        try:
            f = _stat_fields(p)
        except OSError:
            continue
        total += int(f[11]) + int(f[12])  # utime, stime (fields 14, 15)
    return total / CLK_TCK


def _tree_status_kib(pid, field):
    """The sum of one /proc/PID/status field (in kB) over a process tree."""
    total = 0
    for p in tree_pids(pid):
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith(field):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def tree_rss_kib(pid):
    """Resident set of a process tree: the sum of VmRSS (KiB)."""
    return _tree_status_kib(pid, "VmRSS:")


def tree_rss_anon_kib(pid):
    """The private part of tree_rss_kib(): RssAnon (heap, stacks, buffers),
    without the file-backed pages of the binary and shared libraries."""
    return _tree_status_kib(pid, "RssAnon:")


def tree_thread_ids(pid):
    out = []
    for p in tree_pids(pid):
        try:
            out.extend(int(t) for t in os.listdir("/proc/%d/task" % p))
        except OSError:
            pass
    return out


def pin_tree(pid, cpus):
    """Re-pins every thread of a process tree (knotd pins its own)."""
    for t in tree_thread_ids(pid):
        subprocess.run(["taskset", "-p", "-c", cpus, str(t)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def poll(fn, timeout, interval=0.02, what="condition"):
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise RuntimeError("timed out waiting for " + what)
        time.sleep(interval)


# ---- DNS, minimal ------------------------------------------------------------

def dns_query_packet(name, qtype, qid=None):
    qid = random.randint(0, 65535) if qid is None else qid
    pkt = bytearray(qid.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00"
                    b"\x00\x00\x00\x00")
    for label in name.rstrip(".").split("."):
        pkt += bytes([len(label)]) + label.encode()
    pkt += b"\x00" + qtype.to_bytes(2, "big") + b"\x00\x01"
    return bytes(pkt)


def dns_rcode_ancount(port, name, qtype=1, timeout=0.5):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(dns_query_packet(name, qtype), ("127.0.0.1", port))
        data, _ = s.recvfrom(65535)
        return data[3] & 15, int.from_bytes(data[6:8], "big")
    except OSError:
        return None, 0
    finally:
        s.close()


# ---- Consul -------------------------------------------------------------------

class Consul(Proc):
    """`consul agent -dev` on loopback, every port free; GOMAXPROCS and CPU
    pinning as the caller says."""

    def __init__(self, workdir, cpus=None, gomaxprocs=None,
                 log_level="info"):
        self.ports = {k: free_port() for k in
                      ("http", "dns", "serf_lan", "serf_wan", "server",
                       "grpc")}
        self.http_addr = "127.0.0.1:%d" % self.ports["http"]
        self.url = "http://" + self.http_addr
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("CONSUL_")}
        if gomaxprocs:
            env["GOMAXPROCS"] = str(gomaxprocs)
        p = self.ports
        argv = [consul_path(), "agent", "-dev", "-bind", "127.0.0.1",
                "-client", "127.0.0.1",
                "-http-port", str(p["http"]), "-dns-port", str(p["dns"]),
                "-serf-lan-port", str(p["serf_lan"]),
                "-serf-wan-port", str(p["serf_wan"]),
                "-server-port", str(p["server"]),
                "-grpc-port", str(p["grpc"]),
                "-log-level", log_level, "-node", "bench"]
        super().__init__("consul", argv, workdir, env=env, cpus=cpus)
        self.wait_ready()

    def api(self, method, path, body=None, timeout=30):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data,
                                     method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=timeout) as r:
            text = r.read()
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError:
            return text.decode()

    def wait_ready(self, timeout=60):
        def ready():
            if not self.alive():
                raise RuntimeError("consul exited: " + self.log_tail())
            try:
                if not self.api("GET", "/v1/status/leader"):
                    return False
                return self.api("GET",
                                "/v1/health/service/consul?passing=1")
            except OSError:
                return False
        poll(ready, timeout, 0.1, "consul agent ready")


class Srvshim(Proc):
    def __init__(self, binary, workdir, consul, port, cpus=None, extra=(),
                 name="srvshimd"):
        argv = [binary, "--listen", "127.0.0.1:%d" % port,
                "--consul", consul.http_addr] + list(extra)
        self.port = port
        super().__init__(name, argv, workdir, cpus=cpus)

    def wait_synced(self, name, timeout=30):
        def ok():
            if not self.alive():
                raise RuntimeError("srvshimd exited: " + self.log_tail())
            rc, an = dns_rcode_ancount(self.port, name)
            return rc == 0 and an > 0
        poll(ok, timeout, 0.01, "srvshimd first sync")


# ---- numbers ------------------------------------------------------------------

def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def percentile(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    k = max(0, min(len(xs) - 1, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]


def workdir(prefix):
    return tempfile.mkdtemp(prefix=prefix)
