# SPDX-License-Identifier: MIT
"""lb.py -- real HTTP backends behind sidecars, HAProxy and nginx, for the
proxy tests (test_haproxy.py, test_nginx.py) and bench/death.

Owns:  starting backends (backend.py) under a sidecar (`srvshim register`
       `srvshim register`, the real sidecar), starting
       HAProxy and nginx from the examples/ configs with test ports put in,
       HAProxy's stats socket, plain HTTP GETs.
Never: Consul or srvshimd themselves (conftest.py), DNS (dnsutil.py).
Every process is stopped by PID (conftest.Proc)."""

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import conftest
import dnsutil

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(conftest.REPO, "examples")


# ---- the sidecar ----------------------------------------------------------


def srvshim_tool():
    """The `srvshim` binary (env SRVSHIM, else next to srvshimd, else the
    tree's); fails loudly when it is not built."""
    cands = [os.environ.get("SRVSHIM"),
             os.path.join(os.path.dirname(conftest.srvshimd_path()), "srvshim"),
             os.path.join(conftest.REPO, "srvshim")]
    for c in cands:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    raise RuntimeError("srvshim (the sidecar) is not built: run make, or "
                       "set SRVSHIM")


def sidecar_kind():
    return "srvshim register"


def sidecar_argv(consul_addr, name, port, address=None, tags=(), ttl="10s",
                 deregister_after="1m", weight=None, command=()):
    argv = [srvshim_tool(), "register"]
    argv += ["--consul", consul_addr, "--name", name, "--port", str(port),
             "--ttl", ttl, "--deregister-after", deregister_after]
    if address:
        argv += ["--address", address]
    for t in tags:
        argv += ["--tag", t]
    if weight is not None:
        argv += ["--weight", str(weight)]
    if command:
        argv += ["--"] + list(command)
    return argv


class Backend:
    """backend.py answering its ident on address:port, wrapped by a sidecar
    that registers it as service `name`. `sidecar` is the conftest.Proc."""

    def __init__(self, workdir, consul_addr, name, ident, port=None,
                 address="127.0.0.1", ttl="10s", deregister_after="1m",
                 weight=None, sidecar=True):
        self.workdir = str(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.name, self.ident, self.address = name, ident, address
        self.port = port or conftest.free_port((address,))
        self.pidfile = os.path.join(self.workdir, ident + ".pid")
        cmd = [sys.executable, os.path.join(HERE, "backend.py"),
               "--id", ident, "--bind", address, "--port", str(self.port),
               "--pidfile", self.pidfile]
        if sidecar:
            cmd = sidecar_argv(consul_addr, name, self.port, address,
                               ttl=ttl, deregister_after=deregister_after,
                               weight=weight, command=cmd)
        self.proc = conftest.Proc(self.workdir, "sidecar-" + ident
                                  if sidecar else "backend-" + ident)
        self.consul_addr = consul_addr
        self._argv = cmd

    def start(self, timeout=10):
        if os.path.exists(self.pidfile):
            os.unlink(self.pidfile)
        self.proc.spawn(self._argv, env=conftest._clean_env())
        dnsutil.poll(self.listening, timeout=timeout, interval=0.02,
                     what="backend %s listening" % self.ident)
        return self

    def listening(self):
        if not self.proc.alive():
            raise AssertionError("%s exited: %s" % (self.proc.name,
                                                    self.proc.log_tail()))
        try:
            return http_get(self.address, self.port, timeout=0.5) == self.ident
        except OSError:
            return False

    @property
    def hostport(self):
        return "%s:%d" % (self.address, self.port)

    def backend_pid(self):
        with open(self.pidfile) as f:
            return int(f.read())

    def backend_alive(self):
        try:
            os.kill(self.backend_pid(), 0)
            return True
        except (ProcessLookupError, FileNotFoundError):
            return False

    def term_command(self):
        """SIGTERM to the sidecar's COMMAND (the backend): it exits at once."""
        os.kill(self.backend_pid(), signal.SIGTERM)

    def kill_sidecar(self):
        """SIGKILL to the sidecar alone: no deregistration, no heartbeat."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.proc.wait(10)

    def kill_backend(self):
        """SIGKILL to the backend (it may have outlived its sidecar)."""
        try:
            os.kill(self.backend_pid(), signal.SIGKILL)
        except (ProcessLookupError, FileNotFoundError):
            pass

    def stop(self):
        """Stops the sidecar (which stops and deregisters the backend), then
        makes sure the backend is gone (it outlives a SIGKILLed sidecar)."""
        self.proc.stop(timeout=10)
        if os.path.exists(self.pidfile) and self.backend_alive():
            self.kill_backend()

    def consul_ids(self, agent):
        """IDs of agent services registered for this address:port."""
        svcs = agent.api("GET", "/v1/agent/services") or {}
        return [sid for sid, s in svcs.items()
                if s.get("Service") == self.name and s.get("Port") == self.port
                and (s.get("Address") or "127.0.0.1") == self.address]


# ---- HTTP -----------------------------------------------------------------


def http_get(host, port, path="/", timeout=2.0):
    """One GET on a fresh connection; returns the body (stripped) of a 200,
    raises OSError (or http.client's errors, which are OSErrors here) for
    anything else."""
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        body = r.read().decode(errors="replace").strip()
        if r.status != 200:
            raise OSError("HTTP %d: %s" % (r.status, body[:200]))
        return body
    except http.client.HTTPException as e:
        raise OSError("HTTP: %r" % e) from e
    finally:
        c.close()


def spread(host, port, count, timeout=2.0):
    """count GETs; returns {body: n} with errors counted under 'ERR'."""
    seen = {}
    for _ in range(count):
        try:
            b = http_get(host, port, timeout=timeout)
        except OSError:
            b = "ERR"
        seen[b] = seen.get(b, 0) + 1
    return seen


# ---- configs --------------------------------------------------------------


def render(src, dst, subs):
    """Copies an example config with each (old, new) of subs replaced; every
    old string must occur, so an example that drifts fails loudly."""
    with open(src) as f:
        text = f.read()
    for old, new in subs:
        assert old in text, "%s no longer contains %r" % (src, old)
        text = text.replace(old, new)
    with open(dst, "w") as f:
        f.write(text)
    return dst


# ---- HAProxy --------------------------------------------------------------


def haproxy_path():
    return os.environ.get("HAPROXY") or shutil.which("haproxy") or \
        "/usr/sbin/haproxy"


class HAProxy(conftest.Proc):
    """HAProxy in the foreground (-db) from examples/haproxy/haproxy.cfg,
    with srvshimd's port, a free frontend port and a private stats socket."""

    def __init__(self, workdir, srv_port, extra="", name="haproxy",
                 subs=()):
        super().__init__(workdir, name)
        self.port = conftest.free_port()
        self.sock = os.path.join(self.workdir, "admin.sock")
        self.cfg = os.path.join(self.workdir, "haproxy.cfg")
        render(os.path.join(EXAMPLES, "haproxy", "haproxy.cfg"), self.cfg,
               [("127.0.0.1:5300", "127.0.0.1:%d" % srv_port),
                ("bind 127.0.0.1:8080", "bind 127.0.0.1:%d" % self.port),
                ("/run/haproxy-srvshim.sock", self.sock)] + list(subs))
        if extra:
            with open(self.cfg, "a") as f:
                f.write("\n" + extra)

    def check_config(self):
        p = subprocess.run([haproxy_path(), "-c", "-f", self.cfg],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, "haproxy -c: %s" % (p.stdout + p.stderr)

    def start(self, timeout=10):
        self.check_config()
        self.spawn([haproxy_path(), "-f", self.cfg, "-db"])
        dnsutil.poll(self._up, timeout=timeout, interval=0.05,
                     what="haproxy stats socket")
        return self

    def _up(self):
        if not self.alive():
            raise AssertionError("haproxy exited: %s" % self.log_tail())
        return self.command("show info").startswith("Name: HAProxy")

    def command(self, line, timeout=2.0):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.sock)
            s.sendall(line.encode() + b"\n")
            out = b""
            while True:
                b = s.recv(65536)
                if not b:
                    break
                out += b
            return out.decode(errors="replace")
        finally:
            s.close()

    def servers(self, backend="www"):
        """`show servers state` as dicts (srv_name, srv_addr, srv_port,
        srv_op_state, srv_admin_state, srv_uweight, ...)."""
        lines = self.command("show servers state " + backend).splitlines()
        head = next(l for l in lines if l.startswith("# be_id"))
        keys = head[2:].split()
        out = []
        for l in lines:
            if not l or l.startswith("#") or not l[0].isdigit() or \
                    len(l.split()) < len(keys):
                continue
            out.append(dict(zip(keys, l.split())))
        return out

    def active(self, backend="www"):
        """{'addr:port': uweight} of the slots HAProxy routes to: filled by
        DNS and not in maintenance. srv_op_state 2 is RUNNING; srv_admin_state
        bit 0x20 (RMAINT) is set while a slot has no DNS record; 0x3F
        covers every maintenance and drain flag."""
        res = {}
        for s in self.servers(backend):
            if int(s["srv_admin_state"]) & 0x3F or s["srv_addr"] == "-":
                continue
            if int(s["srv_op_state"]) != 2:
                continue
            res["%s:%s" % (s["srv_addr"], s["srv_port"])] = \
                int(s["srv_uweight"])
        return res

    def get(self, timeout=2.0):
        return http_get("127.0.0.1", self.port, timeout=timeout)


# ---- nginx ----------------------------------------------------------------


def nginx_path():
    return os.environ.get("NGINX") or shutil.which("nginx") or \
        "/usr/sbin/nginx"


class Nginx(conftest.Proc):
    """nginx (master + one worker, in the foreground) from an examples/nginx
    config with a private prefix, pid file and ports."""

    def __init__(self, workdir, example, subs, name="nginx"):
        super().__init__(workdir, name)
        self.prefix = os.path.join(self.workdir, "prefix")
        for d in ("logs", "tmp"):
            os.makedirs(os.path.join(self.prefix, d), exist_ok=True)
        self.cfg = os.path.join(self.prefix, "nginx.conf")
        render(os.path.join(EXAMPLES, "nginx", example), self.cfg, subs)
        self.globals = "daemon off; pid %s/nginx.pid; error_log stderr notice;" \
            % self.prefix

    def _argv(self, *more):
        return [nginx_path(), "-p", self.prefix + "/", "-c", self.cfg,
                "-e", "stderr", "-g", self.globals] + list(more)

    def check_config(self):
        p = subprocess.run(self._argv("-t"), capture_output=True, text=True,
                           timeout=30)
        assert p.returncode == 0, "nginx -t: %s" % (p.stdout + p.stderr)

    def start(self, port, timeout=10):
        self.check_config()
        self.spawn(self._argv())

        def up():
            if not self.alive():
                raise AssertionError("nginx exited: %s" % self.log_tail())
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return True
            except OSError:
                return False
        dnsutil.poll(up, timeout=timeout, interval=0.05, what="nginx listening")
        return self


def wait_for(fn, timeout, what, interval=0.05):
    """dnsutil.poll with a name; returns fn's truthy value."""
    return dnsutil.poll(fn, timeout=timeout, interval=interval, what=what)


def monotonic():
    return time.monotonic()
