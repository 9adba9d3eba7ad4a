"""`openai-fake run`: serve the fake in the foreground until Ctrl-C."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.text import Text

from proxy_addon.profile import ProfileError
from proxy_addon.runner import Runner, StartupError
from proxy_addon.state_file import StateFileError

from . import exit_codes, options, replaying, running
from .calls import call_line
from .console import err, fail, out
from .env import shell_lines
from .exec import DUMMY_KEY
from .help import examples

LOOPBACK = {"127.0.0.1", "localhost", "::1"}

EXAMPLES = examples(
    "openai-fake run                           # proxy on port 8080",
    "openai-fake run --profile flaky --port 0  # 429s and 500s, on a free port",
    "openai-fake run --state ./fake-state.db   # keep the state across restarts",
    "openai-fake run --profile ./my_profile.py # saving the file reloads it",
    "openai-fake run --record cassettes/demo   # forward to the real API, record",
)


def run(
    profile: options.Profile = "default",
    host: Annotated[str, typer.Option(
        metavar="ADDRESS", help="Address to listen on. Anything but loopback exposes the fake to the network.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(
        metavar="PORT", help="Port of the proxy, which answers the base-URL face's /v1 too, slower (0: a free one).")] = 8080,
    base_url_port: Annotated[int, typer.Option(
        "--base-url-port", metavar="PORT", help="Port of the base-URL face's own, faster server (0: a free one).")] = 0,
    confdir: options.Confdir = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print no line per call.")] = False,
    state: Annotated[Optional[Path], typer.Option(
        "--state", metavar="FILE", dir_okay=False,
        help="Load the fake's state from FILE at start (if it exists) and keep FILE current.")] = None,
    allow_remote_control: Annotated[bool, typer.Option(
        "--allow-remote-control",
        help="Answer /_fake/ control requests from other machines too (they still need the token).")] = False,
    max_request_size: Annotated[int, typer.Option(
        "--max-request-size", metavar="BYTES", min=1, show_default="64 MiB",
        help="Larger request bodies get the API's 413 without being read (at least 1).")] = 64 * 1024 * 1024,
    journal_bodies: Annotated[int, typer.Option(
        "--journal-bodies", metavar="BYTES", min=0, show_default="32 MiB",
        help="Bytes of request bodies kept in memory for /_fake/calls and tests; the oldest go first.")] = 32 * 1024 * 1024,
    header_timeout: Annotated[float, typer.Option(
        "--header-timeout", metavar="SECONDS", min=0.01,
        help="Close a connection that sends no request headers within this time (at least 0.01).")] = 10.0,
    idle_timeout: Annotated[float, typer.Option(
        "--idle-timeout", metavar="SECONDS", min=0.01,
        help="Close a kept-alive connection idle this long between requests (at least 0.01).")] = 60.0,
    replay: replaying.ReplayDir = None,
    replay_speed: replaying.ReplaySpeed = 1.0,
    on_miss: replaying.OnMissOption = replaying.OnMiss.error,
    replay_ids: replaying.ReplayIdsOption = None,
    record: options.Record = None,
    upstream: options.Upstream = None,
    record_uploads: options.RecordUploads = None,
) -> None:
    """Run the fake: an HTTPS proxy for the OpenAI hosts on one port, and a base-URL face on another.

    It prints where it listens and the lines that point apps at it, then a line per call; Ctrl-C stops it (exit 0). One `run` per conf directory: a second one is refused while the first runs.
    """
    confdir = options.confdir_or_default(confdir)
    if state is not None and not state.expanduser().absolute().parent.is_dir():
        fail(f"--state {state}: the directory {state.expanduser().absolute().parent} does not exist; create it, "
             "or give a FILE in a directory that does", exit_codes.USAGE)
    record = options.check_record(record, upstream, replay, on_miss.value, record_uploads)
    replayed = replaying.load(replay, replay_speed, on_miss, replay_ids)
    with running.serving(confdir):
        _serve(profile, host, port, confdir, state, quiet,
               dict(allow_remote_control=allow_remote_control, max_request_size=max_request_size,
                    journal_bodies=journal_bodies, header_timeout=header_timeout, idle_timeout=idle_timeout,
                    base_url_port=base_url_port, replay=replayed, record=record, upstream=upstream,
                    record_uploads=(record_uploads or options.Uploads.keep).value))


def _serve(profile: str, host: str, port: int, confdir: Path, state: Path | None, quiet: bool, settings: dict) -> None:
    try:
        runner = Runner(profile, host=host, port=port, confdir=confdir, state_file=state, **settings)
    except ProfileError as e:
        fail(f"profile: {e}", exit_codes.USAGE)
    except StateFileError as e:
        fail(str(e), exit_codes.USAGE)
    if runner.record is not None:
        which = "every OpenAI call" if runner.record.all_calls else "every OpenAI call the recording does not answer"
        err.print(f"[yellow]warning:[/] record mode: {which}, with its key, is forwarded to "
                  f"{runner.record.upstream.url} and recorded (keys redacted) into {runner.record.directory}.",
                  soft_wrap=True)
    if host not in LOOPBACK:
        err.print(f"[yellow]warning:[/] listening on {host}: any machine that reaches this port can use the fake.")
        if settings["allow_remote_control"]:
            err.print("[yellow]warning:[/] --allow-remote-control: with the control token (in the run file) they can also "
                      "reset it and make it load profile files.")

    def ready(r: Runner) -> None:
        r.write_running_file()
        for line in _where(r):
            out.print(line, soft_wrap=True)
        out.print(_env_lines(r), markup=False, soft_wrap=True, style="dim")
        r.journal.subscribe(lambda entry: _show(entry, quiet))  # subscribed now: the lines above say it started
        if not quiet:  # from now on, show what mitmproxy warns about (start-up errors are reported once, below)
            r.errors.listener = lambda record: err.print(f"mitmproxy: {record.getMessage()}", style="dim",
                                                         markup=False, soft_wrap=True)

    try:
        asyncio.run(runner.serve(on_ready=ready, handle_signals=True))
    except StartupError as e:
        fail(f"{e}; another program listens there: `--port 0` picks a free port" if e.in_use else str(e))
    finally:
        runner.remove_running_file()
    err.print(runner.journal.summary(), markup=False, soft_wrap=True)


def _show(entry, quiet: bool) -> None:
    """A line per record; with --quiet only the notices that report an error (a broken profile reload)."""
    if not quiet:
        out.print(call_line(entry), soft_wrap=not out.is_terminal)
    elif entry.kind == "notice" and entry.error:
        err.print(call_line(entry), soft_wrap=not err.is_terminal)


def _where(runner: Runner) -> list[Text]:
    """Where the fake listens and what it serves, a line each: printed whole (never wrapped or cut by rich,
    at any width or into a pipe), so that a path can be copied from it."""
    rows = [("Proxy", runner.proxy_url), ("Base URL", runner.base_url), ("CA certificate", str(runner.ca_cert)),
            ("CA bundle", str(runner.bundle)),
            ("Profile", f"{runner.engine.profile.name} ({runner.engine.profile.source})")]
    if runner.state_file is not None:
        rows.append(("State file", str(runner.state_file.path)))
    if runner.engine.replay is not None:
        rows.append(("Replaying", runner.engine.replay.describe()))
    warned = []  # record mode sends traffic off the machine: said in the warning colour
    if runner.record is not None:
        warned = [("Recording", f"every OpenAI call forwarded and recorded into {runner.record.directory}"),
                  ("Upstream", f"{runner.record.upstream.url} (your key is sent there)")]
    width = max(len(label) for label, _ in rows + warned)
    lines = [Text.assemble(("openai-fake is running", "bold green"), "; Ctrl-C stops it")]
    lines += [Text.assemble("  ", (label.ljust(width), "bold"), "  ", value) for label, value in rows]
    lines += [Text.assemble("  ", (label.ljust(width), "bold yellow"), "  ", (value, "yellow")) for label, value in warned]
    return lines


def _env_lines(runner: Runner) -> str:
    """The two ways to point apps at the fake, as blocks to copy: through the proxy (what `env` prints), or
    at the base-URL face (plain HTTP: no CA needed)."""
    # The SDK refuses to start without a key, and the fake takes any; record mode forwards the client's own,
    # which the upstream must accept: no dummy one then.
    key = {} if runner.record is not None else {"OPENAI_API_KEY": DUMMY_KEY}
    lines = ["", f'# Point apps at the fake through its proxy (or: eval "$(openai-fake env{running.confdir_flag(runner.confdir)})"):']
    lines += shell_lines({**runner.env(), **key}, "sh")
    lines += ["", "# Or, for clients that ignore proxies (Node 20's fetch), its base-URL face:"]
    lines += shell_lines({"OPENAI_BASE_URL": runner.base_url, "OPENAI_API_BASE": runner.base_url, **key}, "sh")
    return "\n".join(lines)
