# SPDX-License-Identifier: MIT
"""test_consul_faults.py -- what Consul will not do on demand, through a proxy.

srvshimd talks to the real agent through fakes/consul_proxy.py, which turns
chosen paths into faults. Each test starts its own proxy and srvshimd
(--wait 2s) over a service of its own on the session agent, waits until
srvshimd has met the fault, changes the service in Consul (directly, not
through the proxy), and then checks:
- every answer during the fault is the last good data (never SERVFAIL,
  never empty, never the change that Consul could not deliver);
- the fault is logged once for the episode (one "unavailable" or
  "unreachable" line for Consul-wide 429/5xx/transport faults, one "fetch
  failed" line for a broken reply on one endpoint) and "recovered" once
  after it;
- requests are backed off: the proxy counts them during the fault, and the
  count stays within what 100 ms doubling backoff allows (no spin);
- when the fault ends srvshimd recovers and the change shows;
- memory stays bounded: VmRSS after the episode (the 50 MB and 80 MB bodies
  included) stays near where it started.
Modes: 500 and 429 on every path; garbage and truncated JSON on a service
and on the catalog; a 50 MB valid body (accepted: it is under the 64 MiB
cap, see DESIGN.md); an 80 MB streamed body (refused at the cap); a stalled
connection; an index that goes backwards (used, paced at 1/s); an index of
2^63 and of 2^64-1 (held, then reset when the real index shows again); an
empty service list contradicted by a service's health (kept) and one that
the health endpoint confirms (applied); --max-stale turning answers into
SERVFAIL after the limit and back, with a log line each way."""

import re
import time

import dns.rcode
import pytest

from dnsutil import addrs, describe, poll
from fakes.consul_proxy import ConsulProxy

WAIT = "2s"
ALL = r"^/v1/"
CATALOG = r"^/v1/catalog/services"


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


class Setup:
    """A proxy in front of the session agent, a service `name` with two
    instances, and a srvshimd reading Consul through the proxy."""

    def __init__(self, consul, new_srvshimd, uniq, extra=()):
        self.reg = consul
        self.name = uniq("flt")
        self.svc_path = r"^/v1/health/service/%s(\?|$)" % re.escape(self.name)
        self.old = ["127.0.21.1", "127.0.21.2"]
        self.new = ["127.0.21.1", "127.0.21.2", "127.0.21.3"]
        consul.register(self.name + "-1", self.name, self.old[0], 8001)
        consul.register(self.name + "-2", self.name, self.old[1], 8002)
        self.proxy = ConsulProxy(consul.url).start()
        self.proxy.watch_count(self.svc_path)
        self.proxy.watch_count(CATALOG)
        self.d = new_srvshimd("--wait", WAIT, *extra, consul=self.proxy.addr)
        poll(lambda: addrs(self.q()) == self.old, what="service answered")
        self.rss0 = rss_kb(self.d.pid)
        self.log_at = 0

    def q(self):
        return self.d.q(self.name, "A")

    def mark_log(self):
        self.log_at = len(self.d.log_text())

    def log_since(self):
        return self.d.log_text()[self.log_at:]

    def lines(self, pattern):
        return [ln for ln in self.log_since().splitlines()
                if re.search(pattern, ln)]

    def fault(self, path, mode, met=None, requests=3, then=None,
              wait_on=None, first=1, timeout=15):
        """Turns the fault on and waits for the first request that meets
        it (the one in flight before went through unharmed: a change made
        earlier could slip past the fault). Then runs then() (the change),
        and waits until `requests` requests met the fault and `met` (a log
        regex) was logged. A broken body is only noticed when the index
        moves (a reply whose index did not move is not parsed), so for
        those the change is what triggers the fault. wait_on: the paths
        that must each have sent `first` requests into the fault before
        then() (default: path)."""
        self.mark_log()
        wait_on = wait_on or [path]
        for p in wait_on:
            self.proxy.watch_count(p)
        before = {p: self.proxy.count(p) for p in wait_on}
        self.proxy.set_fault(path, mode)
        start = self.proxy.count(path)
        poll(lambda: all(self.proxy.count(p) - before[p] >= first
                         for p in wait_on), timeout=timeout,
             interval=0.02, what="first requests under %s" % mode)
        if then is not None:
            then()
        poll(lambda: self.proxy.count(path) - start >= requests and
             (met is None or self.lines(met)), timeout=timeout,
             interval=0.05, what="fault %s met on %s" % (mode, path))

    def serve_old_while(self, seconds):
        """Queries for `seconds`: every answer must be the old data."""
        deadline = time.monotonic() + seconds
        n = 0
        while time.monotonic() < deadline or n < 10:
            r = self.q()
            assert r.rcode() == dns.rcode.NOERROR, describe(r)
            assert addrs(r) == self.old, describe(r)
            n += 1
            time.sleep(0.02)

    def change(self):
        """A third instance, registered in Consul directly."""
        self.reg.register(self.name + "-3", self.name, self.new[2], 8003)

    def recover(self, path, timeout=20):
        self.proxy.set_fault(path, "pass")
        poll(lambda: addrs(self.q()) == self.new, timeout=timeout,
             what="change shows after the fault")

    def backed_off(self, path, seconds=2.0, most=None):
        """Counts requests on path over `seconds` of the fault. 100 ms
        doubling backoff with equal jitter allows about log2(seconds*20)+2
        in that time; a spin would be hundreds."""
        most = most or 7
        a = self.proxy.count(path)
        time.sleep(seconds)  # a measuring window, not a wait for state
        n = self.proxy.count(path) - a
        assert n <= most, "%d requests to %s in %.1f s: not backed off" \
            % (n, path, seconds)
        return n

    def rss_bounded(self, slack_kb=32 * 1024):
        rss = rss_kb(self.d.pid)
        assert rss <= self.rss0 + slack_kb, \
            "VmRSS %d kB after the episode, %d kB before" % (rss, self.rss0)

    def close(self):
        self.proxy.stop()


@pytest.fixture
def setup(consul, new_srvshimd, uniq):
    made = []

    def make(*extra):
        s = Setup(consul, new_srvshimd, uniq, extra)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


def one(lines, what):
    assert len(lines) == 1, "%s: expected one log line, got %d:\n%s" \
        % (what, len(lines), "\n".join(lines))


@pytest.mark.parametrize("mode", ["500", "429"])
def test_consul_unavailable_everywhere(setup, mode):
    s = setup()
    s.fault(ALL, mode, met=r"watch: consul .*, unavailable \(http %s" % mode,
            then=s.change, wait_on=[CATALOG, s.svc_path])
    s.serve_old_while(1.0)
    s.backed_off(s.svc_path)
    s.backed_off(CATALOG, seconds=0.5)
    s.recover(ALL)
    one(s.lines(r"watch: consul .*, unavailable"), "unavailable")
    poll(lambda: s.lines(r"watch: consul .*, recovered"), what="recovered")
    one(s.lines(r"watch: consul .*, recovered"), "recovered")
    assert not s.lines(r"fetch failed"), "quiet per endpoint in an episode"
    s.rss_bounded()


def test_429_on_one_service_logs_one_episode(setup):
    # Other endpoints keep answering 200 (the catalog's blocking query
    # returns every 2 s): that must not end the episode and start another.
    s = setup()
    s.fault(s.svc_path, "429", met=r"unavailable \(http 429", requests=4,
            then=s.change)
    s.serve_old_while(1.5)
    s.recover(s.svc_path)
    one(s.lines(r"watch: consul .*, unavailable"), "unavailable")
    poll(lambda: s.lines(r"watch: consul .*, recovered"), what="recovered")
    one(s.lines(r"watch: consul .*, recovered"), "recovered")



def test_429_retry_after_is_honoured(setup):
    """A 429 with Retry-After: 3 means no request on that path for 3 s
    (srvshimd's own backoff would have sent five or so by then); then it
    retries, and recovers when the limiter lets it through."""
    s = setup()
    s.fault(s.svc_path, "429_slow", met=r"unavailable \(http 429",
            requests=1, then=s.change)
    a = s.proxy.count(s.svc_path)
    time.sleep(2.5)  # a measuring window, inside the 3 s asked for
    assert s.proxy.count(s.svc_path) == a, \
        "requested again within Retry-After: 3"
    s.serve_old_while(0.2)
    poll(lambda: s.proxy.count(s.svc_path) > a, timeout=5,
         what="a retry once Retry-After has passed")
    s.recover(s.svc_path)

@pytest.mark.parametrize("mode", ["garbage", "truncated"])
def test_broken_service_reply(setup, mode):
    s = setup()
    s.fault(s.svc_path, mode, met=r"service %s, fetch failed \(malformed"
            % re.escape(s.name), then=s.change)
    s.serve_old_while(1.0)
    s.backed_off(s.svc_path)
    s.recover(s.svc_path)
    one(s.lines(r"service %s, fetch failed" % re.escape(s.name)), "failed")
    poll(lambda: s.lines(r"service %s, recovered" % re.escape(s.name)),
         what="recovered")
    one(s.lines(r"service %s, recovered" % re.escape(s.name)), "recovered")
    s.rss_bounded()


@pytest.mark.parametrize("mode", ["garbage", "truncated"])
def test_broken_catalog_reply(setup, uniq, mode):
    s = setup()
    other = uniq("fltnew")
    s.fault(CATALOG, mode, met=r"catalog, fetch failed \(malformed",
            then=lambda: s.reg.register(other + "-1", other, "127.0.21.9",
                                        8009))
    s.serve_old_while(1.0)
    assert s.d.q(other, "A").rcode() == dns.rcode.NXDOMAIN, \
        "a service the catalog could not list is not there yet"
    s.backed_off(CATALOG)
    s.proxy.set_fault(CATALOG, "pass")
    poll(lambda: addrs(s.d.q(other, "A")) == ["127.0.21.9"], timeout=20,
         what="new service after the catalog recovered")
    one(s.lines(r"catalog, fetch failed"), "failed")
    one(s.lines(r"catalog, recovered"), "recovered")


def test_50mb_body_accepted_memory_returns(setup):
    """A 50 MB reply that is valid JSON (the real one padded with spaces) is
    under the 64 MiB cap: it is data, and it is used. The buffer goes back
    to the system once parsed."""
    s = setup()
    s.fault(s.svc_path, "big", requests=1, then=s.change)
    poll(lambda: addrs(s.q()) == s.new, timeout=20,
         what="change shows through 50 MB replies")
    s.proxy.set_fault(s.svc_path, "pass")
    assert not s.lines(r"fetch failed|unavailable|unreachable")
    # the last 50 MB reply may still be in flight: wait for a plain one
    n = s.proxy.count(s.svc_path)
    poll(lambda: s.proxy.count(s.svc_path) > n + 1, timeout=10,
         what="replies after the 50 MB ones")
    s.rss_bounded()


def test_80mb_streamed_body_refused_at_cap(setup):
    s = setup()
    s.fault(s.svc_path, "huge", met=r"service %s, fetch failed"
            % re.escape(s.name), requests=2, then=s.change, timeout=30)
    s.serve_old_while(1.0)
    s.backed_off(s.svc_path)
    s.recover(s.svc_path)
    one(s.lines(r"service %s, fetch failed" % re.escape(s.name)), "failed")
    s.rss_bounded()


def test_stalled_connections(setup):
    """The proxy accepts and never answers. srvshimd has one request per
    endpoint open and makes no more; when the stall ends the proxy closes
    them without a reply, srvshimd retries and catches up."""
    s = setup()
    # the catalog and the service have each sent their request into it
    s.fault(ALL, "stall", requests=1, wait_on=[CATALOG, s.svc_path])
    s.change()
    a_svc, a_cat = s.proxy.count(s.svc_path), s.proxy.count(CATALOG)
    s.serve_old_while(2.0)
    assert s.proxy.count(s.svc_path) - a_svc <= 1
    assert s.proxy.count(CATALOG) - a_cat <= 1
    s.recover(ALL)
    # libcurl retries a request whose reused connection closed without a
    # reply, so the release may or may not be logged; at most once.
    assert len(s.lines(r"watch: consul .*, unreachable")) <= 1
    s.rss_bounded()


def test_index_backwards_is_used_and_paced(setup):
    """An index that goes backwards resets the endpoint's index (Consul's
    documented rule); the body is current data, so the change shows even
    while it lasts, and a reply whose index does not move is paced to one
    request a second."""
    s = setup()
    s.fault(s.svc_path, "index_back", requests=1, then=s.change)
    poll(lambda: addrs(s.q()) == s.new, what="change shows")
    n = s.backed_off(s.svc_path, seconds=3.0, most=6)
    assert n >= 1, "requests go on while the index is stuck"
    s.proxy.set_fault(s.svc_path, "pass")
    assert not s.lines(r"fetch failed|unavailable|unreachable")


@pytest.mark.parametrize("mode", ["index_2_63", "index_max"])
def test_index_huge(setup, mode):
    """X-Consul-Index of 2^63 or 2^64-1: strtoull takes it, the next
    blocking query asks Consul for that index, Consul blocks the whole wait
    and the reply (rewritten again) does not move it. So requests are one
    per wait, and data is held; when the real index shows again it went
    backwards, is reset, and the change shows."""
    s = setup()
    s.fault(s.svc_path, mode, requests=2, first=2, then=s.change)
    s.serve_old_while(1.0)
    s.backed_off(s.svc_path, seconds=3.0, most=4)
    s.recover(s.svc_path)
    assert not s.lines(r"fetch failed|unavailable|unreachable")


def test_empty_catalog_contradicted_is_kept(setup, uniq):
    """`{}` from the catalog while the service's health still lists its
    instances: logged, the table kept, the catalog backs off; when the real
    list returns, a service added meanwhile shows."""
    s = setup()
    other = uniq("fltnew")
    s.fault(CATALOG, "empty", met=r"catalog, fetch failed \(empty service "
            r"list, but service", requests=1,
            then=lambda: s.reg.register(other + "-1", other, "127.0.21.9",
                                        8009))
    s.serve_old_while(1.5)
    one(s.lines(r"catalog, empty service list after"), "suspicious")
    s.backed_off(CATALOG, seconds=3.0, most=4)
    s.proxy.set_fault(CATALOG, "pass")
    poll(lambda: addrs(s.d.q(other, "A")) == ["127.0.21.9"], timeout=20,
         what="new service after the catalog recovered")
    assert addrs(s.q()) == s.old
    one(s.lines(r"catalog, fetch failed"), "failed")
    one(s.lines(r"catalog, recovered"), "recovered")
    assert not s.lines(r"confirmed")


def test_empty_catalog_confirmed_is_applied(setup):
    """`{}` from the catalog and `[]` from every health endpoint (what a
    token that lost service:read sees): Consul agrees with itself, so after
    the confirmation delay the services are dropped (NXDOMAIN, not
    SERVFAIL); when the real lists return, they come back: the catalog's
    reply is parsed even though its index has not moved (a policy change
    does not move it)."""
    s = setup()
    s.fault(ALL, "empty", met=r"catalog, empty service list confirmed",
            requests=1, then=s.change, wait_on=[CATALOG, s.svc_path])
    r = s.q()
    assert r.rcode() == dns.rcode.NXDOMAIN, describe(r)
    s.proxy.set_fault(ALL, "pass")
    poll(lambda: addrs(s.q()) == s.new, timeout=20, what="back after")


def test_max_stale_servfail_then_fresh(setup):
    s = setup("--max-stale", "1s")
    s.fault(ALL, "500", met=r"watch: data, stale", requests=1, timeout=20)
    r = s.q()
    assert r.rcode() == dns.rcode.SERVFAIL, describe(r)
    assert s.d.q("@", "SOA").rcode() == dns.rcode.SERVFAIL
    r = s.d.q("example.com.", "A")
    assert r.rcode() == dns.rcode.REFUSED, "out of zone: " + describe(r)
    s.proxy.set_fault(ALL, "pass")
    poll(lambda: addrs(s.q()) == s.old, timeout=20, what="fresh again")
    poll(lambda: s.lines(r"watch: data, fresh again"), what="fresh log")
    one(s.lines(r"watch: data, stale"), "stale")
    one(s.lines(r"watch: data, fresh again"), "fresh")


def test_without_max_stale_serves_forever(setup):
    s = setup()
    s.fault(ALL, "500", met=r"unavailable", requests=2)
    s.serve_old_while(2.0)
    assert not s.lines(r"watch: data, stale")
