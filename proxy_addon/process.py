"""The process's one fake, for what runs outside a fixture: openai-responses' `OpenAIMock().router`.

    runner = process.runner()        # the session fixture's fake, or one started now (stopped at exit)

Before Runners could run side by side, a second one in a process broke the first's TLS, so
whatever needs a fake outside a fixture uses the one the session fixture started (`adopt`), and
the fixture uses one started earlier (`running`). `release_strays` gives the fake back to a
test's fixture from anything left answering on it outside one (`bound`).
No pytest here: the compatibility layer uses it from scripts too.
"""

from __future__ import annotations

import atexit
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .runner import Runner

__all__ = ["runner", "running", "adopt", "forget", "bound", "release_strays", "client_env"]

_RUNNER: list["Runner"] = []
#: Releases of what answers on the process's fake outside a fixture; a fixture calls them first.
bound: list[Callable[[], None]] = []
#: Variables that would send a client elsewhere than api.openai.com through the proxy (the pytest plugin's too).
STEERING = ("OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENAI_PROXY")
DUMMY_KEY = "sk-openai-fake-dummy-key"


def running() -> "Runner | None":
    """The process's fake, if one was started."""
    return _RUNNER[0] if _RUNNER else None


def adopt(runner: "Runner") -> None:
    """Make `runner` (started) the process's fake."""
    _RUNNER[:] = [runner]


def forget(runner: "Runner") -> None:
    if _RUNNER and _RUNNER[0] is runner:
        _RUNNER.clear()


def runner() -> "Runner":
    """The process's fake: the one running, or a `Runner` started now on a free loopback port (a temporary
    conf directory), stopped when the process exits."""
    found = running()
    if found is not None:
        return found
    from .profile import Profile
    from .runner import Runner

    made = Runner(Profile(), host="127.0.0.1", port=0, confdir=Path(tempfile.mkdtemp(prefix="openai-fake-")), warm=False)
    made.start()
    adopt(made)
    atexit.register(_stop, made)
    return made


def _stop(made: "Runner") -> None:
    forget(made)
    made.stop()


def release_strays() -> None:
    for release in list(bound):
        release()


def client_env(fake: "Runner") -> tuple[dict[str, str], tuple[str, ...]]:
    """What to set in this process's environment, and what to remove, to point every client at `fake`: as the
    `openai_fake` fixture does (trust through `SSL_CERT_DIR`, an inherited `SSL_CERT_FILE` set aside)."""
    unset = (*STEERING, "SSL_CERT_FILE")
    env = fake.env(inherited={k: v for k, v in os.environ.items() if k not in unset}, trust_dir=True)
    if not os.environ.get("OPENAI_API_KEY"):
        env["OPENAI_API_KEY"] = DUMMY_KEY
    return env, unset
