"""The `openai-fake` command: wires the command modules together."""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer

from . import cert, env, exec, profiles, run
from . import control
from . import tail
from . import record
from .help import Command, Group, examples

app = typer.Typer(
    name="openai-fake",
    cls=Group,
    help="A fake api.openai.com for real programs: an HTTPS proxy plus a base-URL face, driven by profiles.",
    epilog=examples(
        "openai-fake exec --profile flaky -- python app.py  # a fake for one command",
        "openai-fake run                                    # a fake for every shell",
        'eval "$(openai-fake env)"                          # this shell uses it',
        "openai-fake tail -f                                # watch its calls",
    ) + "\n\nExit codes: 0 done; 1 failed at run time; 2 usage (an option, a profile, a knob); "
        "130 Ctrl-C; exec: its command's own.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def _print_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"openai-fake {version('openai-fake')}")
        except PackageNotFoundError:  # a checkout run without installing it
            typer.echo("openai-fake (not installed: no package metadata)")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    pass


def _command(function, name: str | None = None, **settings) -> None:
    app.command(name, cls=Command, **settings)(function)


_command(run.run, epilog=run.EXAMPLES)
_command(exec.exec_, "exec", epilog=exec.EXAMPLES,
         context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
_command(env.env, epilog=env.EXAMPLES)
_command(tail.tail, epilog=examples(
    "openai-fake tail                       # the last 10 calls",
    "openai-fake tail -f --status 4xx       # errors, as they come",
    "openai-fake tail --json -n 100 | jq .  # records, for scripts",
))
_command(control.calls, epilog=examples(
    "openai-fake calls --status 429,5xx",
    "openai-fake calls --json --model gpt-4o -n 5",
))
_command(control.reset, epilog=control.RESET_EXAMPLES)
_command(control.use, epilog=control.USE_EXAMPLES)
_command(control.state, epilog=control.STATE_EXAMPLES)
app.add_typer(cert.app, name="cert")
app.add_typer(profiles.app, name="profiles")
app.add_typer(record.app, name="record")


def main() -> None:
    """The console script: run the command, then leave at once.

    By the time a command returns, the fake it ran has stopped, its journal and
    state file are written and its output is flushed below. What is left is the
    interpreter's own teardown of mitmproxy's and the SDK's many thousand objects:
    about a third of a second here, longer than `exec`'s fake takes to stop
    (bench/startup.py), so it is skipped. (`app` itself, as typer's CliRunner
    calls it in tests, exits as usual.)
    """
    try:
        app()
        code = 0
    except SystemExit as done:
        code = done.code
    if code is not None and not isinstance(code, int):  # sys.exit("message"): print it, as Python does
        print(code, file=sys.stderr)
        code = 1
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code or 0)
