"""`openai-fake exec -- CMD ...`: run a command with its OpenAI traffic going to a private fake."""

from __future__ import annotations

import os
import subprocess
from typing import Annotated, Mapping

import typer

from proxy_addon.profile import ProfileError
from proxy_addon.runner import Runner, StartupError

from . import options
from .console import err, fail

#: What the child gets instead of a real key: the real API refuses it, so a client that escapes
#: the fake (an HTTP stack the proxy and the Node preload do not reach) cannot spend anything.
DUMMY_KEY = "sk-openai-fake-dummy-key"
#: Variables holding keys the real API would accept. (Org and project ids spend nothing;
#: Azure keys go to Azure hosts, which the fake does not serve, so they are left alone.)
KEY_VARIABLES = ("OPENAI_API_KEY", "OPENAI_ADMIN_KEY")

KeepKey = Annotated[bool, typer.Option(
    "--keep-key", help="Pass an inherited OPENAI_API_KEY / OPENAI_ADMIN_KEY through instead of a fake one.")]


def fake_keys(inherited: Mapping[str, str], keep: bool = False) -> tuple[dict[str, str], list[str]]:
    """The key variables to set, and the names of inherited keys they replace.

    OPENAI_API_KEY is always set (to the fake key unless `keep` and one is inherited);
    OPENAI_ADMIN_KEY only replaces an inherited one. A key that already is fake is kept."""
    keys: dict[str, str] = {}
    replaced: list[str] = []
    for name in KEY_VARIABLES:
        value = inherited.get(name)
        if value and (keep or value.startswith("sk-openai-fake")):
            continue
        if value:
            replaced.append(name)
        if value or name == "OPENAI_API_KEY":
            keys[name] = DUMMY_KEY
    return keys, replaced


def exec_(
    command: Annotated[list[str], typer.Argument(help="The command to run, after `--`.", show_default=False)],
    profile: options.Profile = "default",
    base_url: options.BaseUrl = False,
    confdir: options.Confdir = None,
    keep_key: KeepKey = False,
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
    keys, replaced = fake_keys(os.environ, keep_key)
    env.update(keys)
    if replaced:
        err.print(f"[dim]openai-fake: {' and '.join(replaced)} replaced by a fake key for the command "
                  "(--keep-key passes yours through)[/]")
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


