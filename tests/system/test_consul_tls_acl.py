# SPDX-License-Identifier: MIT
"""test_consul_tls_acl.py -- reaching a Consul that wants TLS or an ACL token.

Each test runs its own Consul agent (dev mode plus a config file) and
srvshimd, configured only through Consul's own environment variables or
srvshimd's flags. Certificates come from `consul tls ca create` / `consul tls
cert create`, as an operator would make them.
Checks:
- https with CONSUL_CACERT (and with CONSUL_CAPATH, a hashed directory):
  syncs and answers
- https with a CA it does not trust: never syncs (SERVFAIL, never a false
  NXDOMAIN), says why in the log, keeps running
- CONSUL_HTTP_SSL_VERIFY=false: syncs without the CA
- an agent that demands client certificates (verify_incoming_https):
  CONSUL_CLIENT_CERT + CONSUL_CLIENT_KEY sync; without them, no sync
- ACLs with default deny: CONSUL_HTTP_TOKEN with service:read + node:read
  sees the service; no token sees an empty catalog (synced, NXDOMAIN);
  CONSUL_HTTP_TOKEN_FILE wins over CONSUL_HTTP_TOKEN; --token-file works
- the token never appears in srvshimd's log (debug level) or its argv
"""

import json
import os
import shutil
import subprocess

import dns.rcode
import pytest

import conftest
from dnsutil import addrs, poll

MASTER = "srvshim-test-master-0b7e"


# ---- TLS --------------------------------------------------------------------


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    for args in (["ca", "create"], ["cert", "create", "-server", "-dc", "dc1"],
                 ["cert", "create", "-client", "-dc", "dc1"]):
        subprocess.run([conftest.consul_path(), "tls"] + args, cwd=d,
                       check=True, capture_output=True)
    capath = d / "capath"
    capath.mkdir()
    shutil.copy(d / "consul-agent-ca.pem", capath / "ca.pem")
    subprocess.run(["openssl", "rehash", str(capath)], check=True,
                   capture_output=True)
    return {
        "dir": d,
        "ca": str(d / "consul-agent-ca.pem"),
        "capath": str(capath),
        "server": str(d / "dc1-server-consul-0.pem"),
        "server_key": str(d / "dc1-server-consul-0-key.pem"),
        "client": str(d / "dc1-client-consul-0.pem"),
        "client_key": str(d / "dc1-client-consul-0-key.pem"),
    }


def tls_agent(new_consul, tmp_path, certs, verify_incoming=False):
    """A dev agent with an HTTPS port (HTTP stays, for the test's own
    registration calls) and a registered service."""
    https = conftest.free_port()
    cfg = {
        "ports": {"https": https},
        "ca_file": certs["ca"],
        "cert_file": certs["server"],
        "key_file": certs["server_key"],
        "verify_incoming_https": verify_incoming,
    }
    path = tmp_path / "tls.json"
    path.write_text(json.dumps(cfg))
    agent = new_consul(extra=["-config-file", str(path)])
    conftest.Registrar(agent).register("tlsdata-1", "tlsdata", "127.0.9.1",
                                       8080)
    return agent, "https://127.0.0.1:%d" % https


def wait_service(d, name, ip):
    poll(lambda: addrs(d.q(name, "A")) == [ip], timeout=15,
         what="%s -> %s" % (name, ip))


def assert_never_synced(d, needle):
    """Not synced: SERVFAIL for zone names, and the log says why."""
    poll(lambda: needle.lower() in d.log_text().lower(), timeout=15,
         what="log mentions %r" % needle)
    r = d.q("@", "SOA")
    assert r.rcode() == dns.rcode.SERVFAIL, r
    assert d.q("tlsdata", "A").rcode() == dns.rcode.SERVFAIL
    assert d.alive()


def test_https_with_cacert(new_consul, new_srvshimd, tmp_path, certs):
    _, url = tls_agent(new_consul, tmp_path, certs)
    d = new_srvshimd(consul="", use_consul_flag=False,
                     env={"CONSUL_HTTP_ADDR": url,
                          "CONSUL_CACERT": certs["ca"]})
    wait_service(d, "tlsdata", "127.0.9.1")


def test_https_with_capath(new_consul, new_srvshimd, tmp_path, certs):
    _, url = tls_agent(new_consul, tmp_path, certs)
    d = new_srvshimd(consul=url,
                     env={"CONSUL_CAPATH": certs["capath"]})
    wait_service(d, "tlsdata", "127.0.9.1")


def test_https_untrusted_ca_never_syncs(new_consul, new_srvshimd, tmp_path,
                                        certs):
    _, url = tls_agent(new_consul, tmp_path, certs)
    d = new_srvshimd(consul=url, wait="answering")
    assert_never_synced(d, "certificate")


def test_https_ssl_verify_false(new_consul, new_srvshimd, tmp_path, certs):
    _, url = tls_agent(new_consul, tmp_path, certs)
    d = new_srvshimd(consul=url, env={"CONSUL_HTTP_SSL_VERIFY": "false"})
    wait_service(d, "tlsdata", "127.0.9.1")


def test_https_client_certificate(new_consul, new_srvshimd, tmp_path, certs):
    _, url = tls_agent(new_consul, tmp_path, certs, verify_incoming=True)
    with_cert = new_srvshimd(consul=url, env={
        "CONSUL_CACERT": certs["ca"],
        "CONSUL_CLIENT_CERT": certs["client"],
        "CONSUL_CLIENT_KEY": certs["client_key"]})
    wait_service(with_cert, "tlsdata", "127.0.9.1")
    without = new_srvshimd(consul=url, wait="answering",
                           env={"CONSUL_CACERT": certs["ca"]})
    assert_never_synced(without, "unreachable")


# ---- ACLs -------------------------------------------------------------------


class AclConsul(conftest.Consul):
    """A dev agent with ACLs on (default deny); the test talks to it with
    the master token."""

    api_headers = {"X-Consul-Token": MASTER}


@pytest.fixture
def acl_agent(tmp_path):
    cfg = tmp_path / "acl.json"
    cfg.write_text(json.dumps({"acl": {
        "enabled": True, "default_policy": "deny",
        "enable_token_persistence": False,
        "tokens": {"master": MASTER, "agent": MASTER}}}))
    agent = AclConsul(tmp_path / "aclconsul", "aclconsul",
                      extra=["-config-file", str(cfg)])
    agent.start()
    conftest.Registrar(agent).register("acldata-1", "acldata", "127.0.9.2",
                                       8080)
    policy = agent.api("PUT", "/v1/acl/policy", {
        "Name": "srvshim-read",
        "Rules": 'service_prefix "" { policy = "read" }\n'
                 'node_prefix "" { policy = "read" }\n'})
    token = agent.api("PUT", "/v1/acl/token", {
        "Description": "srvshim", "Policies": [{"ID": policy["ID"]}]})
    agent.read_token = token["SecretID"]
    yield agent
    agent.stop()


def test_acl_token_from_env(acl_agent, new_srvshimd):
    d = new_srvshimd(consul=acl_agent.http_addr,
                     env={"CONSUL_HTTP_TOKEN": acl_agent.read_token})
    wait_service(d, "acldata", "127.0.9.2")
    assert_token_hidden(d, acl_agent.read_token)


def test_acl_without_token_sees_nothing(acl_agent, new_srvshimd):
    d = new_srvshimd(consul=acl_agent.http_addr)
    r = d.q("acldata", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN, r


def test_acl_token_file_wins_over_token(acl_agent, new_srvshimd, tmp_path):
    f = tmp_path / "token"
    f.write_text(acl_agent.read_token + "\n")
    os.chmod(f, 0o600)
    d = new_srvshimd(consul=acl_agent.http_addr,
                     env={"CONSUL_HTTP_TOKEN": "not-a-valid-token",
                          "CONSUL_HTTP_TOKEN_FILE": str(f)})
    wait_service(d, "acldata", "127.0.9.2")
    assert_token_hidden(d, acl_agent.read_token)


def test_acl_token_file_flag(acl_agent, new_srvshimd, tmp_path):
    f = tmp_path / "token"
    f.write_text(acl_agent.read_token)
    os.chmod(f, 0o600)
    d = new_srvshimd("--token-file", str(f), consul=acl_agent.http_addr)
    wait_service(d, "acldata", "127.0.9.2")
    assert_token_hidden(d, acl_agent.read_token)


def assert_token_hidden(d, token):
    assert token not in d.log_text()
    with open("/proc/%d/cmdline" % d.pid, "rb") as f:
        assert token.encode() not in f.read()
    with open("/proc/%d/environ" % d.pid, "rb") as f:
        env = f.read()
    # The environment is the operator's choice (CONSUL_HTTP_TOKEN); the
    # file form keeps it out of there too.
    if b"CONSUL_HTTP_TOKEN_FILE" in env or b"CONSUL_HTTP_TOKEN=" not in env:
        assert token.encode() not in env
