#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""backend.py -- a tiny HTTP backend for the proxy tests and bench/death.

Usage: backend.py --id ID --port PORT [--bind ADDR] [--pidfile FILE]
Answers every GET with its own ID (body "ID\\n", header X-Backend: ID) over
HTTP/1.1 keep-alive, from a thread per connection. SIGTERM or SIGINT: exits 0
at once (a dying backend, not a draining one). Writes its PID to --pidfile
once listening, so a test can find it after its sidecar is SIGKILLed."""

import argparse
import http.server
import os
import signal
import socketserver
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: without TCP_NODELAY, Nagle and
    # the peer's delayed ACK add ~40 ms to every keep-alive reply.
    disable_nagle_algorithm = True
    ident = b"?"

    def do_GET(self):  # noqa: N802 -- http.server's name
        body = self.ident + b"\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Backend", self.ident.decode())
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--id", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--pidfile")
    a = ap.parse_args()
    Handler.ident = a.id.encode()
    srv = Server((a.bind, a.port), Handler)
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: os._exit(0))
    if a.pidfile:
        tmp = a.pidfile + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(tmp, a.pidfile)
    sys.stderr.write("backend %s: listening on %s:%d\n" % (a.id, a.bind, a.port))
    srv.serve_forever(poll_interval=0.5)


if __name__ == "__main__":
    main()
