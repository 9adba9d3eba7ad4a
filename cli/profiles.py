"""`openai-fake profiles` and `profiles check PATH`."""

from __future__ import annotations

import textwrap
from typing import Annotated

import typer
from rich.text import Text

from proxy_addon.profile import ProfileError, load, shipped, shipped_dir

from . import exit_codes
from .console import fail, out
from .help import Command, Group, examples

app = typer.Typer(cls=Group, help="List the shipped profiles, or check a profile file.", invoke_without_command=True,
                  epilog=examples(
                      "openai-fake profiles                         # the shipped ones",
                      "openai-fake profiles check ./my_profile.py   # file:line of what is wrong",
                  ))


@app.callback()
def list_profiles(ctx: typer.Context) -> None:
    """List the shipped profiles."""
    if ctx.invoked_subcommand is not None:
        return
    profiles = shipped()
    out.print(f"Shipped profiles, in {shipped_dir()}:", markup=False)
    width = max(map(len, profiles), default=0)
    indent = " " * (width + 4)
    for name, doc in profiles.items():  # the descriptions wrapped between words, to the terminal's width
        first, *more = textwrap.wrap(doc, max(20, out.width - len(indent))) or [""]
        out.print(Text.assemble("  ", (name.ljust(width), "bold"), "  ", first))
        for line in more:
            out.print(indent + line, markup=False)


@app.command(cls=Command, epilog=examples(
    "openai-fake profiles check ./my_profile.py",
    "openai-fake profiles check flaky",
))
def check(spec: Annotated[str, typer.Argument(
        metavar="NAME|FILE", show_default=False,
        help="A profile .py file, a shipped profile's name, or a dotted module.")]) -> None:
    """Load a profile and report what it sets, or the file and line of what is wrong (exit 2)."""
    try:
        profile = load(spec)
    except ProfileError as e:
        fail(str(e), exit_codes.USAGE)
    rules = ", ".join(sorted(profile.rules)) or "none (defaults everywhere)"
    out.print(Text.assemble(("ok", "green"), f": {profile.name} ({profile.source}); latency {profile.latency:g} s; "
                            f"rules: {rules}"), soft_wrap=True)
