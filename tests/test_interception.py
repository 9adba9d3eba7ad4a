"""What the proxy intercepts and what it leaves alone, over real sockets on loopback only.

- a non-OpenAI TLS host is tunnelled untouched (its own certificate reaches the client);
- curl, plain `requests` and the SDK, run under `openai-fake exec`, get OpenAI-shaped answers;
- the fake answers inside a network namespace that has nothing but loopback;
- no upstream connection is ever opened for an OpenAI host.

Every server here listens on 127.0.0.1 port 0; nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import have, openai_fake_cmd, run_cli
from proxy_addon.trust import write_bundle, write_cert_dir

# Variables that could route a child's traffic around the proxy, neutralised for every child we start.
NO_BYPASS = {"NO_PROXY": "", "no_proxy": "", "ALL_PROXY": "", "all_proxy": ""}
CHAT_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


# -- a TLS server of our own, with its own self-signed certificate ------------------------------------


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for `localhost` / 127.0.0.1 that signs itself. Returns (cert, key) PEM paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "localhost.pem", directory / "localhost-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_file, key_file


class TLSServer(ThreadingHTTPServer):
    """Answers every GET with a fixed body; records the SNI of every handshake and counts requests."""

    daemon_threads = True
    BODY = b"hello from the local TLS server\n"

    def __init__(self, cert_file: Path, key_file: Path) -> None:
        self.snis: list[str | None] = []
        self.requests = 0
        self.cert_file = cert_file
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_file, key_file)
        # Called during each handshake with the server name the client sent (None without SNI).
        self.context.sni_callback = lambda _sslobj, server_name, _ctx: self.snis.append(server_name)
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"https://localhost:{self.server_address[1]}/"

    def finish_request(self, request, client_address) -> None:
        # The handshake runs here, in the connection's own thread, so a client that
        # rejects our certificate (the negative control) cannot stall the accept loop.
        request.settimeout(10)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except OSError:
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            tls.close()

    def handle_error(self, request, client_address) -> None:
        pass  # a client hanging up mid-request is not worth a traceback in the test output


class _Handler(BaseHTTPRequestHandler):
    server: TLSServer

    def do_GET(self) -> None:
        self.server.requests += 1
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(TLSServer.BODY)))
        self.end_headers()
        self.wfile.write(TLSServer.BODY)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    server = TLSServer(*self_signed_cert(tmp_path_factory.mktemp("tls-server")))
    thread = threading.Thread(target=server.serve_forever, name="tls-server", daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def get_through_proxy(fake, url: str, verify) -> requests.Response:
    """GET `url` through the fake, trusting exactly `verify`; the environment plays no part."""
    with requests.Session() as session:
        session.trust_env = False  # no REQUESTS_CA_BUNDLE, no NO_PROXY from the machine
        return session.get(url, proxies={"https": fake.proxy_url}, verify=str(verify), timeout=10)


# -- helpers for `openai-fake exec` children ---------------------------------------------------------


@pytest.fixture(scope="module")
def exec_confdir(tmp_path_factory) -> Path:
    """One conf directory (so one fake CA) for every `openai-fake exec` in this module; never ~/.openai-fake."""
    return tmp_path_factory.mktemp("exec-confdir")


def exec_cli(confdir: Path, *command: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return run_cli("exec", "--confdir", str(confdir), "--", *command, env=NO_BYPASS, timeout=timeout)


def run_script(confdir: Path, tmp_path: Path, source: str) -> tuple[dict, subprocess.CompletedProcess]:
    """Run `source` under `openai-fake exec` with this venv's python; it prints one JSON object."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(source))
    done = exec_cli(confdir, sys.executable, str(script))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done


def curl_status(stdout: str) -> tuple[dict, int]:
    """Split curl's `-w '\\n%{http_code}'` output into the JSON body and the status."""
    body, _, status = stdout.rpartition("\n")
    return json.loads(body), int(status)


# -- 1. other hosts are tunnelled, not intercepted ---------------------------------------------------


def test_a_non_openai_tls_host_is_tunnelled_with_its_own_certificate(fake, tls_server):
    requests_before, snis_before = tls_server.requests, len(tls_server.snis)

    # Verification against the server's own self-signed certificate can only pass if
    # the client talked TLS with the server itself: an intercepted connection would
    # present a certificate minted by the fake CA instead.
    response = get_through_proxy(fake, tls_server.url, verify=tls_server.cert_file)
    assert response.status_code == 200
    assert response.content == TLSServer.BODY

    # The server's side of it: it did the handshake with the client's SNI and served the request.
    assert tls_server.requests == requests_before + 1
    assert tls_server.snis[snis_before:] == ["localhost"]
    assert all(e.host != "localhost" for e in fake.journal.entries())  # the fake did not answer it

    # Negative control: the server's certificate is not the fake CA's, so trusting
    # only the fake CA must fail — the client really sees the server's certificate.
    with pytest.raises(requests.exceptions.SSLError):
        get_through_proxy(fake, tls_server.url, verify=fake.ca_cert)
    assert tls_server.requests == requests_before + 1  # the failed handshake carried no request


def test_the_hashed_trust_directory_trusts_what_the_bundle_trusts(fake, tls_server, tmp_path, monkeypatch):
    """The pytest plugin trusts the fake through SSL_CERT_DIR (`trust.write_cert_dir`): the bundle's
    certificates under their OpenSSL subject hashes. A CA from the environment's own SSL_CERT_FILE (here
    the local server's) must stay trusted, and the fake CA must be too."""
    for ca_file in fake.confdir.glob("mitmproxy-ca*"):  # the fake's CA, in a conf directory of this test's own
        shutil.copy2(ca_file, tmp_path / ca_file.name)
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_server.cert_file))  # the environment's CA comes first
    bundle = write_bundle(tmp_path)
    cert_dir = write_cert_dir(tmp_path)
    assert write_cert_dir(tmp_path) == cert_dir  # once per bundle content

    pems = re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", bundle.read_bytes(), re.DOTALL)
    files = sorted(cert_dir.iterdir())
    assert len(files) == len(pems) > 10 and all(re.fullmatch(r"[0-9a-f]{8}\.\d", f.name) for f in files)

    # Through the proxy: the local server is tunnelled (its own CA), api.openai.com is answered (the fake CA).
    assert get_through_proxy(fake, tls_server.url, verify=cert_dir).content == TLSServer.BODY
    with requests.Session() as session:
        session.trust_env = False
        models = session.get("https://api.openai.com/v1/models", proxies={"https": fake.proxy_url}, verify=str(cert_dir),
                             headers={"Authorization": "Bearer sk-test-1234567890"}, timeout=10)
    assert models.status_code == 200 and models.json()["object"] == "list"

    # Negative control: an empty directory trusts neither.
    empty = tmp_path / "empty"
    empty.mkdir()
    for url in (tls_server.url, "https://api.openai.com/v1/models"):
        with pytest.raises(requests.exceptions.SSLError):
            get_through_proxy(fake, url, verify=empty)


# -- 2. curl -------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not have("curl"), reason="curl is not installed")
def test_curl_through_the_proxy_under_exec(exec_confdir):
    url = "https://api.openai.com/v1/models"
    # CURL_CA_BUNDLE and HTTPS_PROXY come from `openai-fake exec`; curl reads both.
    done = exec_cli(exec_confdir, "curl", "-sS", "-w", "\n%{http_code}", url, "-H", "Authorization: Bearer sk-x")
    assert done.returncode == 0, done.stderr
    body, status = curl_status(done.stdout)
    assert status == 200 and body["object"] == "list" and body["data"]
    assert "1 call" in done.stderr  # exec's summary line

    done = exec_cli(exec_confdir, "curl", "-sS", "-w", "\n%{http_code}", url)
    assert done.returncode == 0, done.stderr
    body, status = curl_status(done.stdout)
    assert status == 401
    assert set(body) == {"error"} and body["error"]["message"] and body["error"]["type"] == "invalid_request_error"


@pytest.mark.skipif(not have("curl"), reason="curl is not installed")
def test_curl_to_the_base_url_face(fake):
    done = subprocess.run(
        ["curl", "-sS", "--noproxy", "*", "-w", "\n%{http_code}", f"{fake.base_url}/models",
         "-H", "Authorization: Bearer sk-x"],
        capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 0, done.stderr
    body, status = curl_status(done.stdout)
    assert status == 200 and body["object"] == "list"


# -- 3. plain requests ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_plain_requests_under_exec(exec_confdir, tmp_path):
    results, done = run_script(exec_confdir, tmp_path, f"""
        import json, os, requests

        api = "https://api.openai.com/v1"
        auth = {{"Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]}}
        out = {{}}

        r = requests.post(api + "/chat/completions", json={CHAT_BODY!r}, headers=auth, timeout=10)
        out["chat"] = {{"status": r.status_code, "body": r.json(), "request_id": r.headers.get("x-request-id")}}

        r = requests.post(api + "/chat/completions", data=b"{{not json",
                          headers={{**auth, "content-type": "application/json"}}, timeout=10)
        out["malformed"] = {{"status": r.status_code, "body": r.json()}}

        r = requests.get(api + "/nope", headers=auth, timeout=10)
        out["unknown"] = {{"status": r.status_code, "body": r.json()}}

        print(json.dumps(out))
    """)

    chat = results["chat"]
    assert chat["status"] == 200
    assert chat["body"]["object"] == "chat.completion" and chat["body"]["choices"]
    assert chat["body"]["choices"][0]["message"]["content"]
    assert chat["request_id"].startswith("req_")

    malformed = results["malformed"]
    assert malformed["status"] == 400
    assert malformed["body"]["error"]["type"] == "invalid_request_error"
    assert "parse the JSON body" in malformed["body"]["error"]["message"]  # not some other 400

    unknown = results["unknown"]
    assert unknown["status"] == 404
    assert unknown["body"]["error"]["message"] == "Invalid URL (GET /v1/nope)"

    assert "3 calls" in done.stderr


# -- 4. with no way out at all -------------------------------------------------------------------------


def _unshare_problem() -> str | None:
    """Why a loopback-only network namespace cannot be made here, or None if it can."""
    if not have("unshare") or not have("ip"):
        return "needs util-linux `unshare` and iproute2 `ip`"
    try:
        probe = subprocess.run(["unshare", "-n", "ip", "link", "set", "lo", "up"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as e:
        return f"`unshare -n` failed: {e}"
    if probe.returncode != 0:
        return f"`unshare -n` is not permitted here: {probe.stderr.strip() or probe.returncode}"
    return None


@pytest.mark.slow
def test_the_fake_answers_in_a_namespace_with_only_loopback(exec_confdir, tmp_path):
    if problem := _unshare_problem():
        pytest.skip(problem)
    script = tmp_path / "offline.py"
    script.write_text(textwrap.dedent(f"""
        import json, socket, openai

        out = {{}}
        # Prove the namespace is offline: with no route at all the connect fails at once
        # ("Network is unreachable") without sending anything.
        try:
            socket.create_connection(("1.1.1.1", 443), timeout=1).close()
            out["outbound"] = "connected"
        except OSError as e:
            out["outbound"] = f"{{type(e).__name__}}: {{e}}"

        client = openai.OpenAI(max_retries=0)  # key from exec, proxy and CA bundle from the environment
        chat = client.chat.completions.create(**{CHAT_BODY!r})
        out["chat"] = chat.choices[0].message.content
        emb = client.embeddings.create(model="text-embedding-3-small", input="hi")
        out["embedding_length"] = len(emb.data[0].embedding)
        print(json.dumps(out))
    """))
    # "$@" carries the command into the namespace without any shell quoting.
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
         *openai_fake_cmd(), "exec", "--confdir", str(exec_confdir), "--", sys.executable, str(script)],
        capture_output=True, text=True, timeout=120, env={**os.environ, **NO_BYPASS},
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert results["outbound"] != "connected", "the namespace is not offline; the test proves nothing"
    assert results["chat"]
    assert results["embedding_length"] > 0
    assert "2 calls" in done.stderr


# -- 5. never an upstream connection for OpenAI hosts ----------------------------------------------------


class _ServerConnectRecorder:
    """Records the address of every upstream connection mitmproxy is about to open."""

    name = "openai-fake-test-server-connect-recorder"

    def __init__(self) -> None:
        self.addresses: list[tuple[str, int]] = []

    def server_connect(self, data) -> None:
        self.addresses.append(tuple(data.server.address[:2]))


def _on_fake_loop(fake, fn):
    """Run `fn()` on the fake's event-loop thread (where its master lives) and return its result."""
    async def call():
        return fn()

    return asyncio.run_coroutine_threadsafe(call(), fake._loop).result(10)


@pytest.fixture
def server_connects(fake):
    """The upstream addresses the running fake tries to connect to during the test."""
    recorder = _ServerConnectRecorder()
    _on_fake_loop(fake, lambda: fake._master.addons.add(recorder))
    yield recorder.addresses
    _on_fake_loop(fake, lambda: fake._master.addons.remove(recorder))


def test_no_upstream_connection_is_attempted_for_openai_hosts(fake, client, server_connects, tls_server):
    client.models.list()
    client.chat.completions.create(**CHAT_BODY)
    client.embeddings.create(model="text-embedding-3-small", input="hi")
    client.models.retrieve("gpt-4o-mini")
    assert [e.status for e in fake.journal.entries()] == [200, 200, 200, 200]

    # The hook is not even reached: the request hook answers first, and with the lazy
    # connection strategy nothing is dialled before a request needs it.
    assert [a for a in server_connects if "openai.com" in a[0]] == []

    # Positive control: the recorder does see connections — a tunnelled host is dialled.
    assert get_through_proxy(fake, tls_server.url, verify=tls_server.cert_file).status_code == 200
    assert ("localhost", tls_server.server_address[1]) in server_connects
