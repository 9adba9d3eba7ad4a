"""`openai-fake env`: the shell lines that point this shell's clients at the running fake, and
`env --unset`: the lines that put the shell back as it was.

What `env` sets is recorded in the shell itself, so that `--unset` needs no running fake:

- `OPENAI_FAKE_ENV`: the names it set, separated by spaces;
- `OPENAI_FAKE_OLD_<NAME>`: the value NAME had before, for each name it changed rather than added
  (saved by reference, `export OPENAI_FAKE_OLD_X="$X"`, so a key's value is never printed).

Applying `env` again (a restarted fake) starts from the shell as it was before the first time: the
originals stay saved, and a name the new lines no longer set is put back.
"""

from __future__ import annotations

import os
import re
import shlex
from enum import Enum
from pathlib import Path
from typing import Annotated, Callable, Mapping

import typer

from proxy_addon.runner import client_env

from . import exit_codes, options, running
from .console import err, fail
from .exec import KeepKey, fake_keys
from .help import examples

#: The variable that lists the names `env` set in this shell.
SET_NAMES = "OPENAI_FAKE_ENV"
#: The prefix of the variables that keep the values `env` replaced.
OLD_PREFIX = "OPENAI_FAKE_OLD_"

EXAMPLES = examples(
    'eval "$(openai-fake env)"            # this shell uses the running fake',
    'eval "$(openai-fake env --unset)"    # and now it does not',
    "openai-fake env --shell fish | source",
    "openai-fake env --shell powershell | Invoke-Expression",
)


class Shell(str, Enum):
    sh = "sh"
    fish = "fish"
    powershell = "powershell"


_PLAIN = re.compile(r"[\w@%+=:,./-]+", re.ASCII)  # what needs no quotes (shlex.quote's own rule)


def quote(value: str, shell: str) -> str:
    """`value` as one word of `shell`, taken literally."""
    if shell == "powershell":
        return "'" + value.replace("'", "''") + "'"
    if shell == "fish":
        return value if _PLAIN.fullmatch(value) else "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return shlex.quote(value)


#: Per shell: set NAME to a value (quoted), copy one variable into another, and remove one.
_SYNTAX: dict[str, tuple[Callable[[str, str], str], Callable[[str, str], str], Callable[[str], str]]] = {
    "sh": (lambda name, value: f"export {name}={value}",
           lambda name, source: f'export {name}="${{{source}}}"',
           lambda name: f"unset {name}"),
    "fish": (lambda name, value: f"set -gx {name} {value}",
             lambda name, source: f"set -gx {name} ${source}",
             lambda name: f"set -e {name}"),
    "powershell": (lambda name, value: f"$env:{name} = {value}",
                   lambda name, source: f"$env:{name} = $env:{source}",
                   lambda name: f"Remove-Item Env:{name} -ErrorAction SilentlyContinue"),
}


def shell_lines(variables: Mapping[str, str], shell: str) -> list[str]:
    """`variables` as lines for `shell` to evaluate, each value quoted."""
    assign = _SYNTAX[shell][0]
    return [assign(name, quote(value, shell)) for name, value in variables.items()]


def _applied(environ: Mapping[str, str]) -> list[str]:
    return environ.get(SET_NAMES, "").split()


def original_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment as it was before `env` was applied to it (itself, where it was not)."""
    applied = _applied(environ)
    before = {k: v for k, v in environ.items() if k not in applied and k != SET_NAMES and not k.startswith(OLD_PREFIX)}
    before.update({name: environ[OLD_PREFIX + name] for name in applied if OLD_PREFIX + name in environ})
    return before


def _put_back(name: str, environ: Mapping[str, str], shell: str) -> list[str]:
    _, copy, remove = _SYNTAX[shell]
    old = OLD_PREFIX + name
    return [copy(name, old), remove(old)] if old in environ else [remove(name)]


def apply_lines(variables: Mapping[str, str], environ: Mapping[str, str], shell: str) -> list[str]:
    """Lines that set `variables` in a shell whose environment is `environ`, saving what they replace."""
    copy = _SYNTAX[shell][1]
    applied = _applied(environ)
    lines = [line for name in applied if name not in variables for line in _put_back(name, environ, shell)]
    for name in variables:
        if name not in applied and name in environ:
            lines.append(copy(OLD_PREFIX + name, name))
    lines += shell_lines({**variables, SET_NAMES: " ".join(variables)}, shell)
    return lines


def unset_lines(environ: Mapping[str, str], shell: str) -> list[str]:
    """Lines that undo what `apply_lines` did to a shell whose environment is `environ`."""
    applied = _applied(environ)
    if not applied:
        return []
    return [line for name in applied for line in _put_back(name, environ, shell)] + [_SYNTAX[shell][2](SET_NAMES)]


def env(
    shell: Annotated[Shell, typer.Option(metavar="sh|fish|powershell", help="Syntax of the lines.")] = Shell.sh,
    base_url: options.BaseUrl = False,
    confdir: options.Confdir = None,
    keep_key: KeepKey = False,
    unset: Annotated[bool, typer.Option(
        "--unset", help="Print the lines that undo what env set in this shell (no fake needs to run).")] = False,
) -> None:
    """Print the lines that point this shell at the running fake: `eval "$(openai-fake env)"`.

    Like `exec`, they set OPENAI_API_KEY (and an inherited OPENAI_ADMIN_KEY) to a fake key that the real API refuses, unless --keep-key; `eval "$(openai-fake env --unset)"` puts back what they changed, keys included.
    """
    if unset:
        if base_url or keep_key:
            fail("--unset takes no --base-url or --keep-key: it undoes whatever env set", exit_codes.USAGE)
        lines = unset_lines(os.environ, shell.value)
        if not lines:
            err.print(f"openai-fake env --unset: nothing to undo ({SET_NAMES} is not set: env was not applied to "
                      "this shell)", markup=False, soft_wrap=True)
    else:
        info = running.find(options.confdir_or_default(confdir))
        before = original_environ(os.environ)
        variables = client_env(info["proxy_url"], Path(info["bundle"]), Path(info["ca_cert"]),
                               info["base_url"] if base_url else None, before, hosts=info.get("hosts", ()))
        variables.update(fake_keys(before, keep_key)[0])
        lines = apply_lines(variables, os.environ, shell.value)
    for line in lines:
        typer.echo(line)
