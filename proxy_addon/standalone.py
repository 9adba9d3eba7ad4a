"""The fake without pytest: `running(...)`, a context manager and a decorator (a script, unittest, a notebook).

    with openai_fake.running("flaky") as fake:          # a real fake on a free port; this process pointed at it
        OpenAI().chat.completions.create(...)             # unchanged client code
        assert fake.call_count("chat.completions") == 3

    @openai_fake.fake(in_process=True)                    # the in-process path: no proxy, no TLS
    def test_it(self): ...

Inside the block the process's OpenAI clients go to this fake: through the
environment (`HTTPS_PROXY`, `SSL_CERT_DIR`, ...: subprocesses too), or in
process (`in_process=True`: clients built in the block use
`openai_fake.transport`; `inprocess.activate`). Everything is put back at the
end: the environment as it was, the SDK's clients unwrapped, the fake stopped
and its temporary conf directory removed. Blocks nest, and one may run inside a
test that has the session fake: a Runner keeps its own mitmproxy context
(`masters.py`), and the environment the test had comes back when the block ends.
"""

from __future__ import annotations

import functools
import inspect
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from .handle import DUMMY_KEY, STEERING, FakeOpenAI, as_profile, pop, push

__all__ = ["running", "fake"]


class running:
    """A fake for the duration of a `with` block or of a decorated function (sync or async).

    `profile`: None (a fresh `Profile()`), a `Profile` (copied: rules added in the block stay there), a
    shipped name, a file or a dotted module. `in_process`: answer this process's OpenAI clients in process
    instead of starting the proxy (which then starts only if something asks where it listens).
    `base_url`: also set `OPENAI_BASE_URL` to the fake's plain-HTTP face. `confdir`: the fake's conf
    directory (its CA, its journal); by default a temporary one, removed at the end. Other keywords go
    to `Runner` (`port`, default 0: a free one; `max_request_size`, `journal_bodies`, ...).

    `with running(...) as fake` gives the `FakeOpenAI` the fixture gives a test (rules, calls, state);
    in a decorated function, `openai_fake.current()` returns it.
    """

    def __init__(self, profile: Any = None, *, in_process: bool = False, base_url: bool = False,
                 confdir: str | os.PathLike | None = None, **runner_options: Any) -> None:
        if in_process and base_url:
            raise TypeError("openai_fake.running: base_url=True sends clients to the fake's plain-HTTP face, "
                            "in_process=True keeps them in this process; ask for one of them")
        self.profile_spec = profile
        self.in_process = in_process
        self.base_url = base_url
        self.confdir = confdir
        self.runner_options = runner_options
        self._open: list[tuple[FakeOpenAI, dict[str, str | None], Any, Path | None]] = []

    def __enter__(self) -> FakeOpenAI:
        from .runner import Runner

        profile = as_profile(self.profile_spec)
        made = None if self.confdir is not None else Path(tempfile.mkdtemp(prefix="openai-fake-"))
        options = {"host": "127.0.0.1", "port": 0, "warm": False, **self.runner_options}
        runner = Runner(profile, confdir=self.confdir or made, **options)
        saved: dict[str, str | None] = {}
        target = None
        try:
            for name in STEERING:
                _unset(name, saved)
            if self.in_process:
                env: dict[str, str] = {}
            else:
                runner.start()
                _unset("SSL_CERT_FILE", saved)  # trust through SSL_CERT_DIR (see runner.client_env)
                env = runner.env(base_url=self.base_url, inherited=os.environ, trust_dir=True)
            if not os.environ.get("OPENAI_API_KEY"):
                env["OPENAI_API_KEY"] = DUMMY_KEY
            for name, value in env.items():
                _set(name, value, saved)
            fake = FakeOpenAI(runner, profile, env, in_process=self.in_process)
            if self.in_process:
                from .inprocess import activate

                target = activate(runner)
        except BaseException:
            _restore(saved)
            runner.stop()
            if made is not None:
                shutil.rmtree(made, ignore_errors=True)
            raise
        push(fake)
        self._open.append((fake, saved, target, made))
        return fake

    def __exit__(self, *exc: Any) -> None:
        fake, saved, target, made = self._open.pop()
        pop(fake)
        try:
            if target is not None:
                from .inprocess import deactivate

                deactivate(target)
            fake.runner.stop()  # also one an in-process block started on demand
        finally:
            _restore(saved)
            if made is not None:
                shutil.rmtree(made, ignore_errors=True)

    def __call__(self, function: Callable) -> Callable:
        """Decorate a function (sync or async): each call runs inside a fresh block."""
        if inspect.iscoroutinefunction(function):
            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await function(*args, **kwargs)

            return run_async

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            with self:
                return function(*args, **kwargs)

        return run

    def __repr__(self) -> str:
        how = "in process" if self.in_process else "proxy"
        return f"<openai_fake.running {self.profile_spec!r} ({how})>"


def fake(profile: Any = None, **options: Any) -> running:
    """`running(...)` by the name a decorator reads best with: `@openai_fake.fake("flaky", in_process=True)`."""
    return running(profile, **options)


def _set(name: str, value: str, saved: dict[str, str | None]) -> None:
    saved.setdefault(name, os.environ.get(name))
    os.environ[name] = value


def _unset(name: str, saved: dict[str, str | None]) -> None:
    saved.setdefault(name, os.environ.get(name))
    os.environ.pop(name, None)


def _restore(saved: dict[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
