"""`openai-fake exec -- CMD ...`: run a command with its OpenAI traffic going to a private fake."""

from __future__ import annotations

import os
import subprocess
from typing import Annotated

import typer

from proxy_addon.profile import ProfileError
from proxy_addon.runner import Runner, StartupError

from . import options
from .console import err, fail

DUMMY_KEY = "sk-openai-fake-dummy-key"


def exec_(
    command: Annotated[list[str], typer.Argument(help="The command to run, after `--`.", show_default=False)],
    profile: options.Profile = "default",
    base_url: options.BaseUrl = False,
    confdir: options.Confdir = None,
) -> None:
    """Start the fake on a free port, run CMD pointed at it, and exit with CMD's exit code."""
    try:
        runner = Runner(profile, port=0, confdir=options.confdir_or_default(confdir))
        runner.start()
    except ProfileError as e:
        fail(f"profile: {e}", 2)
    except StartupError as e:
        fail(str(e))
    env = {**os.environ, **runner.env(base_url=base_url, inherited=os.environ)}
    env.setdefault("OPENAI_API_KEY", DUMMY_KEY)
    try:
        code = _run(command, env)
    finally:
        runner.stop()
        err.print(runner.journal.summary(), markup=False)
    raise typer.Exit(code)


def _run(command: list[str], env: dict[str, str]) -> int:
    try:
        child = subprocess.Popen(command, env=env)
    except FileNotFoundError:
        fail(f"command not found: {command[0]}", 127)
    except PermissionError:
        fail(f"cannot execute: {command[0]}", 126)
    while True:
        try:
            code = child.wait()
            break
        except KeyboardInterrupt:  # the child got the same Ctrl-C; let it decide
            continue
    return 128 - code if code < 0 else code  # killed by signal N -> 128+N, as shells report


