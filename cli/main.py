"""The `openai-fake` command: wires the command modules together."""

from __future__ import annotations

import logging
import os
import sys

import typer

from . import cert, env, exec, profiles, run
from . import control
from . import tail

app = typer.Typer(
    name="openai-fake",
    help="A fake api.openai.com for real programs: an HTTPS proxy plus a base-URL face, driven by profiles.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.command()(run.run)
app.command(
    "exec",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)(exec.exec_)
app.command()(env.env)
app.command()(tail.tail)
app.command()(control.calls)
app.command()(control.reset)
app.command()(control.use)
app.command()(control.state)
app.add_typer(cert.app, name="cert")
app.add_typer(profiles.app, name="profiles")


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
