"""`openai-fake env`: the environment lines that point clients at the running fake."""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from proxy_addon.runner import client_env, read_running_file

from . import options
from .console import fail
from .exec import KeepKey, fake_keys


class Shell(str, Enum):
    sh = "sh"
    fish = "fish"
    powershell = "powershell"


def shell_lines(env: dict[str, str], shell: str) -> list[str]:
    """`env` as lines for `shell` to evaluate."""
    quote = lambda v: "'" + v.replace("'", "'\\''") + "'"  # noqa: E731
    if shell == "fish":
        return [f"set -gx {k} {quote(v)}" for k, v in env.items()]
    if shell == "powershell":
        return [f'$env:{k} = "{v}"' for k, v in env.items()]
    return [f"export {k}={quote(v)}" for k, v in env.items()]


def env(
    shell: Annotated[Shell, typer.Option(help="Syntax of the lines.")] = Shell.sh,
    base_url: options.BaseUrl = False,
    confdir: options.Confdir = None,
    keep_key: KeepKey = False,
) -> None:
    """Print the environment for the running fake, e.g. `eval "$(openai-fake env)"`.

    Like `exec`, it sets OPENAI_API_KEY (and an inherited OPENAI_ADMIN_KEY) to a fake key the real
    API refuses, unless `--keep-key`: the shell is for the fake from then on."""
    info = read_running_file(options.confdir_or_default(confdir))
    if info is None:
        fail("no openai-fake is running for this conf directory; start one with `openai-fake run`")
    variables = client_env(info["proxy_url"], Path(info["bundle"]), Path(info["ca_cert"]), info["base_url"] if base_url else None, os.environ,
                           hosts=info.get("hosts", ()))
    variables.update(fake_keys(os.environ, keep_key)[0])
    for line in shell_lines(variables, shell.value):
        typer.echo(line)
