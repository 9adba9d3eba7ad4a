"""The `openai-fake run` that serves a conf directory: found through its run file (`<confdir>/running.json`)
by the commands that talk to it, and one at a time per directory.

A second `run` on the same conf directory would overwrite the first one's run file: `env`, `calls`,
`use`... would then talk to the second, and say nothing is running once it stops, while the first still
answers. So `run` holds an exclusive lock on `<confdir>/running.lock` while it serves, and a second `run`
is refused, naming the first. The operating system drops the lock when its process ends, however it
ends (`kill -9` too), so a stale run file never blocks a new `run`: it is overwritten.
"""

from __future__ import annotations

import contextlib
import os
import shlex
from pathlib import Path
from typing import Iterator

from proxy_addon.runner import read_running_file
from proxy_addon.trust import default_confdir

from .console import fail

LOCK_FILE = "running.lock"


def confdir_flag(confdir: Path) -> str:
    """` --confdir DIR` to repeat in a suggested command, or nothing for the default directory."""
    return "" if confdir == default_confdir() else f" --confdir {shlex.quote(str(confdir))}"


def find(confdir: Path) -> dict:
    """What the `run` serving `confdir` wrote to its run file; exits (1) saying how to start one if none is."""
    info = read_running_file(confdir)
    if info is None:
        fail(f"no openai-fake is running for the conf directory {confdir}; start one with "
             f"`openai-fake run{confdir_flag(confdir)}`, or give the --confdir the running one was started with")
    return info


@contextlib.contextmanager
def serving(confdir: Path) -> Iterator[None]:
    """Hold `confdir` for this `run` until the block ends; exits (1) naming the `run` that holds it already."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; a live run file is the best sign there is
        if read_running_file(confdir) is not None:
            _refuse(confdir)
        yield
        return
    confdir.mkdir(parents=True, exist_ok=True)
    fd = os.open(confdir / LOCK_FILE, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _refuse(confdir)
        yield
    finally:
        os.close(fd)  # closing it releases the lock


def _refuse(confdir: Path) -> None:
    info = read_running_file(confdir)
    how = "stop it (Ctrl-C in its terminal{kill}), or give this one another --confdir"
    if info is None:  # it holds the lock but has not written its run file yet: still starting
        fail(f"another openai-fake run is starting for the conf directory {confdir}; " + how.format(kill=""))
    pid = info.get("pid")
    fail(f"an openai-fake is already running for the conf directory {confdir} (pid {pid}, proxy "
         f"{info.get('proxy_url')}, base URL {info.get('base_url')}); " + how.format(kill=f", or kill {pid}"))
