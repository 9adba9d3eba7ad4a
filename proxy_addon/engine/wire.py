"""What the engine takes and gives: a plain request in, a plain reply out.

Neither knows about mitmproxy or sockets, so the same engine serves the proxy,
the base-URL face, unit tests and benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..codec import from_json, to_json

_UNPARSED = object()


@dataclass
class Request:
    """An HTTP request as the engine sees it.

    `headers` has lower-case names. `path` has no query string; `query` holds it.
    `scheme`, `host` and `port` are where the client sent it (`https://api.openai.com` through the
    proxy, `http://127.0.0.1:PORT` on the base-URL face): `origin` gives the URL of the fake as
    this client reaches it. Profile handlers receive this object: `request.json` is the parsed body,
    `request.params` the path parameters (for example `{"model": "gpt-4o"}`)
    and `request.route` the name of the route that matched. `host` is the host the
    request was sent to (another host a profile answers, `profile.host(...)`, is told apart by it).
    """

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    query: Mapping[str, str] = field(default_factory=dict)
    host: str = "api.openai.com"
    scheme: str = "https"
    port: int | None = None
    params: dict[str, str] = field(default_factory=dict)
    route: str = ""
    #: "azure" for a request in Azure OpenAI's dialect (`engine/azure.py`), rewritten onto the engine's route.
    api: str = "openai"
    #: Azure's `api-version` query parameter (taken out of `query`), and the deployment its path named.
    api_version: str | None = None
    deployment: str | None = None
    _json: Any = field(default=_UNPARSED, repr=False)

    @property
    def json(self) -> Any:
        """The body parsed as JSON (raises `ValueError` when it is not JSON)."""
        if self._json is _UNPARSED:
            self._json = from_json(self.body) if self.body else None
        return self._json

    @property
    def origin(self) -> str:
        """`scheme://host[:port]` as the client reached the fake (the port left out when it is the scheme's own)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return f"{self.scheme}://{host}" if self.port in (None, default) else f"{self.scheme}://{host}:{self.port}"

    @property
    def model(self) -> str | None:
        """The `model` the request asked for: an Azure deployment, else the one its body names."""
        if self.deployment is not None:
            return self.deployment
        try:
            body = self.json
        except ValueError:
            return None
        model = body.get("model") if isinstance(body, dict) else None
        return model if isinstance(model, str) else None  # `"model": 5` is the API's 400, not a model name


@dataclass
class Reply:
    """An HTTP reply: status, headers and a body already encoded.

    `delay` is the latency the face must wait (without blocking) before sending.
    `rule` names the profile rule that answered, for the call record.
    """

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    rule: str = ""
    #: What `body` encodes, when the reply was made from data (`Reply.json`): read it, don't re-parse the body.
    payload: Any = field(default=None, repr=False, compare=False)
    #: The `usage` of the tokens this reply generated (a create's, whole or streamed; never a retrieve's,
    #: which shows tokens counted before), for the metrics' token counts (`metrics.py`).
    usage: dict | None = field(default=None, repr=False, compare=False)
    #: The failure the profile injected in place of an answer ("http_429": `failures=`), for the metrics.
    fault: str | None = field(default=None, repr=False, compare=False)
    #: Send the call to the upstream instead, in record mode (a replay's miss with `on_miss="record"`); a face
    #: that does not record sends this reply as it is (the miss's 404).
    forward: bool = field(default=False, repr=False, compare=False)

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None, *,
             usage: dict | None = None) -> "Reply":
        """A JSON reply; `usage`: the tokens it generated (see `Reply.usage`)."""
        hdrs = {"content-type": "application/json"}
        if headers:
            hdrs.update(headers)
        return cls(status, to_json(payload), hdrs, payload=payload, usage=usage)
