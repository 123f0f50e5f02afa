# SPDX-License-Identifier: MIT
"""toolutil.py -- helpers for the tests of the `srvshim` tool and the seed.

Owns:  finding the srvshim binary ($SRVSHIM) and the seed programs
       ($SEED_DIR), running `srvshim register` as a child (Sidecar), running
       `srvshim lookup` to completion, reading an agent's view of checks and
       services, a tiny HTTP server whose status the test sets (a health
       endpoint to probe), a path-aware Consul proxy that can fail the
       watch's reads while passing the agent's writes, and plain HTTP GETs.
Never: starting Consul or srvshimd (conftest.py does)."""

import http.server
import os
import re
import subprocess
import threading
import urllib.error
import urllib.request

import pytest

import conftest
import dnsutil


def srvshim_path():
    return os.environ.get("SRVSHIM") or os.path.join(conftest.REPO, "srvshim")


def seed_path(name):
    d = os.environ.get("SEED_DIR") or os.path.join(conftest.REPO, "examples",
                                                   "seed")
    path = os.path.join(d, name)
    if not os.access(path, os.X_OK):
        pytest.fail("%s not built (make check builds it; set SEED_DIR)"
                    % path)
    return path


def _need_srvshim():
    path = srvshim_path()
    if not os.access(path, os.X_OK):
        pytest.fail("srvshim not found or not executable at %s (set SRVSHIM, "
                    "or build it first)" % path)
    return path


def run_srvshim(*args, timeout=20, env=None):
    """Runs srvshim to completion: CompletedProcess (text)."""
    return subprocess.run([_need_srvshim()] + [str(a) for a in args],
                          stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout,
                          env=conftest._clean_env(env))


def lookup(server, *args, **kw):
    """`srvshim lookup --server 127.0.0.1:PORT ARGS...` against a
    conftest.Srvshimd."""
    return run_srvshim("lookup", "--server", "127.0.0.1:%d" % server.port4,
                       *args, **kw)


class Sidecar(conftest.Proc):
    """`srvshim register ARGS [-- COMMAND...]` as a child process."""

    def __init__(self, workdir, name="sidecar"):
        super().__init__(workdir, name)

    def start(self, consul_addr, args, command=None, env=None):
        argv = [_need_srvshim(), "register", "--consul", consul_addr,
                "--log-level", "debug"] + [str(a) for a in args]
        if command:
            argv += ["--"] + [str(c) for c in command]
        self.spawn(argv, env=conftest._clean_env(env))
        return self

    def instance_id(self, timeout=10):
        """The ID it logged: '<name>-<uuid>'."""
        def logged():
            m = re.search(r"register: instance (\S+?)[,\s]", self.log_text())
            return m.group(1) if m else None
        return dnsutil.poll(logged, timeout=timeout,
                                     what="sidecar logged its instance ID")

    def wait(self, timeout=15):
        return self.proc.wait(timeout)


@pytest.fixture
def new_sidecar(tmp_path):
    """Factory: new_sidecar(consul_addr, args, command=None, env=None)."""
    started = []

    def make(consul_addr, args, command=None, env=None):
        s = Sidecar(tmp_path / ("sidecar%d" % len(started)),
                    "sidecar%d" % len(started))
        started.append(s)
        return s.start(consul_addr, args, command, env)
    yield make
    for s in started:
        s.stop()


# ---- what the agent says ----------------------------------------------------


def agent_checks(agent):
    """The agent's own view of its checks: {CheckID: check}. Output here is
    current; the catalog may hold an output-only change back for Consul's
    check_update_interval (5 min)."""
    return agent.api("GET", "/v1/agent/checks") or {}


def agent_check(agent, instance_id):
    return agent_checks(agent).get("service:" + instance_id)


def agent_services(agent):
    return agent.api("GET", "/v1/agent/services") or {}


def health(agent, service):
    """The catalog's /v1/health/service/<service> list."""
    return agent.api("GET", "/v1/health/service/" + service) or []


def deregister_quietly(agent, instance_id):
    try:
        agent.api("PUT", "/v1/agent/service/deregister/" + instance_id)
    except (urllib.error.URLError, OSError):
        pass


# ---- HTTP -----------------------------------------------------------------


def http_get(url, timeout=5):
    """(status, body text); status 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e)


class HealthServer:
    """An HTTP server on 127.0.0.1 whose every GET answers self.status with
    self.body; for --check-http."""

    def __init__(self, status=200, body="ok"):
        self.status, self.body = status, body
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                data = outer.body.encode()
                self.send_response(outer.status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.port = conftest.free_port()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port),
                                                     Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/health" % self.port

    def set(self, status, body):
        self.status, self.body = status, body

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class ConsulProxy:
    """Forwards HTTP to a real agent. While `break_reads` is set, GETs of
    /v1/catalog/ and /v1/health/ (what srvshimd's watch reads) answer 500,
    and the agent's own API (/v1/agent/, what a sidecar writes) still goes
    through: one agent, and a watch that has lost it."""

    FORWARD_HEADERS = ("X-Consul-Index", "X-Consul-Knownleader",
                       "X-Consul-Lastcontact", "Content-Type")

    def __init__(self, agent):
        self.agent = agent
        self.break_reads = False
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self, method):
                n = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(n) if n else None
                if outer.break_reads and method == "GET" and (
                        self.path.startswith("/v1/catalog/") or
                        self.path.startswith("/v1/health/")):
                    return self._send(500, {}, b"proxy: reads broken\n")
                req = urllib.request.Request(outer.agent.url + self.path,
                                             data=data, method=method)
                tok = self.headers.get("X-Consul-Token")
                if tok:
                    req.add_header("X-Consul-Token", tok)
                if data is not None:
                    req.add_header("Content-Type", "application/json")
                try:
                    with urllib.request.urlopen(req, timeout=700) as r:
                        self._send(r.status, r.headers, r.read())
                except urllib.error.HTTPError as e:
                    self._send(e.code, e.headers, e.read())
                except (urllib.error.URLError, OSError):
                    self._send(502, {}, b"proxy: agent unreachable\n")

            def _send(self, status, headers, body):
                self.send_response(status)
                for h in outer.FORWARD_HEADERS:
                    v = headers.get(h) if headers else None
                    if v is not None:
                        self.send_header(h, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self._forward("GET")

            def do_PUT(self):
                self._forward("PUT")

            def log_message(self, *a):
                pass

        self.port = conftest.free_port()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port),
                                                     Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()

    @property
    def http_addr(self):
        return "127.0.0.1:%d" % self.port

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
