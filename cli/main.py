"""The `openai-fake` command: wires the command modules together."""

from __future__ import annotations

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
    app()
