"""See and steer a running fake: the control endpoints and the profile watcher.

`Control` answers `/_fake/...` on the base-URL face (never through the proxy
face, where `https://api.openai.com/_fake/...` is the real API's 404):

    GET  /_fake/calls     the journal's calls, oldest first (filters: path, status, model, kind, limit)
    POST /_fake/reset     forget state and call counts ({"calls": true} also clears the calls)
    GET  /_fake/profile   the active profile: name, source, rules, the last reload error
    POST /_fake/profile   {"profile": "<shipped name | file.py | dotted.module>"}: load it and answer with it
    GET  /_fake/state     everything stored, as JSON, with the call counts and the metrics' numbers
    GET  /_fake/metrics   the metrics in Prometheus's text format (OpenMetrics if asked for; `metrics.py`)
    GET  /_fake/webhooks  where webhooks go: the profile's endpoints and those registered here, secrets included
    POST /_fake/webhooks  {"url", "secret"?, "events"?}: register an endpoint (a secret is made when none is given)
    DELETE /_fake/webhooks/{id}  remove one registered here

It is a function of (method, path, query, body, client address, headers) to an
engine `Reply`, so it is tested without sockets. Loading a profile runs Python
from the fake's disk, and `state` hands out uploaded files, so every request
must bring the run's secret token (made afresh at each start, kept in the conf
directory's run file at mode 0600, as mitmweb does) as `Authorization: Bearer
TOKEN` or `X-OpenAI-Fake-Token: TOKEN`; without it: 401. Loopback is not a user
boundary: the token is what tells the fake's user from the machine's others.
Besides, only loopback clients are answered unless the user opts in
(`run --allow-remote-control`, which still needs the token), and a browser's
request is refused unless it is same-origin (an `Origin` other than the fake's
own address, a dev server on `localhost:3000` included, or a `Sec-Fetch-Site`
other than `same-origin`/`none`), with or without that flag.

`ProfileWatcher` reloads the active profile when its file changes, by polling
in the fake's event loop (one `stat` per tick: no dependency, no threads but
the one that loads the new version).
"""

from __future__ import annotations

import asyncio
import hmac
import importlib.util
import json
import os
import secrets
import weakref
from pathlib import Path
from typing import Any, Callable, Mapping

from .access import is_loopback
from .engine import Engine, OpenAIError, Reply, webhook_endpoints
from .engine.errors import invalid_url, missing_param, unparsable_json
from .journal import Entry, Filter, Journal, notice, public
from .metrics import Metrics
from .profile import Profile, ProfileError, is_real_interrupt, load, resolve, shipped_dir

__all__ = ["PREFIX", "TOKEN_HEADER", "Control", "ProfileWatcher", "is_loopback", "load_fresh", "new_token"]

#: Paths under this prefix, on the base-URL face, are control requests.
PREFIX = "/_fake/"
#: The fake's own header for the control token (`Authorization: Bearer TOKEN` works too).
TOKEN_HEADER = "x-openai-fake-token"


def new_token() -> str:
    """A fresh control token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def load_fresh(spec: str) -> Profile:
    """`profile.load`, never from a stale bytecode cache.

    A `.pyc` is trusted when the source's size and mtime (in whole seconds)
    match, so an edit of the same length within one second of the last load
    would load the old code. Dropping the file's cached bytecode first makes
    every load read the source.
    """
    try:
        _, path = resolve(spec)
    except ProfileError:
        path = None  # load() gives the error
    signature = None
    from_file = spec.endswith(".py") or "/" in spec or "\\" in spec or (path is not None and path.parent == shipped_dir())
    if path is not None and from_file:  # a dotted module is imported, and cached, as Python does
        signature = _signature(path)
        try:
            os.unlink(importlib.util.cache_from_source(str(path)))
        except (OSError, NotImplementedError, ValueError):
            pass
    profile = load(spec)
    if signature is not None:
        _LOADED_FROM[profile] = signature
    return profile


#: The signature of the file each profile was read from, taken before reading it, so that a save
#: made between loading a profile and the watcher's next look is not taken for the loaded version.
_LOADED_FROM: "weakref.WeakKeyDictionary[Profile, tuple]" = weakref.WeakKeyDictionary()


class Control:
    """Answers the control endpoints from the runner's engine and journal."""

    def __init__(self, engine: Engine, journal: Journal, *, allow_remote: bool = False,
                 watcher: "ProfileWatcher | None" = None, token: str | None = None,
                 metrics: Metrics | None = None) -> None:
        self.engine = engine
        self.journal = journal
        #: What `GET /_fake/metrics` shows: counted from the journal and the engine from now on.
        self.metrics = metrics or Metrics(engine, journal)
        #: The secret every control request must bring; one of its own when none is given, so a
        #: control API is never open.
        self.token = token or new_token()
        #: Answer clients that are not on this machine (`run --allow-remote-control`).
        self.allow_remote = allow_remote
        #: Reports the last failed reload in `GET /_fake/profile`, when there is one.
        self.watcher = watcher

    def handle(self, method: str, path: str, query: Mapping[str, str] | None = None, body: bytes = b"",
               client: str | None = None, headers: Mapping[str, str] | None = None) -> Reply:
        """Answer one control request. `client` is the peer's address; `headers` have lower-case names.

        Never raises: every failure is an OpenAI-shaped error reply.
        """
        query = query or {}
        headers = headers or {}
        try:
            self._check_client(client, headers)
            endpoint = _ENDPOINTS.get((method.upper(), path.rstrip("/")))
            item = path[len(_WEBHOOK_ITEM):].strip("/") if path.startswith(_WEBHOOK_ITEM) else ""
            if endpoint is None and method.upper() == "DELETE" and item and "/" not in item:
                return self.delete_webhook(item)
            if endpoint is None:
                raise invalid_url(method.upper(), path)
            return endpoint(self, query, body, headers)
        except OpenAIError as e:
            return e.reply()
        except BaseException as e:  # a bug here (or a module's SystemExit) must not take the proxy down
            if is_real_interrupt(e):
                raise
            return OpenAIError(500, f"openai-fake control error: {type(e).__name__}: {e}", type="server_error").reply()

    def _check_client(self, client: str | None, headers: Mapping[str, str]) -> None:
        if not self.allow_remote and not is_loopback(client):
            raise OpenAIError(
                403, f"openai-fake: control endpoints answer only clients on this machine, not {client or 'an unknown address'}; "
                     "start the fake with `openai-fake run --allow-remote-control` to allow others",
                code="control_forbidden",
            )
        # A web page open in the user's browser may send requests to 127.0.0.1; it must not steer the fake,
        # nor read its state. Browsers send `Origin` on every cross-origin request ("null" from sandboxed
        # frames and files) and `Sec-Fetch-Site` on every request; only the fake's own origin is trusted.
        origin = headers.get("origin")
        if origin is not None and origin.lower().rstrip("/") != f"http://{headers.get('host', '')}".lower():
            raise OpenAIError(403, f"openai-fake: control endpoints refuse cross-origin browser requests (Origin: {origin})",
                              code="control_forbidden")
        site = headers.get("sec-fetch-site")
        if site is not None and site.lower() not in ("same-origin", "none"):
            raise OpenAIError(403, f"openai-fake: control endpoints refuse cross-site browser requests (Sec-Fetch-Site: {site})",
                              code="control_forbidden")
        if not hmac.compare_digest(_token_of(headers).encode(), self.token.encode()):
            given = "a wrong" if _token_of(headers) else "no"
            raise OpenAIError(
                401, f"openai-fake: {given} control token. Control requests need the token of this run, as "
                     f"`Authorization: Bearer TOKEN` or `X-OpenAI-Fake-Token: TOKEN`; the CLI reads it from the run "
                     f"file in the conf directory (`running.json`, mode 0600), the pytest fixture has it as "
                     f"`openai_fake.control_token`",
                type="invalid_request_error", code="invalid_control_token",
            )

    # -- endpoints -----------------------------------------------------------------

    def calls(self, query: Mapping[str, str], body: bytes, headers: Mapping[str, str]) -> Reply:
        selected = _filter(query)
        entries = [public(e) for e in self.journal.entries(kind=None) if selected(e)]  # as `tail --json` prints them
        limit = query.get("limit")
        if limit is not None:
            try:
                n = int(limit)
                if n < 0:
                    raise ValueError
            except ValueError:
                raise OpenAIError(400, f"limit must be an integer >= 0, not {limit!r}", param="limit", code="invalid_value") from None
            entries = entries[-n:] if n else []
        return Reply.json(200, {"object": "list", "data": entries})

    def reset(self, query: Mapping[str, str], body: bytes, headers: Mapping[str, str]) -> Reply:
        payload = _json_body(body)
        calls = payload.get("calls", False) if payload is not None else _flag(query.get("calls"))
        if not isinstance(calls, bool):
            raise OpenAIError(400, f"calls must be true or false, not {calls!r}", param="calls", code="invalid_type")
        self.engine.reset()
        if calls:
            self.journal.clear()
        self.journal.record(notice("reset", "state and call counts reset" + (", calls cleared" if calls else "")))
        return Reply.json(200, {"reset": True, "calls_cleared": calls})

    def get_profile(self, query: Mapping[str, str], body: bytes, headers: Mapping[str, str]) -> Reply:
        return Reply.json(200, self._describe(self.engine.profile))

    def set_profile(self, query: Mapping[str, str], body: bytes, headers: Mapping[str, str]) -> Reply:
        payload = _json_body(body)
        if payload is None or "profile" not in payload:
            raise missing_param("profile")
        spec, keep_state = payload["profile"], payload.get("keep_state", False)
        if not isinstance(spec, str) or not spec.strip():
            raise OpenAIError(400, "profile must be a shipped profile name, a .py file or a dotted module name",
                              param="profile", code="invalid_value")
        if not isinstance(keep_state, bool):
            raise OpenAIError(400, f"keep_state must be true or false, not {keep_state!r}", param="keep_state",
                              code="invalid_type")
        try:
            resolve(spec)
        except ProfileError as e:
            raise OpenAIError(404, str(e), param="profile", code="profile_not_found") from None
        try:
            profile = load_fresh(spec)
        except ProfileError as e:
            raise OpenAIError(422, str(e), param="profile", code="profile_error") from None
        if keep_state:
            self.engine.profile = profile
        else:
            self.engine.use(profile)
        self.journal.record(notice("profile", f"profile: {profile.name} ({profile.source})" + ("" if keep_state else "; state reset")))
        return Reply.json(200, self._describe(profile))

    def state(self, query: Mapping[str, str], body: bytes, headers: Mapping[str, str]) -> Reply:
        state = self.engine.state
        return Reply.json(200, {**state.snapshot(), "counts": state.counts(), "metrics": self.metrics.summary()})

    def get_metrics(self, query: Mapping[str, str], body: bytes, headers: Mapping[str, str]) -> Reply:
        text, content_type = self.metrics.exposition(headers.get("accept"))
        return Reply(200, text, {"content-type": content_type})

    def webhooks(self, query: Mapping[str, str], body: bytes, headers: Mapping[str, str]) -> Reply:
        found = webhook_endpoints.endpoints(self.engine.profile, self.engine.state)
        return Reply.json(200, {"object": "list", "data": [e.record() for e in found]})

    def add_webhook(self, query: Mapping[str, str], body: bytes, headers: Mapping[str, str]) -> Reply:
        payload = _json_body(body)
        if payload is None or "url" not in payload:
            raise missing_param("url")
        unknown = sorted(set(payload) - {"url", "secret", "events"})
        if unknown:
            raise OpenAIError(400, f"Unrecognized request argument supplied: {unknown[0]}", param=unknown[0],
                              code="unknown_parameter")
        for name, check in (("url", webhook_endpoints.check_url), ("secret", webhook_endpoints.check_secret),
                            ("events", webhook_endpoints.check_events)):
            if payload.get(name) is not None:
                try:
                    check(payload[name])
                except (TypeError, ValueError) as e:
                    raise OpenAIError(400, str(e), param=name, code="invalid_value") from None
        state = self.engine.state
        endpoint = webhook_endpoints.make(payload["url"], payload.get("secret"), payload.get("events"),
                                          id=state.new_id("we_"), source="control")
        state.put(webhook_endpoints.STORE, endpoint.record())
        events = ", ".join(endpoint.events) if endpoint.events else "every event"
        self.journal.record(notice("webhook_endpoint_added", f"webhook endpoint {endpoint.id}: {endpoint.url} ({events})"))
        return Reply.json(200, endpoint.record())

    def delete_webhook(self, endpoint_id: str) -> Reply:
        if self.engine.state.delete(webhook_endpoints.STORE, endpoint_id) is None:
            if any(e.id == endpoint_id for e in self.engine.profile.webhook_endpoints):
                raise OpenAIError(400, f"webhook endpoint {endpoint_id!r} is the profile's: edit the profile to remove it",
                                  param="id", code="invalid_value")
            raise OpenAIError(404, f"No webhook endpoint found with id '{endpoint_id}'.", param="id", code="not_found")
        self.journal.record(notice("webhook_endpoint_removed", f"webhook endpoint {endpoint_id} removed"))
        return Reply.json(200, {"id": endpoint_id, "object": "webhook_endpoint.deleted", "deleted": True})

    def _describe(self, profile: Profile) -> dict[str, Any]:
        followed = self.watcher is not None and self.watcher.profile is profile
        return {
            "name": profile.name,
            "source": profile.source,
            "rules": sorted(profile.rules),
            "latency": profile.latency,
            "watched": self.watcher is not None and watched_file(profile) is not None,
            "reload_error": self.watcher.error if followed else None,
        }


_ENDPOINTS = {
    ("GET", "/_fake/calls"): Control.calls,
    ("POST", "/_fake/reset"): Control.reset,
    ("GET", "/_fake/profile"): Control.get_profile,
    ("POST", "/_fake/profile"): Control.set_profile,
    ("GET", "/_fake/state"): Control.state,
    ("GET", "/_fake/metrics"): Control.get_metrics,
    ("GET", "/_fake/webhooks"): Control.webhooks,
    ("POST", "/_fake/webhooks"): Control.add_webhook,
}
#: `DELETE /_fake/webhooks/{id}`.
_WEBHOOK_ITEM = "/_fake/webhooks/"


def _token_of(headers: Mapping[str, str]) -> str:
    """The control token a request brings, or ""."""
    token = headers.get(TOKEN_HEADER)
    if token:
        return token.strip()
    authorization = headers.get("authorization", "")
    return authorization[7:].strip() if authorization[:7].lower() == "bearer " else ""


def _json_body(body: bytes) -> dict | None:
    """The body as a JSON object; None when empty; a 400 when it is anything else."""
    if not body or not body.strip():
        return None
    try:
        payload = json.loads(body)
    except ValueError:
        raise unparsable_json() from None
    if not isinstance(payload, dict):
        raise OpenAIError(400, "the body must be a JSON object", code="invalid_type")
    return payload


def _flag(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes", "on")


def _filter(query: Mapping[str, str]) -> Callable[[Entry], bool]:
    """The `calls` filters: kind, "call" (default), "notice", "stream", "webhook" or "all", comma-separated;
    path, status and model as `tail` takes them (`journal.Filter`: a substring of the path; statuses such as
    429 or 4xx, comma-separated; the exact model id or a shell-style pattern)."""
    kinds = (query.get("kind") or "call").split(",")
    try:
        selected = Filter(query.get("path"), [query.get("status") or ""], query.get("model"))
    except ValueError as e:
        raise OpenAIError(400, f"status: {e}", param="status", code="invalid_value") from None
    return lambda entry: ("all" in kinds or entry.kind in kinds) and selected(entry)


# -- hot reload -------------------------------------------------------------------


def watched_file(profile: Profile) -> Path | None:
    """The file a profile was loaded from, which a save reloads; None for an inline profile."""
    source = profile.source
    if source and source.endswith(".py") and Path(source).is_file():
        return Path(source)
    return None


def _signature(path: Path) -> tuple | None:
    """What changes when a file is saved: mtime, ctime, size and inode (editors that replace the file)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino


class ProfileWatcher:
    """Reloads the engine's active profile when the file it came from is saved.

    It follows whatever profile is active (set at start, by `POST /_fake/profile`,
    by the `openai_fake_profile` option or by a test), so the file watched is
    always the active one's. A change is loaded once two looks `interval` apart
    agree, so a save still being written is not read half-way. A good version
    replaces `engine.profile` and keeps the state (the engine reads the profile
    once per call, so calls in flight finish with the old one); a broken one
    keeps the last good profile. Both are recorded as "notice" entries.

    Only the profile's own file is watched, not modules it imports. A dotted
    module is reloaded from its file and keeps its name. Preloads
    (`profile.state.put`) of the new version apply at the next reset.
    """

    def __init__(self, engine: Engine, journal: Journal, interval: float = 0.1) -> None:
        self.engine = engine
        self.journal = journal
        self.interval = interval
        #: The profile followed, and its file (None: nothing to watch).
        self.profile: Profile | None = None
        self.path: Path | None = None
        #: The last failed reload's `file:line: message`, until a good version loads.
        self.error: str | None = None
        self._loaded: tuple | None = None  # the file's signature when last loaded (or tried)
        self._seen: tuple | None = None  # its signature at the last look
        self._crash: str | None = None

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except BaseException as e:  # never let the watcher die silently (nor end the fake); say so once
                if is_real_interrupt(e):
                    raise
                message = f"{type(e).__name__}: {e}"
                if message != self._crash:
                    self._crash = message
                    self.journal.record(notice("watcher_error", "profile watcher error", error=message))
            await asyncio.sleep(self.interval)

    async def check(self) -> None:
        """One look: follow a newly active profile, or reload the active one if its file changed."""
        profile = self.engine.profile
        if profile is not self.profile:
            self._follow(profile)
            return
        if self.path is None:
            return
        signature = _signature(self.path)
        if signature is None or signature == self._loaded:
            self._seen = signature
            return
        if signature != self._seen:  # just changed, or still being written: look again next time
            self._seen = signature
            return
        self._loaded = signature
        try:
            new = await asyncio.to_thread(load_fresh, str(self.path))
        except ProfileError as e:
            if self.engine.profile is profile:
                self.error = str(e)
                self.journal.record(notice("profile_not_reloaded",
                                           f"profile not reloaded, keeping the last good one: {self.path}", error=self.error))
            return
        if self.engine.profile is not profile:
            return  # another profile was switched to while this one loaded: that one wins
        new.name, new.source = profile.name, profile.source
        self.engine.profile = new
        self.profile = new
        self._loaded = self._seen = _LOADED_FROM.get(new, signature)
        self.error = None
        self.journal.record(notice("profile_reloaded", f"profile reloaded: {self.path}"))

    def _follow(self, profile: Profile) -> None:
        self.profile = profile
        self.error = None
        self.path = watched_file(profile)
        self._loaded = self._seen = (_LOADED_FROM.get(profile) or _signature(self.path)) if self.path else None
