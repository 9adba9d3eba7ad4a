"""Who may reach what: the one place that decides what a request is and where a connection may go.

Pure functions of addresses and names (no mitmproxy), so they are tested by table.

- **Is this OpenAI?** `is_api_host` (OpenAI's hosts, `is_openai`, and Azure OpenAI's) is asked
  of the CONNECT target, the TLS SNI and the `Host` header alike: any one of them naming such a
  host makes the request the fake's to answer, so a client that sends `CONNECT 203.0.113.7:443`
  with SNI `api.openai.com` is answered here and never dialled upstream. (Other hosts a profile
  names, `profile.host(...)`, are asked of the profile by the addon, the same three ways.)
- **Is this request addressed to the fake itself?** A plain-HTTP request to the fake's
  own port is the base-URL face (or the control API) only when its `Host` names one of
  the fake's own addresses (`own_host`). Any other name at that port (`evil.example:PORT`
  from a DNS-rebinding page, `127.1:PORT`) is refused: forwarding it would make the fake
  proxy to itself in a loop.
- **May the proxy open this upstream connection?** `upstream_refusal`: never to an OpenAI
  host (but for record mode's one upstream, `run --record`); never to the fake's own port (a loop); and, for a client that is not on this
  machine (`run --host 0.0.0.0`), never to a loopback, private, link-local or otherwise
  non-public address: the fake must not be a way into the host's own services.
"""

from __future__ import annotations

import ipaddress
import re
import socket

__all__ = ["OPENAI_HOST", "AZURE_HOST", "ALLOW_HOSTS", "is_openai", "is_azure", "is_api_host", "is_loopback", "hostname", "own_host", "upstream_refusal",
           "local_names", "authority", "is_public"]

# A trailing dot (the fully qualified `api.openai.com.`) is the same host and must not slip through.
OPENAI_HOST = re.compile(r"^(?:[a-z0-9-]+\.)*api\.openai\.com\.?$", re.IGNORECASE)
#: Azure OpenAI's resource hosts (`myres.openai.azure.com`, `myres.cognitiveservices.azure.com`; engine/azure.py).
AZURE_HOST = re.compile(r"^(?:[a-z0-9-]+\.)+(?:openai|cognitiveservices)\.azure\.com\.?$", re.IGNORECASE)
#: For mitmproxy's `allow_hosts` (matched against the CONNECT target and the SNI): intercept these,
#: tunnel the rest.
ALLOW_HOSTS = [
    r"^(?:[a-z0-9-]+\.)*api\.openai\.com\.?(?::\d+)?$",
    r"^(?:[a-z0-9-]+\.)+(?:openai|cognitiveservices)\.azure\.com\.?(?::\d+)?$",  # Azure OpenAI (engine/azure.py)
]

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "127.0.0.1", "::1"})


def is_openai(name: str | None) -> bool:
    """Whether a host name (a CONNECT target, an SNI, a `Host` without its port) is an OpenAI API host."""
    return bool(name) and OPENAI_HOST.match(name) is not None


def is_azure(name: str | None) -> bool:
    """Whether a host name is an Azure OpenAI host."""
    return bool(name) and AZURE_HOST.match(name) is not None


def is_api_host(name: str | None) -> bool:
    """Whether a host name is one the fake always answers: OpenAI's or Azure OpenAI's (`*.openai.azure.com`,
    `*.cognitiveservices.azure.com`)."""
    return is_openai(name) or is_azure(name)


def hostname(host_header: str | None) -> str:
    """The name in a `Host` header: `[::1]:8080` -> `::1`, `Example.COM:80` -> `example.com`."""
    host = (host_header or "").strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host[1:]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host


def authority(host_header: str | None, default_port: int = 80) -> tuple[str, int | None]:
    """The name and port a `Host` header gives: `[::1]:8080` -> (`::1`, 8080), `Example.COM` -> (`example.com`,
    `default_port`); the port None when it is not a number (no address of the fake's)."""
    host = (host_header or "").strip()
    port_text = ""
    if host.startswith("["):
        end = host.find("]")
        port_text = host[end + 1:] if end >= 0 else ""
    elif host.count(":") == 1:
        port_text = host[host.index(":"):]
    if not port_text:
        return hostname(host), default_port
    digits = port_text[1:] if port_text.startswith(":") else "x"
    return hostname(host), int(digits) if digits.isascii() and digits.isdigit() else None


def is_public(host: str | None) -> bool:
    """Whether a client address is a public one (mitmproxy's `block_global` refuses those: so does every face)."""
    address = _ip(host)
    return address is not None and address.is_global and not address.is_loopback


def _ip(host: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a numeric host names, in every form `inet_aton` takes (`127.1`, `0x7f.1`, `2130706433`)."""
    if not host:
        return None
    host = host.strip("[]").split("%", 1)[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            address = ipaddress.ip_address(socket.inet_aton(host))
        except (OSError, ValueError):
            return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def is_loopback(host: str | None) -> bool:
    """Whether a client address is this machine (IPv4-mapped `::ffff:127.0.0.1` included)."""
    if not host:
        return False
    if host.lower().rstrip(".") == "localhost":
        return True
    address = _ip(host)
    return address is not None and address.is_loopback


def local_names() -> frozenset[str]:
    """This machine's own names, for a fake listening beyond loopback (`Host: myhost:8080`)."""
    names = set()
    for name in (socket.gethostname(),):
        if name:
            names.add(name.lower())
            names.add(name.lower().split(".", 1)[0])
    return frozenset(names)


def own_host(name: str, port: int, listen_port: int, sockname: str | None, extra: frozenset[str] = frozenset()) -> bool:
    """Whether `name:port` (from a request's `Host`) is the fake's own listening address.

    Loopback names (`127.0.0.1`, `localhost`, `[::1]`), the address the client connected to
    (`sockname`, e.g. `192.168.1.5` with `--host 0.0.0.0`), and `extra` names (the listen host and,
    beyond loopback, this machine's host name), all at the listening port. Other spellings that only
    resolve to loopback (`127.1`, `0x7f.1`, `127.0.0.2`) are not names a client of the fake is given.
    """
    if port != listen_port:
        return False
    name = name.lower().strip("[]")
    if name in _LOOPBACK_NAMES or name in extra:
        return True
    return sockname is not None and name == sockname.lower().strip("[]").split("%", 1)[0]


def upstream_refusal(host: str, port: int, addresses: list[str], *, listen_port: int | None,
                     client_is_local: bool, relay_port: int | None = None,
                     forwarding: bool = False) -> str | None:
    """Why the proxy must not connect to `host:port` (which resolves to `addresses`), or None.

    `addresses` are the numeric addresses `host` resolves to (the caller resolves names; a
    numeric host is its own address). The relay (the fake's own loopback stream server) is
    always allowed. `forwarding`: `host:port` is record mode's upstream (`run --record`), which
    its user named: allowed, OpenAI's host or not and wherever it is, but never the fake itself.
    """
    if is_api_host(host) and not forwarding:
        return "openai-fake never connects to the real OpenAI API"
    ips = [ip for ip in (_ip(a) for a in [host, *addresses]) if ip is not None]
    if relay_port is not None and port == relay_port and ips and all(ip.is_loopback for ip in ips):
        return None
    if listen_port is not None and port == listen_port and any(ip.is_loopback or ip.is_unspecified for ip in ips):
        return f"openai-fake will not connect to itself ({host}:{port}): that would loop"
    if not client_is_local and not forwarding:
        for ip in ips:
            if not ip.is_global or ip.is_multicast:
                return (f"openai-fake refuses to connect a client from another machine to {host}:{port} "
                        f"({ip} is not a public address)")
    return None
