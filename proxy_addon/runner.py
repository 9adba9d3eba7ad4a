"""Start and stop the fake: one mitmproxy master serving the proxy (and the base-URL face) on one port, and
the base-URL face on a port of its own (`asgi_face.py`), in one event loop.

    runner = Runner(profile="default", port=0)
    runner.start()            # in a background thread; returns once listening
    runner.env()              # the environment that points a client at it
    runner.stop()

or, in the foreground, `asyncio.run(runner.serve())`. mitmproxy expects one
master per process; a Runner keeps its master's `mitmproxy.ctx` to the thread
that serves it (`masters.py`), so Runners serving in threads of their own can
run side by side (a test's own fake beside the session's).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import signal
import sys
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Mapping

from .control import Control, ProfileWatcher, new_token
from .deadlines import HEADER_TIMEOUT, IDLE_TIMEOUT
from .engine import Engine
from .journal import BODY_BUDGET, Journal, journal_path, started_notice, stopped_notice
from .profile import Profile, load
from .state_file import StateFile
from .webhooks import Sender
from .trust import ca_cert_file, default_confdir, ensure_ca, write_bundle, write_cert_dir

if TYPE_CHECKING:
    from .recording import RecordMode
    from .replaying import Replay

RUNNING_FILE = "running.json"


class StartupError(Exception):
    """The fake could not start listening (port in use, bad address...): one line, naming the address.
    `in_use`: the port was taken (another program listens there)."""

    def __init__(self, message: str, in_use: bool = False) -> None:
        super().__init__(message)
        self.in_use = in_use


def _cannot_listen(host: str, port: int, reason: str, what: str = "") -> StartupError:
    """The StartupError for a failure to bind: mitmproxy nests the OS's reason in two messages of its own
    (`... failed to listen on H:P with [Errno 98] error while attempting to bind on address (...): address
    already in use`); the innermost is what the user needs."""
    reason = reason.rsplit("): ", 1)[-1].strip() or "unknown error"
    in_use = "in use" in reason.lower()
    if in_use:
        reason = "the port is in use"
    return StartupError(f"cannot listen on {host}:{port}{what}: {reason}", in_use=in_use)


class _ErrorLog(logging.Handler):
    """Keeps mitmproxy's error records, to explain a failed start and to show in `run`."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []
        self.listener: Callable[[logging.LogRecord], None] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            self.records.append(record)
            del self.records[:-20]
        if self.listener:
            self.listener(record)


class Runner:
    """The fake, ready to start: engine, journal, conf directory and listen address."""

    def __init__(
        self,
        profile: Profile | str = "default",
        host: str = "127.0.0.1",
        port: int = 8080,
        confdir: Path | str | None = None,
        state_file: Path | str | None = None,
        allow_remote_control: bool = False,
        warm: bool = True,
        max_request_size: int | None = None,
        journal_bodies: int = BODY_BUDGET,
        header_timeout: float = HEADER_TIMEOUT,
        idle_timeout: float = IDLE_TIMEOUT,
        base_url_port: int = 0,
        replay: "Replay | Path | str | None" = None,
        record: Path | str | None = None,
        upstream: str | None = None,
        record_uploads: str = "keep",
    ) -> None:
        """`warm`: import the SDK types the replies are checked against in a thread once listening, so that
        the first call of each resource does not pause the fake (a process of its own wants that; a test
        process, where the fake shares the GIL with the tests, imports only what its tests use).

        The bounds (docs/security.md): `max_request_size` bytes of request body (larger ones get
        the API's 413; default `addon.MAX_REQUEST_SIZE`), `journal_bodies` bytes of request bodies kept in
        memory, and the `header_timeout` / `idle_timeout` of client connections (`deadlines.py`).

        `replay`: answer from a recording before the profile (`replaying.Replay`; a directory is loaded with its
        defaults, a miss being the recording's 404; raises `ReplayError` when it holds no recording).

        `base_url_port`: the port of the base-URL face's own server (0: a free one), on `host` as the proxy.
        `base_url` points there; the proxy's port answers `/v1` too, through mitmproxy (slower).

        `record`: record mode (`recording.py`): forward every OpenAI call to `upstream` (default
        `recording.DEFAULT_UPSTREAM`, the real API) and write each exchange into the directory `record`.
        `record_uploads`: "keep" an upload's bytes in the recording, or "hash" (its sha256 and size alone).
        Raises `recording.UpstreamError` for an `upstream` that is not an http(s) URL."""
        from .faces import MAX_REQUEST_SIZE

        self.max_request_size = MAX_REQUEST_SIZE if max_request_size is None else max_request_size
        self.header_timeout, self.idle_timeout = header_timeout, idle_timeout
        if self.max_request_size < 1 or journal_bodies < 0 or header_timeout <= 0 or idle_timeout <= 0:
            raise ValueError("max_request_size must be >= 1, journal_bodies >= 0, and the timeouts > 0")
        self.engine = Engine(load(profile) if isinstance(profile, str) else profile)
        if replay is not None and record is not None:
            raise ValueError("replay= and record=: a recording is made or answered from, not both at once "
                             "(Replay(on_miss='record') records a replay's misses)")
        if replay is not None:
            from .replaying import Replay  # the cassettes library only for a fake that replays

            self.engine.replay = replay if isinstance(replay, Replay) else Replay.load(replay)
        self.warm = warm
        self.state_file: StateFile | None = None
        if state_file is not None:
            self.state_file = StateFile(self.engine.state, state_file)
            self.state_file.load()  # raises StateFileError; a saved state replaces the profile's preloads
        self.confdir = Path(confdir) if confdir else default_confdir()
        #: Every call, in memory and in `<confdir>/journal.jsonl` for `openai-fake tail`.
        self.journal = Journal(journal_path(self.confdir), body_budget=journal_bodies)
        #: Reloads the active profile when its file is saved (runs in the serving loop).
        self.watcher = ProfileWatcher(self.engine, self.journal)
        #: The secret every control request must bring (made afresh for each Runner; in the run file).
        self.control_token = new_token()
        #: Delivers the webhooks the engine announces, to the endpoints the user set (`webhooks.py`).
        self.webhooks = Sender(self.engine, self.journal, program_endpoints=is_loopback_host(host))
        #: The `/_fake/...` endpoints; the token, and only loopback clients unless `allow_remote_control`.
        self.control = Control(self.engine, self.journal, allow_remote=allow_remote_control, watcher=self.watcher,
                               token=self.control_token)
        #: The fake's metrics (`GET /_fake/metrics`, `metrics.py`), counted by the control's own `Metrics`.
        self.metrics = self.control.metrics
        self.host = host
        self.port = port
        self.base_url_port = base_url_port
        #: Record mode (`recording.RecordMode`), or None: the fake answers every call itself (`set_record`).
        self.record = None
        replaying = self.engine.replay
        if record is not None or (replaying is not None and replaying.on_miss == "record"):
            from .recording import DEFAULT_UPSTREAM, RecordMode

            self.record = RecordMode(record if record is not None else replaying.directory,
                                     upstream or DEFAULT_UPSTREAM, all_calls=record is not None,
                                     uploads=record_uploads)
        elif upstream is not None:
            raise ValueError("upstream= is where record mode forwards: give record= (or a replay with "
                             "on_miss='record') too")
        self._addon = None
        #: The proxy's (host, port) while listening.
        self.address: tuple[str, int] | None = None
        #: The base-URL face's own server (`asgi_face.BaseUrlFace`), while serving.
        self.face = None
        self.errors = _ErrorLog()
        self._master = None
        self._cert_dir: Path | None = None
        #: The stream relay, while serving.
        self.relay = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- where clients go ------------------------------------------------------

    @property
    def proxy_url(self) -> str:
        host, port = self._require_address()
        return f"http://{_url_host(host)}:{port}"

    @property
    def base_url(self) -> str:
        """`http://HOST:PORT/v1` on the base-URL face's own port (not the proxy's, which answers it too, slower)."""
        return f"{self.base_url_origin}/v1"

    @property
    def base_url_origin(self) -> str:
        """`http://HOST:PORT` of the base-URL face's own port."""
        self._require_address()
        host, port = self.face.address
        return f"http://{_url_host(host)}:{port}"

    @property
    def azure_endpoint(self) -> str:
        """The base-URL face as an Azure OpenAI endpoint: `AzureOpenAI(azure_endpoint=...)` adds `/openai/...`."""
        return self.base_url_origin

    @property
    def streams_active(self) -> int:
        """Streams being written right now, on either port, and calls being forwarded in record mode (a
        stream's call is recorded when it ends)."""
        return ((self.relay.active if self.relay is not None else 0) + (self.face.app.active if self.face else 0)
                + (self.record.active if self.record is not None else 0))

    @property
    def ca_cert(self) -> Path:
        return ca_cert_file(self.confdir)

    @property
    def bundle(self) -> Path:
        return self.confdir / "openai-fake-bundle.pem"

    @property
    def cert_dir(self) -> Path:
        """The bundle as a hashed directory (`trust.write_cert_dir`), written on first use."""
        if self._cert_dir is None:
            self._cert_dir = write_cert_dir(self.confdir)
        return self._cert_dir

    def env(self, base_url: bool = False, inherited: Mapping[str, str] | None = None,
            trust_dir: bool = False) -> dict[str, str]:
        """The environment that sends a client's OpenAI traffic to this fake (see `client_env`);
        `trust_dir`: trust it through `cert_dir` rather than the bundle file."""
        return client_env(self.proxy_url, self.bundle, self.ca_cert, self.base_url if base_url else None, inherited,
                          cert_dir=self.cert_dir if trust_dir else None, hosts=self.engine.profile.hosts)

    def _require_address(self) -> tuple[str, int]:
        if self.address is None:
            raise RuntimeError("the fake is not listening yet")
        return self.address

    # -- life cycle ------------------------------------------------------------

    async def serve(self, on_ready: Callable[["Runner"], None] | None = None, handle_signals: bool = False) -> None:
        """Run until `stop()` (or SIGINT/SIGTERM with `handle_signals`). Raises StartupError."""
        from .addon import OpenAIFake
        from .asgi_face import BaseUrlApp, BaseUrlFace
        from .relay import Relay

        ensure_ca(self.confdir)
        write_bundle(self.confdir)
        relay = self.relay = Relay(header_timeout=self.header_timeout)
        await relay.start()

        from .access import local_names
        from .deadlines import Deadlines

        own = {self.host.lower()} if self.host not in ("0.0.0.0", "::", "") else set()
        if not is_loopback_host(self.host):
            own |= local_names()  # `Host: myhost:PORT` from the network
        own = frozenset(own)
        app = BaseUrlApp(self.engine, self.journal, self.control, max_request_size=self.max_request_size, own_names=own,
                         record=self.record)
        face = BaseUrlFace(app, self.host, self.base_url_port, header_timeout=self.header_timeout,
                           idle_timeout=self.idle_timeout)
        try:
            await face.start()
        except OSError as e:
            await relay.stop()
            raise _cannot_listen(self.host, self.base_url_port, e.strerror or str(e), " (the base-URL face)") from None
        self.face = face
        mitm_logger = logging.getLogger("mitmproxy")
        mitm_logger.addHandler(self.errors)
        mitm_logger.propagate = False  # keep mitmproxy's chatter out of the user's terminal

        master = make_master(self.host, self.port, self.confdir, max_request_size=self.max_request_size)
        from .recording import upstream_trust

        # Record mode's upstream certificate, checked as httpx2 checks it (set_record may turn it on later).
        master.options.update(**upstream_trust())
        self._addon = OpenAIFake(self.engine, self.journal, relay, self.control, max_request_size=self.max_request_size,
                                 own_names=own, record=self.record)
        master.addons.add(Deadlines(self.header_timeout, self.idle_timeout), self._addon)
        self._master = master
        self._loop = asyncio.get_running_loop()
        self._loop.set_exception_handler(_quiet_cancellations)
        if handle_signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._loop.add_signal_handler(sig, self._shutdown)

        task = asyncio.ensure_future(master.run())
        proxyserver = master.addons.get("proxyserver")
        self.errors.records.clear()
        # mitmproxy logs a failure to listen and keeps running; an error record means start-up failed.
        while not proxyserver.listen_addrs() and not task.done() and not self.errors.records:
            await asyncio.sleep(0.005)
        if task.done() or not proxyserver.listen_addrs():
            master.shutdown()
            await asyncio.gather(task, return_exceptions=True)
            await asyncio.gather(face.stop(), relay.stop())
            why = self.errors.records[0].getMessage().splitlines()[0] if self.errors.records else ""
            raise _cannot_listen(self.host, self.port, why)
        self.address = tuple(proxyserver.listen_addrs()[0][:2])
        if self.state_file is not None:
            self.state_file.start()
        watching = asyncio.ensure_future(self.watcher.run())
        ticking = asyncio.ensure_future(self._tick())
        # Listening already: the SDK types the replies are checked against are imported meanwhile.
        if self.warm:
            threading.Thread(target=_warm_sdk_types, name="openai-fake-warm", daemon=True).start()
        url = self.proxy_url
        self.journal.record(started_notice(url, self.engine.profile.name))
        try:
            if on_ready:
                on_ready(self)
            await task
        finally:
            self.address = None
            ticking.cancel()
            await asyncio.gather(ticking, return_exceptions=True)
            await self.webhooks.aclose()
            watching.cancel()
            await asyncio.gather(watching, return_exceptions=True)
            # Together: each uvicorn notices `should_exit` on its own 0.1 s tick. Before the stopped notice:
            # the streams they end are recorded first, so that the journal (and `tail`, `run`) ends with it.
            await asyncio.gather(face.stop(), relay.stop())
            if self.record is not None:
                await self.record.aclose()  # after the faces: no call is forwarded any more
            self.journal.record(stopped_notice(url))
            self.journal.close()  # a record after this (a stream ending late) opens the file again
            mitm_logger.removeHandler(self.errors)
            if self.state_file is not None:
                self.state_file.stop()

    def set_record(self, record: "RecordMode | None") -> "RecordMode | None":
        """Record mode from now on (`recording.RecordMode`; None: the fake answers every call itself), on every
        face; the mode it replaces, whose connections to its upstream are closed. Calls being forwarded finish
        as they began: wait for `streams_active == 0` first to have them recorded before the swap."""
        old, self.record = self.record, record
        if self._addon is not None:
            self._addon.record = record
        if self.face is not None:
            self.face.app.record = record
        if old is not None and old is not record:
            loop = self._loop
            if loop is not None and loop.is_running():
                asyncio.run_coroutine_threadsafe(old.aclose(), loop)
        return old

    def _shutdown(self) -> None:
        """Stop serving (on the event loop): the streams in progress end first ("stopped", recorded as such),
        each on either port, so that the proxy's closing connections do not end them as hung up ("aborted")."""
        for server in (self.relay, self.face.app if self.face is not None else None):
            if server is not None:
                server.end_streams()
        if self._master is not None:
            self._master.shutdown()

    async def _tick(self, every: float = 0.05) -> None:
        """Move on, by time, the objects nobody polls (`progress=<seconds>`: a batch, a fine-tuning job), then send
        the webhooks announced since the last tick. On the event loop, as every call is answered: a tick does what
        the read of such an object would do (and costs a few dict lookups when no rule moves by time)."""
        while True:
            await asyncio.sleep(every)
            try:
                self.engine.tick()
            except Exception:  # pragma: no cover - tick answers errors itself; never let the loop end
                logging.getLogger(__name__).exception("openai-fake: moving objects on failed")
            try:
                self.webhooks.start(self.webhooks.take())  # the events announced by the calls answered meanwhile too
            except Exception:  # pragma: no cover - never let the loop end
                logging.getLogger(__name__).exception("openai-fake: taking the webhook events failed")

    def start(self, timeout: float = 30.0) -> "Runner":
        """Serve in a background thread; return once listening. Raises StartupError."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            try:
                asyncio.run(self.serve(on_ready=lambda _: ready.set()))
            except BaseException as e:  # handed to the starting thread
                failure.append(e)
                ready.set()

        self._thread = threading.Thread(target=main, name="openai-fake", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise StartupError(f"the fake did not start within {timeout} s")
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        if self._master is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._shutdown)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> "Runner":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- the running file, for `openai-fake env` -------------------------------------

    def write_running_file(self) -> Path:
        """Write `<confdir>/running.json` (mode 0600: it holds the control token) for the CLI's wrappers."""
        path = self.confdir / RUNNING_FILE
        info = {"pid": os.getpid(), "proxy_url": self.proxy_url, "base_url": self.base_url,
                "base_url_on_proxy_port": f"{self.proxy_url}/v1",
                "ca_cert": str(self.ca_cert), "bundle": str(self.bundle), "profile": self.engine.profile.name,
                "hosts": sorted(self.engine.profile.hosts), "control_token": self.control_token}
        tmp = path.with_name(f".{RUNNING_FILE}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            os.fchmod(fd, 0o600)  # a leftover with looser rights
            os.write(fd, json.dumps(info, indent=2).encode())
        finally:
            os.close(fd)
        os.replace(tmp, path)
        return path

    def remove_running_file(self) -> None:
        path = self.confdir / RUNNING_FILE
        try:
            if json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()
        except (OSError, ValueError):
            pass


#: The warnings importing `mitmproxy.addons` gives, and only those: its proxyauth addon imports ldap3, which
#: imports names pyasn1 0.6 deprecated (`tagMap`, `typeMap`, ...). They would fail a user's `pytest -W error`
#: (or `python -W error`) at the fixture's first use, for code neither they nor we wrote.
_LDAP3_WARNINGS = dict(message=r"\w+ is deprecated\. Please use \w+ instead\.", category=DeprecationWarning,
                       module=r"ldap3(\.|$)")


def _import_ldap3_quietly() -> None:
    """Import ldap3 (once, before mitmproxy's addons do) with its known deprecation warnings ignored, whatever
    the caller's warning filters; any other warning goes on as the filters say."""
    if "ldap3" in sys.modules:
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", **_LDAP3_WARNINGS)
        try:
            importlib.import_module("ldap3")
        except ImportError:  # a mitmproxy that no longer needs it
            pass


def make_master(host: str, port: int, confdir: Path, addons: list | None = None, max_request_size: int | None = None):
    """A mitmproxy master with the fake's mode and options and only the addons a fake needs (the caller
    adds the fake's own). `bench/bare_mitmproxy.py` builds its reference with this same function;
    its `--stock` variant passes mitmproxy's `default_addons()` as `addons` instead.

    Not `DumpMaster`: each of its ~35 default addons (playback, map/modify, save, onboarding, ...)
    receives every hook of every flow, and again as an update hook; that dispatch was about half
    of a proxied call's CPU time (docs/benchmarks.md). The kept addons say why below.
    """
    _import_ldap3_quietly()
    from mitmproxy import master, options
    from mitmproxy.addons import block, core, disable_h2c, next_layer, proxyserver, tlsconfig

    from . import masters
    from .addon import ALLOW_HOSTS

    masters.install()  # this master's `mitmproxy.ctx` is its thread's: another Runner cannot take it over
    if addons is None:
        addons = [
            core.Core(),  # checks the options
            block.Block(),  # refuses clients from public addresses when listening beyond loopback
            proxyserver.Proxyserver(),  # the listening server, connection_strategy
            next_layer.NextLayer(),  # allow_hosts: intercept OpenAI hosts, tunnel the rest
            tlsconfig.TlsConfig(),  # certificates from the fake's CA
            disable_h2c.DisableH2C(),  # plain HTTP passed through must not upgrade to h2c
        ]
    m = master.Master(options.Options(listen_host=host, listen_port=port, mode=["regular"], confdir=str(confdir)))
    m.addons.add(*addons)
    m.options.update(
        # Never dial the real server at CONNECT time: intercepted traffic stays here.
        connection_strategy="lazy",
        allow_hosts=ALLOW_HOSTS,
    )
    if max_request_size is not None:
        # The fake answers bodies over its limit with the API's 413 without reading them when their length
        # is given (addon.requestheaders); a chunked one is read, up to this hard ceiling, before the 413.
        # Past the ceiling mitmproxy refuses it itself (its own 413 page). 8x: 512 MiB at the default
        # limit, the real Files API's largest file.
        m.options.update(body_size_limit=str(8 * max_request_size))
    return m


def read_running_file(confdir: Path) -> dict | None:
    """What a running `openai-fake run` wrote, if its process is still alive."""
    try:
        info = json.loads((confdir / RUNNING_FILE).read_text())
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info


def client_env(proxy_url: str, bundle: Path, ca_cert: Path, base_url: str | None = None,
               inherited: Mapping[str, str] | None = None, cert_dir: Path | None = None,
               hosts: Iterable[str] = ()) -> dict[str, str]:
    """The one list of variables that point clients at the fake and make them trust its CA.

    When the `inherited` environment's NO_PROXY would send OpenAI hosts around
    the proxy (straight to the real API), the result overrides it without them.

    With `cert_dir` (the bundle as a hashed directory, `trust.write_cert_dir`), Python's
    clients trust the fake through `SSL_CERT_DIR`, which costs nothing per SSL context,
    instead of `SSL_CERT_FILE`, which is parsed whole for every one. `SSL_CERT_FILE`
    is then left out, and the caller must remove an inherited one: httpx2 and httpx
    read it first. (For the pytest plugin, where every test builds clients.)

    `hosts`: the other hosts the profile answers (`profile.host(...)`), given to the Node
    preload as OPENAI_FAKE_HOSTS (proxied Python clients send every host to the proxy anyway).
    """
    trust = {"SSL_CERT_DIR": str(cert_dir)} if cert_dir is not None else {"SSL_CERT_FILE": str(bundle)}
    env = {
        "HTTPS_PROXY": proxy_url,
        "https_proxy": proxy_url,
        **trust,  # httpx2 (openai 3.x), httpx (openai 2.x), Python's ssl
        "REQUESTS_CA_BUNDLE": str(bundle),  # requests
        "CURL_CA_BUNDLE": str(bundle),  # curl
        "NODE_EXTRA_CA_CERTS": str(ca_cert),  # Node adds it to its own store
        # Node's fetch ignores HTTPS_PROXY (Node 20): the preload tunnels OpenAI hosts through here.
        "OPENAI_FAKE_PROXY": proxy_url,
        "NODE_OPTIONS": node_options((inherited or {}).get("NODE_OPTIONS")),
    }
    hosts = sorted(hosts)
    if hosts:
        env["OPENAI_FAKE_HOSTS"] = ",".join(hosts)
    if base_url:
        env["OPENAI_BASE_URL"] = base_url
        env["OPENAI_API_BASE"] = base_url  # what llama-index and older langchain read instead
    for name in ("NO_PROXY", "no_proxy"):
        value = (inherited or {}).get(name)
        if value is not None:
            kept = [h for h in value.split(",") if h.strip() and not _bypasses_openai(h.strip())]
            if len(kept) != len([h for h in value.split(",") if h.strip()]):
                env[name] = ",".join(kept)
    return env


#: Sends a Node program's OpenAI traffic (fetch, node:https) through the fake; see the file.
NODE_PRELOAD = Path(__file__).resolve().parent / "node" / "preload.mjs"


def node_options(inherited: str | None) -> str:
    """An inherited NODE_OPTIONS with the preload's `--import` appended (once).

    A file URL, not a path: its spaces and quotes are percent-encoded, so NODE_OPTIONS
    needs no quoting, and Windows drive letters are no URL scheme to the ESM loader."""
    flag = f"--import={NODE_PRELOAD.as_uri()}"
    if not inherited or not inherited.strip():
        return flag
    return inherited if flag in inherited.split() else f"{inherited} {flag}"


def _bypasses_openai(entry: str) -> bool:
    """Whether a NO_PROXY entry matches api.openai.com or a regional host, or Azure OpenAI's hosts."""
    from .access import is_api_host

    host = entry.lower().split(":")[0].lstrip("*").lstrip(".")
    return entry.strip() == "*" or host in ("openai.com", "api.openai.com") or host.endswith(".api.openai.com") \
        or host in ("azure.com", "openai.azure.com", "cognitiveservices.azure.com") or is_api_host(host)


def _warm_sdk_types() -> None:
    from .engine import pictures, sdk, tokens

    try:
        sdk.warm()
        tokens.warm()  # the vocabularies (0.3 s for o200k_base), before the first call counts with them
        pictures.warm()  # Pillow, for the images endpoints
    except Exception:  # a broken SDK install shows on the first call that needs it, with its own error
        logging.getLogger(__name__).debug("could not import the SDK types ahead of use", exc_info=True)


def _quiet_cancellations(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    """Client connections still open at shutdown are cancelled; that is not an error worth printing."""
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


def is_loopback_host(host: str) -> bool:
    """Whether a listen address keeps the fake on this machine."""
    from .access import is_loopback

    return is_loopback(host)


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
