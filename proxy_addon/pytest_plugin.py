"""The pytest plugin: one fake per test process, and an `openai_fake` fixture per test.

    def test_hello(openai_fake):
        openai_fake.chat.completions(choices=[{"message": {"content": "Hi"}}], failures=2)
        reply = OpenAI().chat.completions.create(model="gpt-4o", messages=[...])  # unchanged client code
        assert reply.choices[0].message.content == "Hi"
        assert openai_fake.chat.completions.create.route.calls.call_count == 3

    @pytest.mark.openai_fake(profile="flaky")       # a shipped name, a file or a module
    def test_retries(openai_fake): ...

The fake is a real proxy (`Runner`) started once per process, the first time a
test asks for it: mitmproxy allows one master per process, so under
pytest-xdist each worker has its own. For each test the fixture gives the fake
a clean state and a fresh profile, and points this process's environment at it
(`HTTPS_PROXY`, `SSL_CERT_DIR`, ...), so every OpenAI client created during
the test, and every subprocess it starts, is answered by the fake whatever HTTP
stack it uses. Registered through the `pytest11` entry point `openai_fake`.

In process, on demand (`@pytest.mark.openai_fake(in_process=True)`, or for every
test with the ini option `openai_fake_in_process = true`): the test's OpenAI
clients answer from the same engine through `openai_fake.transport` (no socket,
no TLS; `inprocess.py`), and the proxy starts only when a test asks where it
listens. This process's environment is then not pointed at the proxy, so a
subprocess is not faked unless given `openai_fake.serve()` as its environment.
The objects a test holds (`FakeOpenAI`, `Calls`, ...) are in `handle.py`.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import pytest

from .handle import DUMMY_KEY, STEERING, Calls, FakeOpenAI, FakeState, HostRef, RouteRef, _settle, as_profile, pop, push

if TYPE_CHECKING:
    from .profile import Profile
    from .runner import Runner

__all__ = ["FakeOpenAI", "Calls", "RouteRef", "HostRef", "FakeState"]

_STEERING = STEERING  # the names this module had
_MARK_KNOBS = ("latency", "require_api_key", "stream")
#: The marker's record and replay arguments: `record=True` / `record="cassettes/test_x"` (recorded or replayed as
#: `--openai-fake-record` says) or `replay="cassettes/test_x"` (replayed only), relative to the test's folder; what
#: a miss gets, the pace (`proxy_addon.replaying.Replay`) and where recording forwards.
_MARK_REPLAY = ("replay", "record", "on_miss", "replay_speed", "replay_ids", "upstream", "record_uploads")
IN_PROCESS_INI = "openai_fake_in_process"
#: `--openai-fake-record`: "none" replays every `record=` test (a missing recording fails it; nothing is ever
#: forwarded), "new" records the tests that have no recording yet (and, with `on_miss="record"`, the misses of
#: those that do), "all" records every `record=` test anew. As pytest-recording's `--record-mode`.
RECORD_MODES = ("none", "new", "all")
RECORD_OPTION, UPSTREAM_OPTION = "--openai-fake-record", "--openai-fake-upstream"
RECORD_INI, UPSTREAM_INI = "openai_fake_record_mode", "openai_fake_upstream"
#: The run's start (seconds since the epoch), the same in every xdist worker: `all` clears what was recorded before.
_RUN_STARTED = pytest.StashKey[float]()
_WORKER_RUN_STARTED = "openai_fake_run_started"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(IN_PROCESS_INI, type="bool", default=False,
                  help="openai_fake: answer this process's OpenAI clients in process (no proxy, no TLS) in every "
                       "test; @pytest.mark.openai_fake(in_process=False) opts a test out")
    group = parser.getgroup("openai-fake")
    group.addoption(RECORD_OPTION, choices=RECORD_MODES, default=None, dest="openai_fake_record",
                    help="openai_fake: what tests marked record=... do: 'none' (the default) replays their recordings "
                         "and never forwards; 'new' records the ones without a recording (forwarding to the upstream "
                         "with your key); 'all' records them all anew")
    group.addoption(UPSTREAM_OPTION, default=None, metavar="URL", dest="openai_fake_upstream",
                    help="openai_fake: where recording forwards (default https://api.openai.com)")
    parser.addini(RECORD_INI, default="none", help=f"openai_fake: {RECORD_OPTION}'s default (none, new or all)")
    parser.addini(UPSTREAM_INI, default="", help=f"openai_fake: {UPSTREAM_OPTION}'s default")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "openai_fake(profile=None, *, base_url=False, in_process=None, latency=..., require_api_key=..., stream=..., "
        "record=None, replay=None, on_miss='error', replay_speed=1.0, replay_ids=None, upstream=None, "
        "record_uploads='keep'): "
        "the profile the openai_fake fixture starts from (a shipped name, a file, a module or a Profile), "
        "or knobs for a fresh Profile; base_url=True also sets OPENAI_BASE_URL to the fake's plain-HTTP face; "
        "in_process=True answers this process's OpenAI clients in process, without the proxy; "
        "record=True (cassettes/<module>/<test>) or record='cassettes/test_x' records that recording or replays it "
        f"as {RECORD_OPTION}=none|new|all says; replay='cassettes/test_x' replays it only (both relative to the "
        "test's folder); on_miss='error' (its 404), 'profile' or 'record' (with record=, when recording is on); "
        "replay_speed=1.0; replay_ids='fresh' (new ids, mapped back) or 'recorded'; upstream='https://...' where "
        "recording forwards; record_uploads='keep' or 'hash'",
    )
    config.addinivalue_line("markers", "openai_mock: openai-responses' OpenAI API mocker object (openai_fake.compat)")
    if hasattr(config, "workerinput"):  # an xdist worker: the controller's start
        config.stash[_RUN_STARTED] = float(config.workerinput.get(_WORKER_RUN_STARTED, time.time()))
    else:
        config.stash[_RUN_STARTED] = time.time()
        if config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(_XdistRunStart(config), "openai_fake_xdist")


class _XdistRunStart:
    """Hands the run's start to each xdist worker (`_RUN_STARTED`)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_configure_node(self, node) -> None:
        node.workerinput[_WORKER_RUN_STARTED] = self.config.stash[_RUN_STARTED]


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def openai_fake_session(tmp_path_factory: pytest.TempPathFactory) -> Iterable["Runner"]:
    """The fake of this test process, not started: one `Runner` with its own conf directory. The in-process
    path answers from its engine without starting it; `openai_fake_runner` starts it."""
    from . import process
    from .profile import Profile
    from .runner import Runner

    # Not warmed: in a test process the SDK types are imported by the tests that need them, where warming them
    # all in a thread would hold the GIL for about a second that the tests need.
    shared = process.running()  # one started outside a fixture earlier in this process: the one to use
    if shared is not None:
        yield shared
        return
    runner = Runner(Profile(), host="127.0.0.1", port=0, confdir=tmp_path_factory.mktemp("openai-fake"), warm=False)
    yield runner
    process.forget(runner)
    runner.stop()


@pytest.fixture(scope="session")
def openai_fake_runner(openai_fake_session: "Runner") -> "Runner":
    """The fake of this test process, listening: one `Runner` on a free loopback port, with its own conf directory.

    Under pytest-xdist every worker is a process of its own, with its own runner.
    """
    from . import process

    if openai_fake_session.address is None:
        openai_fake_session.start()
        process.adopt(openai_fake_session)  # the fake that openai-responses' `OpenAIMock` outside a fixture uses too
    return openai_fake_session


@pytest.fixture
def openai_fake(openai_fake_session: "Runner", request: pytest.FixtureRequest,
                monkeypatch: pytest.MonkeyPatch) -> Iterable[FakeOpenAI]:
    """The fake for one test: a clean state, its own profile, and this process's clients pointed at it (through
    the environment, or in process)."""
    from .profile import ProfileError

    runner = openai_fake_session
    from .replaying import ReplayError

    try:
        profile, base_url, in_process = _marked_profile(request)
        replay, record = _marked_recording(request)
    except (TypeError, ValueError, ProfileError, ReplayError) as e:
        bad = str(e) if str(e).startswith("@pytest.mark") else f"@pytest.mark.openai_fake: {e}"
    else:
        bad = None
    if bad:  # a bad marker: one line, not a traceback into the plugin
        pytest.fail(bad, pytrace=False)
    if not in_process and runner.address is None:
        request.getfixturevalue("openai_fake_runner")  # starts it
    from . import process

    process.release_strays()  # an openai-responses `OpenAIMock` left answering outside a fixture gives the fake back
    original = runner.engine.profile
    _settle(runner)  # a stream left over from an earlier test is recorded before the journal is cleared
    runner.engine.use(profile)  # resets state and counts, then stores the profile's preloads
    runner.engine.replay = replay  # this test's recording (loaded afresh: its order starts at the first), or None
    runner.set_record(record)  # this test's record mode (forwarding to the upstream), or None
    runner.journal.clear()

    for name in _STEERING:
        monkeypatch.delenv(name, raising=False)
    if in_process:
        env: dict[str, str] = {}
    else:
        # Trust through SSL_CERT_DIR: a client's SSL context is then ready at once, where the bundle file
        # is parsed whole for each (tens of ms per OpenAI(); see runner.client_env). httpx2 and httpx
        # read SSL_CERT_FILE first, so an inherited one goes.
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        env = runner.env(base_url=base_url, inherited=os.environ, trust_dir=True)
    if not os.environ.get("OPENAI_API_KEY") and record is None:  # recording forwards the user's key: never a dummy
        env["OPENAI_API_KEY"] = DUMMY_KEY
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    fake = FakeOpenAI(runner, profile, env, in_process=in_process)
    target = None
    if in_process:
        from .inprocess import activate

        target = activate(runner)
    push(fake)
    try:
        yield fake
    finally:
        pop(fake)
        if target is not None:
            from .inprocess import deactivate

            deactivate(target)
        _settle(runner)  # and every forwarded call recorded
        runner.set_record(None)
        runner.engine.replay = None
        runner.engine.use(original)


@pytest.fixture
def openai_mock(openai_fake: "FakeOpenAI") -> Iterable[Any]:
    """openai-responses' `openai_mock`, on this test's fake (`openai_fake.compat.OpenAIMock`):
    `openai_mock.chat.completions.create.response = {...}`, `.route.call_count`, `openai_mock.state`."""
    from openai_fake.compat import OpenAIMock

    mock = OpenAIMock._on(openai_fake)
    yield mock
    mock._release()


def _marked_profile(request: pytest.FixtureRequest) -> tuple["Profile", bool, bool]:
    """The Profile the test's `openai_fake` marker asks for (a fresh empty one without a marker), whether it
    asks for the base-URL face, and whether the test runs in process (the marker's, else the ini option)."""
    in_process = bool(request.config.getini(IN_PROCESS_INI))
    mark = request.node.get_closest_marker("openai_fake")
    if mark is None:
        return as_profile(None), False, in_process
    kwargs = dict(mark.kwargs)
    if len(mark.args) > 1 or (mark.args and "profile" in kwargs):
        raise TypeError("@pytest.mark.openai_fake takes one profile: openai_fake('flaky') or openai_fake(profile='flaky')")
    spec = mark.args[0] if mark.args else kwargs.pop("profile", None)
    base_url = kwargs.pop("base_url", False)
    asked = kwargs.pop("in_process", None)
    if asked is not None and not isinstance(asked, bool):
        raise TypeError(f"@pytest.mark.openai_fake(in_process=...) takes True or False, not {asked!r}")
    if base_url and asked:
        raise TypeError("@pytest.mark.openai_fake: base_url=True sends clients to the fake's plain-HTTP face, "
                        "in_process=True keeps them in this process; ask for one of them")
    # The base-URL face is a face of the running fake: a test that asks for it is not in process, whatever the ini
    # says; nor is one that may record (the in-process transport forwards nothing).
    records = kwargs.get("record") not in (None, False)
    if records and asked:
        raise TypeError("@pytest.mark.openai_fake: record=... may forward calls to the upstream, which only the "
                        "proxy and the base-URL face do; in_process=True keeps them in this process (use replay=...)")
    in_process = asked if asked is not None else in_process and not base_url and not records
    for name in _MARK_REPLAY:  # `_marked_recording`'s
        kwargs.pop(name, None)
    unknown = set(kwargs) - set(_MARK_KNOBS)
    if unknown:
        raise TypeError(f"@pytest.mark.openai_fake got unknown arguments {sorted(unknown)}; it takes "
                        f"profile, base_url, in_process, {', '.join(_MARK_KNOBS)}, {', '.join(_MARK_REPLAY)}")
    if spec is None:
        from .profile import Profile

        return Profile(**kwargs), base_url, in_process
    if kwargs:
        raise TypeError(f"@pytest.mark.openai_fake: give a profile or Profile knobs ({', '.join(kwargs)}), not both")
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if isinstance(spec, str):
        spec = _find_file(spec, request)
    try:
        return as_profile(spec), base_url, in_process
    except TypeError as e:
        raise TypeError(f"@pytest.mark.openai_fake(profile=...) takes a name, a path or a Profile, not "
                        f"{type(spec).__name__}") from e


def _marked_recording(request: pytest.FixtureRequest):
    """The `Replay` and the `RecordMode` the test's marker asks for (each may be None):

    - `replay="cassettes/test_x"`: that recording replayed;
    - `record=True` or `record="cassettes/test_x"` (True: `cassettes/<module>/<test>`): recorded when
      `--openai-fake-record` is "all", or "new" and nothing is recorded there yet; replayed otherwise, its misses
      recorded too with `on_miss="record"` and "new". A missing recording fails the test, with what to run.

    Paths are relative to the test's folder unless absolute. Raises TypeError for a bad marker, ReplayError for a
    directory with no recording, or a bad on_miss or speed."""
    mark = request.node.get_closest_marker("openai_fake")
    kwargs = mark.kwargs if mark is not None else {}
    replay_dir, record_dir = kwargs.get("replay"), kwargs.get("record")
    if record_dir is False:
        record_dir = None
    if replay_dir is None and record_dir is None:
        extra = [name for name in ("on_miss", "replay_speed", "replay_ids", "upstream", "record_uploads") if name in kwargs]
        if extra:
            raise TypeError(f"@pytest.mark.openai_fake: {' and '.join(extra)} go with record=... or replay=...")
        return None, None
    if replay_dir is not None and record_dir is not None:
        raise TypeError("@pytest.mark.openai_fake: give record=... (recorded or replayed as "
                        f"{RECORD_OPTION} says) or replay=... (replayed only), not both")
    on_miss, speed, ids = kwargs.get("on_miss", "error"), kwargs.get("replay_speed", 1.0), kwargs.get("replay_ids")
    if replay_dir is not None:
        if on_miss == "record" or "upstream" in kwargs or "record_uploads" in kwargs:
            raise TypeError("@pytest.mark.openai_fake: replay=... only replays; on_miss='record', upstream= and "
                            f"record_uploads= go with record=..., which {RECORD_OPTION} governs")
        from .replaying import Replay

        return Replay.load(_cassette_path(request, replay_dir, "replay"), on_miss=on_miss, speed=speed, ids=ids), None
    from .cassettes import store
    from .recording import DEFAULT_UPSTREAM, UPLOADS, RecordMode
    from .replaying import ON_MISS, Replay, ReplayError

    if on_miss not in ON_MISS:  # checked whatever the mode: a typo fails at once, not on the day it records
        raise ReplayError(f"on_miss must be one of {', '.join(ON_MISS)}, not {on_miss!r}")
    directory = _cassette_path(request, record_dir, "record")
    config = request.config
    mode = config.getoption("openai_fake_record") or config.getini(RECORD_INI) or "none"
    if mode not in RECORD_MODES:
        raise TypeError(f"{RECORD_INI} = {mode!r}: give one of {', '.join(RECORD_MODES)}")
    upstream = kwargs.get("upstream") or config.getoption("openai_fake_upstream") or config.getini(UPSTREAM_INI) \
        or DEFAULT_UPSTREAM
    uploads = kwargs.get("record_uploads", "keep")
    if uploads not in UPLOADS:
        raise TypeError(f"@pytest.mark.openai_fake(record_uploads=...) takes {' or '.join(map(repr, UPLOADS))}, "
                        f"not {uploads!r}")
    if mode == "all" or (mode == "new" and not store.has_exchanges(directory)):
        if mode == "all":
            store.clear(directory, before=config.stash[_RUN_STARTED])  # the earlier runs', not another worker's
        return None, RecordMode(directory, upstream, uploads=uploads)
    if not store.has_exchanges(directory):
        pytest.fail(f"@pytest.mark.openai_fake(record=...): nothing is recorded at {directory} yet; record it with "
                    f"{RECORD_OPTION}=new (forwarding this test's calls, with your key, to {upstream})", pytrace=False)
    if on_miss == "record" and mode == "none":
        on_miss = "error"  # recording is off: nothing is forwarded, a miss is the recording's 404
        ids = ids or "recorded"  # as when it is on: the same answers either way
    replay = Replay.load(directory, on_miss=on_miss, speed=speed, ids=ids)
    return replay, RecordMode(directory, upstream, all_calls=False, uploads=uploads) if on_miss == "record" else None


def _cassette_path(request: pytest.FixtureRequest, directory, argument: str) -> Path:
    """A marker's recording directory: relative to the test's folder unless absolute; `record=True` names
    `cassettes/<module>/<test>` (the test's name with its parameters, made safe for a file name)."""
    if directory is True and argument == "record":
        module = Path(request.node.path).stem
        directory = Path("cassettes") / module / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name).strip("_.")
    if isinstance(directory, bool) or not isinstance(directory, (str, os.PathLike)):
        raise TypeError(f"@pytest.mark.openai_fake({argument}=...) takes a directory"
                        f"{' or True' if argument == 'record' else ''}, not {directory!r}")
    path = Path(directory).expanduser()
    return path if path.is_absolute() else Path(request.node.path).parent / path


def _find_file(spec: str, request: pytest.FixtureRequest) -> str:
    """A relative profile path is tried from the working directory, the rootdir, then the test's folder."""
    if not (spec.endswith(".py") or "/" in spec) or Path(spec).is_absolute() or Path(spec).exists():
        return spec
    for base in (request.config.rootpath, Path(request.node.path).parent):
        if (base / spec).is_file():
            return str(base / spec)
    return spec  # load() names it in its error
