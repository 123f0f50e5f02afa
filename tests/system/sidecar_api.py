#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""sidecar_api.py -- `srvshim register` semantics through Consul's HTTP API.

Stands in for the srvshim sidecar where its binary is not built (lb.py
prefers the real `srvshim register` when it exists). Same command line:
  sidecar_api.py --name NAME --port PORT [--address A] [--tag T]...
                 [--weight N] [--ttl 10s] [--deregister-after 1m]
                 [--consul ADDR] [-- COMMAND ARGS...]
Same behaviour: ID NAME-<uuid4>; a TTL check (CheckID service:<ID>) that
starts passing and is passed every TTL/2; COMMAND runs as a child; SIGTERM
or SIGINT go to COMMAND; when COMMAND exits (or, without one, on the
signal) the instance is deregistered and the exit status is COMMAND's
(128 + N for a signal). Consul: --consul, else $CONSUL_HTTP_ADDR, else
127.0.0.1:8500. Nothing is done on SIGKILL: Consul's TTL takes it out."""

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid


def seconds(text):
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for u in ("ms", "s", "m", "h"):
        if text.endswith(u):
            return float(text[:-len(u)]) * units[u]
    return float(text)


def main():
    argv = sys.argv[1:]
    cmd = []
    if "--" in argv:
        i = argv.index("--")
        argv, cmd = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(prog="sidecar_api.py")
    ap.add_argument("--name", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--address")
    ap.add_argument("--tag", action="append", default=[])
    ap.add_argument("--weight", type=int)
    ap.add_argument("--ttl", default="10s")
    ap.add_argument("--deregister-after", default="1m")
    ap.add_argument("--consul", default=os.environ.get("CONSUL_HTTP_ADDR",
                                                      "127.0.0.1:8500"))
    a = ap.parse_args(argv)
    base = a.consul if "://" in a.consul else "http://" + a.consul
    sid = "%s-%s" % (a.name, uuid.uuid4())

    def api(path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(base + path, data=data, method="PUT")
        with urllib.request.urlopen(req, timeout=5) as r:
            r.read()

    child = subprocess.Popen(cmd) if cmd else None
    stop = threading.Event()
    got = []

    def on_signal(signum, _frame):
        got.append(signum)
        if child is not None and child.poll() is None:
            child.send_signal(signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    body = {"ID": sid, "Name": a.name, "Port": a.port,
            "Check": {"CheckID": "service:" + sid, "Name": sid + " ttl",
                      "TTL": a.ttl, "Status": "passing",
                      "DeregisterCriticalServiceAfter": a.deregister_after}}
    if a.address:
        body["Address"] = a.address
    if a.tag:
        body["Tags"] = a.tag
    if a.weight:
        body["Weights"] = {"Passing": a.weight, "Warning": 1}
    api("/v1/agent/service/register", body)
    if child is not None:
        # Wakes the loop the moment COMMAND exits.
        threading.Thread(target=lambda: (child.wait(), stop.set()),
                         daemon=True).start()
    sys.stderr.write("sidecar: instance %s, registered\n" % sid)

    period = seconds(a.ttl) / 2
    next_beat = time.monotonic() + period
    while not stop.is_set():
        if child is not None and child.poll() is not None:
            break
        now = time.monotonic()
        if now >= next_beat:
            try:
                api("/v1/agent/check/pass/service:" + sid)
            except OSError as e:
                sys.stderr.write("sidecar: heartbeat failed (%s)\n" % e)
            next_beat = now + period
        stop.wait(max(0.0, next_beat - now))

    try:
        api("/v1/agent/service/deregister/" + sid)
        sys.stderr.write("sidecar: instance %s, deregistered\n" % sid)
    except OSError as e:
        sys.stderr.write("sidecar: deregister failed (%s)\n" % e)
    if child is None:
        sys.exit(0)
    rc = child.wait()
    sys.exit(128 - rc if rc < 0 else rc)


if __name__ == "__main__":
    main()
