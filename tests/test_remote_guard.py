"""A client from another machine cannot use the fake's proxy to reach this machine's own services (issue 12):
with `run --host 0.0.0.0`, a CONNECT or an absolute-form request from a non-loopback address to a loopback
or private address of the host (another local service, the fake's own port, its control API) is refused,
end to end, through the real `openai-fake run`.

Two network namespaces joined by a veth pair stand in for the host and a machine on its network:

    host    (ns "srv"): the fake, `openai-fake run --host 0.0.0.0`, at 10.99.0.1; canary listeners that count
                        every connection on 127.0.0.1, [::1], 10.99.0.1 (its LAN address), 192.168.77.1 and
                        [fd99::1] (more private addresses of the host) and 11.22.33.44 (a public one, reached
                        only inside the namespace: the guard must not refuse everything);
    remote  (ns "cli"): the client, at 10.99.0.2.

The fake runs under `ip netns exec`; the canaries and the client's sockets are made in a thread that has entered
the namespace they belong to (a network namespace is per thread; a socket keeps the namespace it was made in),
so this process never leaves its own. A loopback client of the same fake reaching the loopback canary shows a
canary at 0 means "refused", not "unreachable". Skipped where
namespaces cannot be made (not root, no CAP_SYS_ADMIN, no veth).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import API_KEY, openai_fake_cmd, read_until, wait_for
from netns_probe import read_head

pytestmark = pytest.mark.slow

HOST_LAN, CLIENT_LAN = "10.99.0.1", "10.99.0.2"
PRIVATE_V4, PRIVATE_V6, PUBLIC = "192.168.77.1", "fd99::1", "11.22.33.44"
CANARY_REPLY = b"HTTP/1.1 200 OK\r\nX-Canary: reached\r\nContent-Length: 6\r\nConnection: close\r\n\r\ncanary"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@pytest.fixture
def lan():
    """Two namespaces, the host's and a remote client's, on one veth link: yields (host ns, client ns,
    whether the host has its private IPv6 address)."""
    if not shutil.which("ip") or not hasattr(os, "setns"):
        pytest.skip("needs iproute2's `ip` and os.setns")
    tag = uuid.uuid4().hex[:8]
    srv, cli = f"ofake-srv-{tag}", f"ofake-cli-{tag}"
    made = []
    etc = Path("/etc/netns") / srv
    try:
        for name in (srv, cli):
            done = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
            if done.returncode != 0:
                pytest.skip(f"cannot make a network namespace here: {done.stderr.strip()}")
            made.append(name)
            ip("-n", name, "link", "set", "lo", "up")
        done = subprocess.run(["ip", "-n", srv, "link", "add", "lan0", "type", "veth", "peer", "name", "lan0", "netns", cli],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot make a veth pair here: {done.stderr.strip()}")
        ip("-n", srv, "addr", "add", f"{HOST_LAN}/24", "dev", "lan0")
        ip("-n", srv, "addr", "add", f"{PRIVATE_V4}/32", "dev", "lan0")
        ip("-n", srv, "addr", "add", f"{PUBLIC}/32", "dev", "lan0")
        ip("-n", cli, "addr", "add", f"{CLIENT_LAN}/24", "dev", "lan0")
        v6 = subprocess.run(["ip", "-n", srv, "addr", "add", f"{PRIVATE_V6}/128", "dev", "lan0", "nodad"],
                            capture_output=True).returncode == 0
        for name in (srv, cli):
            ip("-n", name, "link", "set", "lan0", "up")
        etc.mkdir(parents=True, exist_ok=True)  # the host's /etc/hosts under `ip netns exec`
        (etc / "hosts").write_text(f"127.0.0.1 localhost\n::1 localhost\n{HOST_LAN} private.test mixed.test\n"
                                   f"{PUBLIC} public.test mixed.test\n")
        yield srv, cli, v6
    finally:
        shutil.rmtree(etc, ignore_errors=True)
        for name in made:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def in_netns(name: str, fn):
    """`fn()` run in a thread that has entered network namespace `name`; its result (or its exception)."""
    out: dict = {}

    def run() -> None:
        try:
            with open(f"/run/netns/{name}") as f:
                os.setns(f.fileno(), os.CLONE_NEWNET)
            out["value"] = fn()
        except BaseException as e:  # handed to the caller
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


class Canary:
    """A listener on one port of one or more addresses that counts the connections it accepts and answers each
    with a recognisable 200."""

    def __init__(self, *addresses: str) -> None:
        self.hits = 0
        for attempt in range(20):  # the first address's free port may be taken on another
            self.socks, port = [], 0
            try:
                for address in addresses:
                    sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM)
                    self.socks.append(sock)
                    sock.bind((address, port))
                    sock.listen(64)
                    port = sock.getsockname()[1]
                break
            except OSError as e:
                for sock in self.socks:
                    sock.close()
                if e.errno != errno.EADDRINUSE or attempt == 19:
                    raise
        self.port = port
        for sock in self.socks:
            threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def _accept(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            self.hits += 1
            try:
                conn.sendall(CANARY_REPLY)
            finally:
                conn.close()

    def close(self) -> None:
        for sock in self.socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes the accept thread
            except OSError:
                pass
            sock.close()


def exchange(address: tuple[str, int], source: str | None, request: bytes, then: bytes = b"") -> dict:
    """Send `request`; read the answer's head (or to the close). If `then` is given (after a CONNECT), send it
    through the tunnel and read what comes back until the connection closes."""
    s = socket.create_connection(address, timeout=5, source_address=(source, 0) if source else None)
    try:
        s.sendall(request)
        head = read_head(s)
        tunnel = None
        if then:
            s.sendall(then)
            tunnel = b""
            try:
                while chunk := s.recv(65536):
                    tunnel += chunk
            except ConnectionResetError:
                pass
            except TimeoutError:  # neither data nor a close: not a refusal
                tunnel += b"<no close within 5 s>"
        else:  # the body of a short answer
            try:
                while len(head) < 8192 and (chunk := s.recv(65536)):
                    head += chunk
            except (ConnectionResetError, TimeoutError):
                pass
        return {"head": head.decode("latin-1"), "tunnel": None if tunnel is None else tunnel.decode("latin-1")}
    finally:
        s.close()


def connect(target: str) -> bytes:
    return f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode()


def get(url: str, host: str, *headers: str) -> bytes:
    extra = "".join(f"{h}\r\n" for h in headers)
    return f"GET {url} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n".encode()


INNER = b"GET / HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n"


@pytest.fixture
def fake_on_lan(lan, tmp_path):
    """The real `openai-fake run --host 0.0.0.0 --port 0` in the host namespace: yields (lan, its proxy's port, token,
    its base-URL face's port)."""
    srv, _, _ = lan
    confdir = tmp_path / "conf"
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    proc = subprocess.Popen(["ip", "netns", "exec", srv, *openai_fake_cmd(), "run", "--host", "0.0.0.0", "--port", "0",
                             "--confdir", str(confdir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**env, "COLUMNS": "200"})
    try:
        base_url = read_until(proc, "OPENAI_BASE_URL=").split("OPENAI_BASE_URL=")[-1].strip().strip("'")
        face_port = int(re.search(r":(\d+)/", base_url).group(1))
        info = json.loads((confdir / "running.json").read_text())
        yield lan, int(info["proxy_url"].rsplit(":", 1)[1]), info["control_token"], face_port
    finally:
        proc.send_signal(signal.SIGINT)  # `ip netns exec` execs the fake: this is its pid
        proc.communicate(timeout=20)


def test_a_remote_client_cannot_reach_the_hosts_loopback_or_private_services_through_the_proxy(fake_on_lan, request):
    (srv, cli, v6), port, token, face_port = fake_on_lan

    def canaries() -> tuple[dict[str, Canary], bool]:
        """"loopback" listens on 127.0.0.1 and, where there is IPv6, [::1], at one port (`localhost` is either)."""
        try:
            made, lo6 = {"loopback": Canary("127.0.0.1", "::1")}, True
        except OSError:
            made, lo6 = {"loopback": Canary("127.0.0.1")}, False
        made |= {HOST_LAN: Canary(HOST_LAN), PRIVATE_V4: Canary(PRIVATE_V4), PUBLIC: Canary(PUBLIC)}
        if v6:
            made[PRIVATE_V6] = Canary(PRIVATE_V6)
        return made, lo6

    can, lo6 = in_netns(srv, canaries)
    request.addfinalizer(lambda: [c.close() for c in can.values()])
    lo, lan_, priv = can["loopback"].port, can[HOST_LAN].port, can[PRIVATE_V4].port
    bearer, fake_token = f"Authorization: Bearer {API_KEY}", f"X-OpenAI-Fake-Token: {token}"

    # What the remote client (10.99.0.2) tries, through the proxy at 10.99.0.1: (request, data sent through a tunnel).
    tunnels = {
        "CONNECT 127.0.0.1": f"127.0.0.1:{lo}",
        "CONNECT localhost": f"localhost:{lo}",
        "CONNECT 127.1": f"127.1:{lo}",
        "CONNECT 2130706433": f"2130706433:{lo}",
        "CONNECT 0.0.0.0": f"0.0.0.0:{lo}",
        "CONNECT [::ffff:127.0.0.1]": f"[::ffff:127.0.0.1]:{lo}",
        "CONNECT host LAN address": f"{HOST_LAN}:{lan_}",
        "CONNECT host LAN name": f"private.test:{lan_}",
        "CONNECT other private address": f"{PRIVATE_V4}:{priv}",
        "CONNECT a name for a private and a public address": f"mixed.test:{lan_}",
        "CONNECT the fake itself": f"127.0.0.1:{port}",
        "CONNECT the fake itself, by LAN address": f"{HOST_LAN}:{port}",
    }
    if lo6:
        tunnels["CONNECT [::1]"] = f"[::1]:{lo}"
    if PRIVATE_V6 in can:
        tunnels["CONNECT [fd99::1]"] = f"[{PRIVATE_V6}]:{can[PRIVATE_V6].port}"
    plain = {
        "GET http://127.0.0.1": get(f"http://127.0.0.1:{lo}/", f"127.0.0.1:{lo}"),
        "GET http://localhost": get(f"http://localhost:{lo}/", f"localhost:{lo}"),
        "GET http://host LAN address": get(f"http://{HOST_LAN}:{lan_}/", f"{HOST_LAN}:{lan_}"),
        "GET http://other private address": get(f"http://{PRIVATE_V4}:{priv}/", f"{PRIVATE_V4}:{priv}"),
    }
    if lo6:
        plain["GET http://[::1]"] = get(f"http://[::1]:{lo}/", f"[::1]:{lo}")
    # The control API, with its token: what refuses is the client's address, not a missing secret.
    control = {
        "control API at 127.0.0.1": get(f"http://127.0.0.1:{port}/_fake/calls", f"127.0.0.1:{port}", fake_token),
        "control API at its LAN address": get(f"http://{HOST_LAN}:{port}/_fake/calls", f"{HOST_LAN}:{port}", fake_token),
    }
    # ... and on the base-URL face's own port, straight (it proxies nothing: the control API is all there is to try).
    face_control = {"control API on the base-URL face's port": get("/_fake/calls", f"{HOST_LAN}:{face_port}", fake_token)}
    # ... and through a tunnel to the fake itself, where it would come from the fake's own address.
    inner_control = get("/_fake/calls", f"127.0.0.1:{port}", fake_token)
    # (By the host's public address the inner leg comes from that public address, which mitmproxy's `block`
    # addon refuses: a client from a public address may not use a fake listening beyond loopback.)
    control_tunnels = {"control API through a tunnel to 127.0.0.1": f"127.0.0.1:{port}",
                       "control API through a tunnel to the LAN address": f"{HOST_LAN}:{port}",
                       "control API through a tunnel to the public address": f"{PUBLIC}:{port}"}
    proxy = (HOST_LAN, port)

    def remote() -> dict:
        got = {name: exchange(proxy, CLIENT_LAN, connect(target), INNER) for name, target in tunnels.items()}
        got |= {name: exchange(proxy, CLIENT_LAN, request) for name, request in plain.items()}
        got |= {name: exchange(proxy, CLIENT_LAN, request) for name, request in control.items()}
        got |= {name: exchange((HOST_LAN, face_port), CLIENT_LAN, request) for name, request in face_control.items()}
        got |= {name: exchange(proxy, CLIENT_LAN, connect(target), inner_control) for name, target in control_tunnels.items()}
        # Normal service for the remote client: the fake answers OpenAI, and public addresses are tunnelled.
        got["OpenAI, absolute form"] = exchange(proxy, CLIENT_LAN, get("http://api.openai.com/v1/models",
                                                                       "api.openai.com", bearer))
        got["CONNECT public address"] = exchange(proxy, CLIENT_LAN, connect(f"{PUBLIC}:{can[PUBLIC].port}"), INNER)
        got["CONNECT public name"] = exchange(proxy, CLIENT_LAN, connect(f"public.test:{can[PUBLIC].port}"), INNER)
        return got

    got = in_netns(cli, remote)
    time.sleep(0.2)  # a connection that did reach a canary is counted by its accept thread
    remote_hits = {name: c.hits for name, c in can.items()}

    # Positive control: the same proxy takes a client on the host itself (source 127.0.0.1) to the loopback
    # canary, so a canary at 0 above means "refused", not "unreachable".
    local = in_netns(srv, lambda: exchange(("127.0.0.1", port), "127.0.0.1", connect(f"127.0.0.1:{lo}"), INNER))
    local_control = in_netns(srv, lambda: exchange(("127.0.0.1", port), "127.0.0.1", control["control API at 127.0.0.1"]))

    report = json.dumps({"remote": got, "canary hits from the remote client": remote_hits,
                         "local": local, "local control": local_control}, indent=1)
    # Each refusal as it is seen: a CONNECT is answered 200 at once (`connection_strategy=lazy`), and the tunnel
    # is closed, with nothing from the target, when the connection upstream is refused; an absolute-form
    # request gets mitmproxy's 502 with the addon's reason; the control API its 403 (not loopback).
    refused = {name: got[name]["head"].startswith("HTTP/1.1 200 Connection established") and got[name]["tunnel"] == ""
               for name in [*tunnels, *control_tunnels]}
    refused |= {name: got[name]["head"].startswith("HTTP/1.1 502")
                and "refuses to connect a client from another machine" in got[name]["head"] for name in plain}
    refused |= {name: got[name]["head"].startswith("HTTP/1.1 403") and "control_forbidden" in got[name]["head"]
                for name in [*control, *face_control]}
    not_refused = {name: got[name]["tunnel"] or got[name]["head"][:120] for name, ok in refused.items() if not ok}
    assert not not_refused, json.dumps(not_refused, indent=1)
    assert remote_hits == {**dict.fromkeys(remote_hits, 0), PUBLIC: 2}, remote_hits

    # The guard refuses what is not public, not every remote client: the fake answers it, public addresses are
    # tunnelled (by address and by name).
    assert got["OpenAI, absolute form"]["head"].startswith("HTTP/1.1 200"), report
    assert '"object":"list"' in got["OpenAI, absolute form"]["head"].replace(" ", ""), report
    assert got["CONNECT public address"]["tunnel"] == CANARY_REPLY.decode(), report
    assert got["CONNECT public name"]["tunnel"] == CANARY_REPLY.decode(), report
    # A loopback client is not refused.
    assert local["tunnel"] == CANARY_REPLY.decode(), report
    assert wait_for(lambda: can["loopback"].hits == 1), report
    assert local_control["head"].startswith("HTTP/1.1 200"), report
