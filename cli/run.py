"""`openai-fake run`: serve the fake in the foreground until Ctrl-C."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.panel import Panel
from rich.table import Table

from proxy_addon.profile import ProfileError
from proxy_addon.runner import Runner, StartupError
from proxy_addon.state_file import StateFileError
from proxy_addon.trust import default_confdir

from . import options
from .calls import call_line
from .console import err, fail, out
from .env import shell_lines

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def run(
    profile: options.Profile = "default",
    host: Annotated[str, typer.Option(help="Address to listen on. Anything but loopback exposes the fake to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port for the proxy (it answers the base-URL face's /v1 too, slower; 0 picks a free one).")] = 8080,
    base_url_port: Annotated[
        int, typer.Option("--base-url-port", help="Port for the base-URL face's own, faster server (0 picks a free one).")
    ] = 0,
    confdir: options.Confdir = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Do not print a line per call.")] = False,
    state: Annotated[
        Optional[Path], typer.Option("--state", help="Load the fake's state from FILE at start and keep FILE current.")
    ] = None,
    allow_remote_control: Annotated[
        bool, typer.Option("--allow-remote-control",
                           help="Answer /_fake/ control requests from other machines too (they still need the token).")
    ] = False,
    max_request_size: Annotated[
        int, typer.Option("--max-request-size", metavar="BYTES", min=1,
                          help="Larger request bodies get the API's 413 without being read.")
    ] = 64 * 1024 * 1024,
    journal_bodies: Annotated[
        int, typer.Option("--journal-bodies", metavar="BYTES", min=0,
                          help="Bytes of request bodies kept in memory for /_fake/calls and tests; the oldest go first.")
    ] = 32 * 1024 * 1024,
    header_timeout: Annotated[
        float, typer.Option("--header-timeout", metavar="SECONDS", min=0.01,
                            help="Close a connection that sends no request headers within this time.")
    ] = 10.0,
    idle_timeout: Annotated[
        float, typer.Option("--idle-timeout", metavar="SECONDS", min=0.01,
                            help="Close a kept-alive connection idle between requests for this long.")
    ] = 60.0,
) -> None:
    """Run the fake: an HTTPS proxy for the OpenAI hosts on one port, and a base-URL face on another."""
    try:
        runner = Runner(profile, host=host, port=port, confdir=options.confdir_or_default(confdir), state_file=state,
                        allow_remote_control=allow_remote_control, max_request_size=max_request_size,
                        journal_bodies=journal_bodies, header_timeout=header_timeout, idle_timeout=idle_timeout,
                        base_url_port=base_url_port)
    except ProfileError as e:
        fail(f"profile: {e}", 2)
    except StateFileError as e:
        fail(str(e))
    if host not in LOOPBACK:
        err.print(f"[yellow]warning:[/] listening on {host}: any machine that reaches this port can use the fake.")
        if allow_remote_control:
            err.print("[yellow]warning:[/] --allow-remote-control: with the control token (in the run file) they can also "
                      "reset it and make it load profile files.")

    def ready(r: Runner) -> None:
        r.write_running_file()
        out.print(_panel(r))
        out.print(_env_lines(r), markup=False, soft_wrap=True, style="dim")
        r.journal.subscribe(lambda entry: _show(entry, quiet))  # subscribed now: the panel says it started
        if not quiet:  # from now on, show what mitmproxy warns about (start-up errors are reported once, below)
            r.errors.listener = lambda record: err.print(f"mitmproxy: {record.getMessage()}", style="dim", markup=False)

    try:
        asyncio.run(runner.serve(on_ready=ready, handle_signals=True))
    except StartupError as e:
        fail(str(e))
    finally:
        runner.remove_running_file()
    err.print(runner.journal.summary())


def _show(entry, quiet: bool) -> None:
    """A line per record; with --quiet only the notices that report an error (a broken profile reload)."""
    if not quiet:
        out.print(call_line(entry), soft_wrap=not out.is_terminal)
    elif entry.kind == "notice" and entry.error:
        err.print(call_line(entry), soft_wrap=not err.is_terminal)


def _panel(runner: Runner) -> Panel:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("Proxy", runner.proxy_url)
    table.add_row("Base URL", runner.base_url)
    table.add_row("CA certificate", str(runner.ca_cert))
    table.add_row("CA bundle", str(runner.bundle))
    table.add_row("Profile", f"{runner.engine.profile.name} ({runner.engine.profile.source})")
    if runner.state_file is not None:
        table.add_row("State file", str(runner.state_file.path))
    return Panel(table, title="openai-fake is running", subtitle="Ctrl-C stops it", expand=False)


def _env_lines(runner: Runner) -> str:
    """Lines to copy, outside the panel so that they never wrap."""
    confdir = "" if runner.confdir == default_confdir() else f" --confdir {runner.confdir}"
    lines = ["# Point apps at the fake (or: eval \"$(openai-fake env" + confdir + ")\"):"]
    lines += shell_lines(runner.env(), "sh")
    lines += ["# Clients that ignore proxies (Node 20) use the base-URL face instead:", f"export OPENAI_BASE_URL={runner.base_url}"]
    return "\n".join(lines)
