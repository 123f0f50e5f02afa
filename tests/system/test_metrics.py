# SPDX-License-Identifier: MIT
"""test_metrics.py -- /metrics, /health and /ready over --http-listen.

Checks:
- /health: 200 "ok"; unknown paths 404; methods other than GET/HEAD 405
- /metrics: Prometheus text 0.0.4 (content type, HELP and TYPE for every
  family, srvshim_ prefix); each family present, and moving:
  queries by qtype, replies by rcode, truncated, dropped, TCP queries,
  the latency histogram (count, sum, cumulative buckets), TCP connections
  accepted / open / closed by reason (idle, cap), Consul requests (ok),
  snapshot publishes, services and instances, watches open and cap,
  synced, connected, consul index, last sync age; forwarded queries and
  upstream errors present at 0 (no forwarding here)
- Consul requests by outcome against a fake Consul (a local HTTP server
  that answers 500, 429, 403 or garbage; nothing listening: error)
- /ready: 503 with a reason before the first sync (nothing listens at the
  Consul address), 200 once Consul appears and the sync completes, 503
  again once the data is older than --max-stale after the agent is killed
  (while /health stays 200; DNS answers SERVFAIL then, as --max-stale says)
- --http-listen errors: a bad value exits 2, a taken port exits 1
"""

import http.server
import re
import socket
import threading
import urllib.error
import urllib.request

import dns.message
import dns.rcode

import conftest
import dnsutil
from dnsutil import addrs, describe, poll


def http_get(port, path, method="GET"):
    """(status, body text, headers)."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path),
                                 method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers


SAMPLE = re.compile(r'^(srvshim_[a-z_]+)(\{[^}]*\})? (-?[0-9.e+]+|\+Inf)$')


def scrape(port):
    """{'name{labels}': value} from /metrics, checking the format."""
    status, body, headers = http_get(port, "/metrics")
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    out, families = {}, {}
    for line in body.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            kind, fam = line[2:6], line.split()[2]
            families.setdefault(fam, set()).add(kind)
            continue
        m = SAMPLE.match(line)
        assert m, "bad sample line %r" % line
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    for fam, kinds in families.items():
        assert kinds == {"HELP", "TYPE"}, fam
    return out


def start(new_srvshimd, *flags, **kw):
    port = conftest.free_port()
    d = new_srvshimd("--http-listen", "127.0.0.1:%d" % port, *flags, **kw)
    d.http_port = port
    return d


def test_health_and_http_errors(new_srvshimd):
    d = start(new_srvshimd)
    assert http_get(d.http_port, "/health")[:2] == (200, "ok\n")
    assert http_get(d.http_port, "/health", "HEAD")[0] == 200
    assert http_get(d.http_port, "/nope")[0] == 404
    status, _, headers = http_get(d.http_port, "/metrics", "POST")
    assert status == 405 and "GET" in headers["Allow"]


FAMILIES = [
    "srvshim_queries_total", "srvshim_responses_total",
    "srvshim_tcp_queries_total", "srvshim_truncated_total",
    "srvshim_dropped_total", "srvshim_forwarded_queries_total",
    "srvshim_upstream_errors_total", "srvshim_tcp_connections_accepted_total",
    "srvshim_tcp_connections_closed_total", "srvshim_tcp_connections_open",
    "srvshim_consul_requests_total", "srvshim_snapshot_publishes_total",
    "srvshim_answer_duration_seconds_bucket",
    "srvshim_answer_duration_seconds_sum",
    "srvshim_answer_duration_seconds_count", "srvshim_synced",
    "srvshim_consul_connected", "srvshim_last_sync_age_seconds",
    "srvshim_data_age_seconds", "srvshim_consul_index", "srvshim_services",
    "srvshim_instances", "srvshim_watches_open", "srvshim_watches_max",
    "srvshim_soa_serial",
]


def delta(before, after, key):
    return after.get(key, 0) - before.get(key, 0)


def test_query_counters_and_histogram_move(consul, uniq, new_srvshimd):
    name = uniq("met")
    consul.register_many(name, ["127.0.30.%d" % i for i in range(1, 41)])
    d = start(new_srvshimd)
    poll(lambda: len(addrs(d.q(name, "A", tcp_=True))) == 40,
         what="40 instances")
    def settled():
        # Replies are timed after they are sent, so the poll's last reply
        # may reach us before the histogram counts it: start from a scrape
        # where every response counted so far is in the histogram too.
        m = scrape(d.http_port)
        sent = sum(v for k, v in m.items()
                   if k.startswith("srvshim_responses_total{"))
        return m if m["srvshim_answer_duration_seconds_count"] == sent \
            else None
    m0 = poll(settled, what="histogram caught up")
    for fam in FAMILIES:
        assert any(k == fam or k.startswith(fam + "{") for k in m0), fam
    assert m0["srvshim_forwarded_queries_total"] == 0
    assert m0["srvshim_upstream_errors_total"] == 0

    for _ in range(3):
        assert d.q(name, "A", edns=0).rcode() == dns.rcode.NOERROR
    d.q(name, "AAAA")
    d.q(name, "TXT")
    d.q("_%s._tcp" % name, "SRV", tcp_=True)
    r = d.q(name, "SRV")                       # 40 SRV in 512 bytes: TC
    assert r.flags & 0x0200, describe(r)
    assert d.q("no-such-zz", "A").rcode() == dns.rcode.NXDOMAIN
    assert d.q("example.com.", "MX").rcode() == dns.rcode.REFUSED
    d.q("@", "SOA")
    # a reply sent to us is dropped, never answered
    resp = dns.message.make_response(dns.message.make_query(
        d.fqdn(name), "A")).to_wire()
    assert dnsutil.udp_raw(resp, "127.0.0.1", d.port4, timeout=0.3) is None
    # garbage: FORMERR
    bad = dnsutil.header(qd=1) + b"\x07broken"
    reply = dnsutil.udp_raw(bad, "127.0.0.1", d.port4)
    assert reply is not None and reply[3] & 0x0f == dns.rcode.FORMERR

    def moved():
        # The TCP thread times a frame after writing its reply, so the
        # client can see the reply before the histogram counts it.
        m = scrape(d.http_port)
        return m if delta(m0, m, "srvshim_dropped_total") >= 1 and \
            delta(m0, m, "srvshim_answer_duration_seconds_count") >= 11 \
            else None
    m1 = poll(moved, what="counters moved")
    assert delta(m0, m1, 'srvshim_queries_total{qtype="A"}') == 4
    assert delta(m0, m1, 'srvshim_queries_total{qtype="AAAA"}') == 1
    assert delta(m0, m1, 'srvshim_queries_total{qtype="TXT"}') == 1
    assert delta(m0, m1, 'srvshim_queries_total{qtype="SRV"}') == 2
    assert delta(m0, m1, 'srvshim_queries_total{qtype="MX"}') == 1
    assert delta(m0, m1, 'srvshim_queries_total{qtype="SOA"}') == 1
    assert delta(m0, m1, 'srvshim_queries_total{qtype="other"}') == 1
    assert delta(m0, m1, 'srvshim_responses_total{rcode="NOERROR"}') == 8
    assert delta(m0, m1, 'srvshim_responses_total{rcode="NXDOMAIN"}') == 1
    assert delta(m0, m1, 'srvshim_responses_total{rcode="REFUSED"}') == 1
    assert delta(m0, m1, 'srvshim_responses_total{rcode="FORMERR"}') == 1
    assert delta(m0, m1, "srvshim_truncated_total") == 1
    assert delta(m0, m1, "srvshim_dropped_total") == 1
    assert delta(m0, m1, "srvshim_tcp_queries_total") == 1
    assert delta(m0, m1, "srvshim_tcp_connections_accepted_total") == 1
    # 11 replies (the dropped query has none) went through the histogram
    assert delta(m0, m1, "srvshim_answer_duration_seconds_count") == 11
    assert delta(m0, m1, "srvshim_answer_duration_seconds_sum") > 0
    buckets = [(k, v) for k, v in m1.items()
               if k.startswith("srvshim_answer_duration_seconds_bucket")]
    assert len(buckets) == 15
    values = [v for _, v in buckets]
    assert values == sorted(values)
    assert buckets[-1] == ('srvshim_answer_duration_seconds_bucket'
                           '{le="+Inf"}',
                           m1["srvshim_answer_duration_seconds_count"])


def test_tcp_connection_metrics(new_srvshimd):
    d = start(new_srvshimd, "--tcp-max-conns", "1", "--tcp-idle-timeout",
              "1s")
    m0 = scrape(d.http_port)
    a = dnsutil.tcp_connect("127.0.0.1", d.port4)
    poll(lambda: scrape(d.http_port)["srvshim_tcp_connections_open"] == 1,
         what="one open connection")
    b = dnsutil.tcp_connect("127.0.0.1", d.port4)  # evicts a at the cap
    m = poll(lambda: (lambda m: m if delta(
        m0, m, 'srvshim_tcp_connections_closed_total{reason="cap"}') == 1
        else None)(scrape(d.http_port)), what="closed at the cap")
    assert m["srvshim_tcp_connections_open"] == 1
    # b goes idle and is closed
    m = poll(lambda: (lambda m: m if delta(
        m0, m, 'srvshim_tcp_connections_closed_total{reason="idle"}') == 1
        else None)(scrape(d.http_port)), what="closed when idle")
    assert m["srvshim_tcp_connections_open"] == 0
    assert delta(m0, m, "srvshim_tcp_connections_accepted_total") == 2
    a.close()
    b.close()


def test_consul_and_zone_metrics(consul, uniq, new_srvshimd):
    d = start(new_srvshimd, "--max-watches", "5")
    m0 = scrape(d.http_port)
    assert m0["srvshim_synced"] == 1 and m0["srvshim_consul_connected"] == 1
    assert m0["srvshim_watches_max"] == 5
    assert 1 <= m0["srvshim_watches_open"] <= 5 + 2
    assert m0['srvshim_consul_requests_total{outcome="ok"}'] >= 2
    assert m0["srvshim_snapshot_publishes_total"] >= 1
    assert m0["srvshim_consul_index"] > 0
    assert m0["srvshim_last_sync_age_seconds"] >= 0
    assert m0["srvshim_data_age_seconds"] == 0
    assert m0["srvshim_soa_serial"] == d.serial()

    name = uniq("metz")
    consul.register_many(name, ["127.0.31.1", "127.0.31.2"])
    poll(lambda: addrs(d.q(name, "A")) == ["127.0.31.1", "127.0.31.2"],
         what="new service answered")
    m1 = poll(lambda: (lambda m: m if m["srvshim_instances"] ==
                       m0["srvshim_instances"] + 2 else None)(
        scrape(d.http_port)), what="instances gauge")
    assert m1["srvshim_services"] == m0["srvshim_services"] + 1
    assert delta(m0, m1, "srvshim_snapshot_publishes_total") >= 1
    assert delta(m0, m1, 'srvshim_consul_requests_total{outcome="ok"}') >= 2
    assert m1["srvshim_consul_index"] > m0["srvshim_consul_index"]
    assert m1["srvshim_soa_serial"] > m0["srvshim_soa_serial"]


# ---- Consul request outcomes against a fake Consul ------------------------

class FakeConsul(http.server.ThreadingHTTPServer):
    """Answers every request with (status, body) from self.reply."""

    daemon_threads = True

    def __init__(self):
        self.reply = (500, b"No cluster leader")
        self.hits = 0

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(h):  # noqa: N805
                status, body = self.reply
                self.hits += 1
                h.send_response(status)
                h.send_header("Content-Type", "application/json")
                h.send_header("X-Consul-Index", "5")
                h.send_header("Content-Length", str(len(body)))
                h.end_headers()
                h.wfile.write(body)

            def log_message(h, *a):  # noqa: N805
                pass
        super().__init__(("127.0.0.1", conftest.free_port()), H)


def test_consul_request_outcomes(new_srvshimd):
    fake = FakeConsul()
    t = threading.Thread(target=fake.serve_forever, daemon=True)
    t.start()
    try:
        d = start(new_srvshimd, consul="127.0.0.1:%d" % fake.server_port,
                  wait="answering")
        key = 'srvshim_consul_requests_total{outcome="%s"}'
        for status, body, outcome in ((500, b"No cluster leader", "http_5xx"),
                                      (429, b"slow down", "http_429"),
                                      (403, b"ACL not found", "http_other"),
                                      (200, b"{not json", "malformed")):
            fake.reply = (status, body)
            poll(lambda: scrape(d.http_port)[key % outcome] >= 1, timeout=15,
                 what="outcome %s counted" % outcome)
        fake.reply = (200, b"{}")
        m = poll(lambda: (lambda m: m if m["srvshim_synced"] == 1 else None)(
            scrape(d.http_port)), timeout=30, what="synced on an empty catalog")
        assert m[key % "ok"] >= 1
        assert http_get(d.http_port, "/ready")[0] == 200
    finally:
        fake.shutdown()
        fake.server_close()
    # nothing listens there any more: transport errors
    poll(lambda: scrape(d.http_port)[key % "error"] >= 1, timeout=40,
         what="error outcome counted")
    assert scrape(d.http_port)["srvshim_consul_connected"] == 0


# ---- /ready ------------------------------------------------------------------

def test_ready_transitions(new_consul, new_srvshimd):
    agent = new_consul(start=False)  # its ports, nothing listening yet
    d = start(new_srvshimd, "--max-stale", "1s", consul=agent.http_addr,
              wait="answering")
    status, body, _ = http_get(d.http_port, "/ready")
    assert status == 503, body
    assert body.startswith("not ready: no complete sync with Consul at %s"
                           % agent.http_addr), body
    assert http_get(d.http_port, "/health")[0] == 200
    assert scrape(d.http_port)["srvshim_synced"] == 0
    assert scrape(d.http_port)["srvshim_data_age_seconds"] == -1

    agent.start()
    reg = conftest.Registrar(agent)
    reg.register("rdy-1", "rdy", "127.0.32.1", 80)
    poll(lambda: http_get(d.http_port, "/ready")[:2] == (200, "ready\n"),
         timeout=60, what="/ready 200 after the first sync")
    poll(lambda: addrs(d.q("rdy", "A")) == ["127.0.32.1"], what="answers")

    agent.kill()
    status, body, _ = poll(
        lambda: (lambda r: r if r[0] == 503 else None)(
            http_get(d.http_port, "/ready")),
        timeout=15, what="/ready 503 once older than --max-stale")
    assert "older than --max-stale 1.000s" in body, body
    assert http_get(d.http_port, "/health")[0] == 200
    assert scrape(d.http_port)["srvshim_data_age_seconds"] > 1
    # --max-stale applies to DNS too: in-zone SERVFAIL (test_consul_faults)
    r = d.q("rdy", "A")
    assert r.rcode() == dns.rcode.SERVFAIL, describe(r)


# ---- flag errors ---------------------------------------------------------------

def test_http_listen_errors():
    p = conftest.run_srvshimd("--http-listen", "localhost:9153")
    assert p.returncode == 2 and "--http-listen" in p.stderr, p.stderr
    p = conftest.run_srvshimd("--max-stale", "soon")
    assert p.returncode == 2 and "--max-stale" in p.stderr, p.stderr
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = conftest.free_port()
        p = conftest.run_srvshimd(
            "--listen", "127.0.0.1:%d" % port, "--consul", "127.0.0.1:1",
            "--http-listen", "127.0.0.1:%d" % taken.getsockname()[1])
        assert p.returncode == 1, p.stderr
        assert "cannot bind TCP" in p.stderr and "--http-listen" in p.stderr
    finally:
        taken.close()
