# SPDX-License-Identifier: MIT
"""consul_proxy.py -- a fault-injecting HTTP proxy in front of a real Consul agent.

Owns:  one threaded HTTP/1.1 listener on loopback that forwards every request
       to the real agent unchanged, except for paths matching a fault rule,
       where it produces what the agent will not on demand; per-rule request
       counts; the stalled connections it holds (released on a mode change).
Never: Consul's meaning beyond the X-Consul-Index header and the body as
       bytes; it makes up no catalog data except the empty list `{}`.

Modes (set per path regex with set_fault(); the first matching rule wins):
  pass         forward unchanged (the default; also clears a rule)
  500          HTTP 500 "rpc error making call: No cluster leader"
  429          HTTP 429 with Retry-After: 1 (Consul's per-client limit)
  429_slow     HTTP 429 with Retry-After: 3 (a limiter that asks for more)
  garbage      HTTP 200, the agent's X-Consul-Index, a body that is not JSON
  truncated    HTTP 200, the agent's reply cut in the middle (Content-Length
               matches the cut body: the JSON is what is broken)
  big          HTTP 200, the agent's reply padded with spaces to 50 MB: valid
               JSON, same data, a body under srvshim's 64 MiB cap
  huge         HTTP 200, 80 MB of garbage with no Content-Length (the end is
               the connection's close): over the cap, streamed
  stall        read the request, never answer; the connection is closed
               without a reply when the rule changes or the proxy stops
  index_back   forward, but X-Consul-Index: 1 (an index that went backwards)
  index_2_63   forward, but X-Consul-Index: 9223372036854775808 (2^63)
  index_max    forward, but X-Consul-Index: 18446744073709551615 (2^64-1)
  empty        HTTP 200, the agent's X-Consul-Index, an empty body of the
               path's kind: `{}` for /v1/catalog/services, `[]` for the
               rest (what a token that lost service:read is shown)

Use it in process (ConsulProxy(upstream).start(), .set_fault(), .count(),
.stop()) or standalone for manual runs:
  consul_proxy.py --listen 127.0.0.1:18500 --upstream http://127.0.0.1:8500
and switch modes with `curl -X PUT '127.0.0.1:18500/_proxy?path=REGEX&mode=M'`
(GET /_proxy shows the rules and counts)."""

import argparse
import http.client
import http.server
import json
import re
import socket
import threading
import urllib.parse

MODES = ("pass", "500", "429", "429_slow", "garbage", "truncated", "big", "huge", "stall",
         "index_back", "index_2_63", "index_max", "empty")
BIG_LEN = 50 * 1000 * 1000
HUGE_LEN = 80 * 1000 * 1000
INDEX_OF = {"index_back": "1", "index_2_63": str(2 ** 63),
            "index_max": str(2 ** 64 - 1)}
# Hop-by-hop headers (RFC 7230 6.1) and the ones the proxy sets itself.
_SKIP = {"connection", "keep-alive", "transfer-encoding", "content-length",
         "content-encoding", "proxy-connection", "te", "trailer", "upgrade"}


class ConsulProxy:
    """The proxy and its rules. Thread-safe: the test thread sets rules
    while handler threads read them."""

    def __init__(self, upstream, host="127.0.0.1", port=0):
        u = urllib.parse.urlsplit(upstream)
        self.up_host, self.up_port = u.hostname, u.port or 80
        self.lock = threading.Lock()
        self.rules = []         # [(compiled regex, mode)]
        self.counts = {}        # regex text -> requests matched
        self.total = 0
        self.generation = 0     # bumped at every rule change
        self.changed = threading.Condition(self.lock)
        self.stopping = False
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self.server = http.server.ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.addr = "%s:%d" % (host, self.port)
        self.url = "http://" + self.addr
        self.thread = None

    def start(self):
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       name="consul-proxy", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        with self.lock:
            self.stopping = True
            self.changed.notify_all()
        self.server.shutdown()
        self.server.server_close()

    def set_fault(self, path_regex, mode):
        """From now on, requests whose path (with query) matches path_regex
        get mode. 'pass' removes the rule. Releases stalled connections."""
        if mode not in MODES:
            raise ValueError("unknown mode %r" % mode)
        with self.lock:
            self.rules = [(r, m) for r, m in self.rules
                          if r.pattern != path_regex]
            if mode != "pass":
                self.rules.insert(0, (re.compile(path_regex), mode))
            self.counts.setdefault(path_regex, 0)
            self.generation += 1
            self.changed.notify_all()

    def clear(self):
        with self.lock:
            self.rules = []
            self.generation += 1
            self.changed.notify_all()

    def count(self, path_regex):
        """Requests that matched path_regex (as a rule, or not) so far."""
        with self.lock:
            return self.counts.get(path_regex, 0)

    def watch_count(self, path_regex):
        """Starts counting requests matching path_regex (no rule)."""
        with self.lock:
            self.counts.setdefault(path_regex, 0)

    def _classify(self, path):
        with self.lock:
            self.total += 1
            for pat in self.counts:
                if re.search(pat, path):
                    self.counts[pat] += 1
            for r, m in self.rules:
                if r.search(path):
                    return m, self.generation
            return "pass", self.generation

    def _stall(self, generation):
        with self.lock:
            while not self.stopping and self.generation == generation:
                self.changed.wait(1.0)

    def describe(self):
        with self.lock:
            return {"rules": [[r.pattern, m] for r, m in self.rules],
                    "counts": dict(self.counts), "total": self.total}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner = None  # set by the subclass ConsulProxy makes

    def log_message(self, fmt, *args):  # quiet: tests read srvshimd's log
        pass

    def do_GET(self):
        self._handle("GET")

    def do_PUT(self):
        self._handle("PUT")

    def do_POST(self):
        self._handle("POST")

    def do_DELETE(self):
        self._handle("DELETE")

    def _handle(self, method):
        p = self.owner
        if self.path.startswith("/_proxy"):
            return self._control(method)
        body = None
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            body = self.rfile.read(n)
        mode, gen = p._classify(self.path)
        if mode == "stall":
            p._stall(gen)
            self.close_connection = True
            return  # closed without a reply
        if mode in ("500", "429", "429_slow"):
            text = (b"rpc error making call: No cluster leader"
                    if mode == "500" else
                    b"Your IP is issuing too many concurrent connections, "
                    b"please rate limit your calls\n")
            extra = ({"Retry-After": "1"} if mode == "429" else
                     {"Retry-After": "3"} if mode == "429_slow" else {})
            return self._reply(int(mode[:3]), {"Content-Type": "text/plain",
                                                **extra}, text)
        if mode == "huge":
            return self._huge()
        status, headers, data = self._forward(method, body)
        if status is None:
            self.close_connection = True
            return
        if mode == "garbage":
            data = b"\x00\x01<html>not json {[\xff\xfe" * 16
        elif mode == "truncated":
            data = data[:max(1, len(data) // 2)]
        elif mode == "big":
            data = data + b" " * max(0, BIG_LEN - len(data))
        elif mode == "empty":
            data = b"{}" if self.path.startswith("/v1/catalog/services") \
                else b"[]"
        elif mode in INDEX_OF:
            headers["X-Consul-Index"] = INDEX_OF[mode]
        self._reply(status, headers, data)

    def _forward(self, method, body):
        p = self.owner
        # A blocking query may take its whole wait plus jitter.
        conn = http.client.HTTPConnection(p.up_host, p.up_port, timeout=700)
        try:
            hdrs = {k: v for k, v in self.headers.items()
                    if k.lower() not in _SKIP and k.lower() != "host"
                    and k.lower() != "accept-encoding"}
            conn.request(method, self.path, body=body, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
            headers = {k: v for k, v in r.getheaders()
                       if k.lower() not in _SKIP}
            return r.status, headers, data
        except (OSError, http.client.HTTPException):
            return None, None, None
        finally:
            conn.close()

    def _reply(self, status, headers, data):
        try:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def _huge(self):
        """Streams HUGE_LEN bytes with no Content-Length, then closes: the
        client finds out the size only by reading."""
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Consul-Index", "7")
            self.send_header("Connection", "close")
            self.end_headers()
            chunk = b"[" + b"7," * (1 << 19)
            sent = 0
            while sent < HUGE_LEN:
                self.wfile.write(chunk)
                sent += len(chunk)
        except OSError:
            pass  # srvshim hung up at its cap: expected

    def _control(self, method):
        p = self.owner
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        try:
            if method == "PUT":
                if "path" in q and "mode" in q:
                    p.set_fault(q["path"][0], q["mode"][0])
                else:
                    p.clear()
            data = json.dumps(p.describe()).encode()
            self._reply(200, {"Content-Type": "application/json"}, data)
        except (ValueError, re.error) as e:
            self._reply(400, {"Content-Type": "text/plain"}, str(e).encode())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--upstream", required=True)
    a = ap.parse_args()
    host, port = a.listen.rsplit(":", 1)
    p = ConsulProxy(a.upstream, host, int(port))
    print("consul_proxy: listening on %s, upstream %s" % (p.addr, a.upstream),
          flush=True)
    try:
        p.server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    socket.setdefaulttimeout(None)
    main()
