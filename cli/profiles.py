"""`openai-fake profiles` and `profiles check PATH`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from proxy_addon.profile import ProfileError, load, shipped, shipped_dir

from .console import fail, out

app = typer.Typer(help="List the shipped profiles, or check a profile file.", invoke_without_command=True)


@app.callback()
def list_profiles(ctx: typer.Context) -> None:
    """List the shipped profiles."""
    if ctx.invoked_subcommand is not None:
        return
    table = Table(title=f"Shipped profiles ({shipped_dir()})", title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("what it does")
    for name, doc in shipped().items():
        table.add_row(name, doc)
    out.print(table)


@app.command()
def check(spec: Annotated[str, typer.Argument(help="A profile file, shipped name or dotted module.")]) -> None:
    """Load a profile and report what it sets, or the file and line of what is wrong."""
    try:
        profile = load(spec)
    except ProfileError as e:
        fail(str(e))
    rules = ", ".join(sorted(profile.rules)) or "none (defaults everywhere)"
    out.print(f"[green]ok[/]: {profile.name} ({profile.source}); latency {profile.latency:g} s; rules: {rules}")
