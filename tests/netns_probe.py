"""Run inside a network namespace that has only loopback (see test_no_leak.py): a canary listener stands
in for the OpenAI address, a fake runs in-process, and every way of reaching OpenAI is tried through it.
Prints one JSON line: the canary's connection count and what each probe got."""

from __future__ import annotations

import json
import socket
import ssl
import sys
import threading

CANARY = "203.0.113.7"  # on this namespace's lo; /etc/hosts here maps api.openai.com to it


def canary() -> list[int]:
    hits = [0]
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((CANARY, 443))
    server.listen(64)

    def accept():
        while True:
            conn, _ = server.accept()
            hits[0] += 1
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    return hits


def connect_tls(proxy: tuple[str, int], target: str, sni: str, ca: str, alpn: list[str] | None = None):
    s = socket.create_connection(proxy, timeout=10)
    s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    head = read_head(s)
    assert head.startswith(b"HTTP/1.1 200"), head
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx.wrap_socket(s, server_hostname=sni)


def read_head(sock) -> bytes:
    """What comes back up to the end of an answer's head (or to the close)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def ask(sock, request: bytes) -> bytes:
    sock.sendall(request)
    return read_head(sock).split(b"\r\n", 1)[0]


def main() -> None:
    hits = canary()
    from proxy_addon import Profile
    from proxy_addon.runner import Runner

    results = {}
    with Runner(Profile(), port=0, confdir=sys.argv[1], warm=False) as runner:
        proxy = ("127.0.0.1", runner.address[1])
        ca = str(runner.bundle)
        auth = b"Authorization: Bearer sk-test-1234567890abcdef\r\n"
        # 1. CONNECT by name, then the real SDK.
        import openai
        import httpx2

        with openai.OpenAI(api_key="sk-test-1234567890abcdef", max_retries=0,
                           http_client=httpx2.Client(proxy=runner.proxy_url, verify=ssl.create_default_context(cafile=ca))) as c:
            results["connect_by_name_sdk"] = len(c.models.list().data) > 0
        # 2. CONNECT by IP with OpenAI's SNI, and a Host that names the IP.
        s = connect_tls(proxy, f"{CANARY}:443", "api.openai.com", ca)
        results["connect_by_ip_sni"] = ask(s, b"GET /v1/models HTTP/1.1\r\nHost: " + CANARY.encode() + b"\r\n" + auth + b"\r\n").decode()
        s.close()
        # 3. Absolute-form plain HTTP.
        p = socket.create_connection(proxy, timeout=10)
        results["absolute_form"] = ask(p, b"GET http://api.openai.com/v1/models HTTP/1.1\r\nHost: api.openai.com\r\n" + auth + b"\r\n").decode()
        p.close()
        # 4. HTTP/2 over the tunnel (ALPN h2), with the h2 client httpx2 brings when it has it.
        try:
            with httpx2.Client(proxy=runner.proxy_url, http2=True, verify=ssl.create_default_context(cafile=ca)) as h:
                r = h.get("https://api.openai.com/v1/models", headers={"authorization": "Bearer sk-test-1234567890abcdef"})
                results["http2"] = f"{r.http_version} {r.status_code}"
        except ImportError as e:
            results["http2"] = f"skipped: {e}"
        # 5. A WebSocket upgrade (Realtime's path), by name.
        s = connect_tls(proxy, "api.openai.com:443", "api.openai.com", ca)
        results["websocket"] = ask(s, b"GET /v1/realtime?model=gpt-realtime HTTP/1.1\r\nHost: api.openai.com\r\n" + auth
                                   + b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                                   b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").decode()
        s.close()
        calls = len(runner.journal.entries())
    print(json.dumps({"canary": hits[0], "calls": calls, "results": results}))


if __name__ == "__main__":
    main()
