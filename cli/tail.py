"""`openai-fake tail`: show the calls of the fake that uses this conf directory, from its journal file."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer
from rich.console import Console, Group
from rich.live import Live

from proxy_addon.journal import Entry, encode, follow, is_lifecycle, journal_files, journal_path, read_entries

from . import options
from .calls import call_line
from .console import err, fail, out


def tail(
    lines: Annotated[int, typer.Option("--lines", "-n", min=0, help="How many of the last calls to show (then, with --follow, new ones).")] = 10,
    follow_: Annotated[bool, typer.Option("--follow", "-f", help="Keep showing calls as they come (Ctrl-C stops).")] = False,
    json_: Annotated[bool, typer.Option("--json", help="One JSON object per line (the journal's records), for scripts.")] = False,
    path: Annotated[Optional[str], typer.Option("--path", help="Only calls whose path contains this.")] = None,
    status: Annotated[
        Optional[list[str]], typer.Option("--status", help="Only these statuses: 2xx, 4xx, 5xx or a code such as 429 (repeatable).")
    ] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Only calls whose model contains this.")] = None,
    confdir: options.Confdir = None,
) -> None:
    """Show the fake's calls: status, duration, model, the first words of prompt and answer, streams in progress.

    Reads `<confdir>/journal.jsonl`, which `run` and `exec` write. A filter selects calls; without one, the fake's notices (started, stopped, profile reloaded or broken) are shown too.
    """
    selected = Selection(path, [_status_test(s) for spec in status or () for s in spec.split(",")], model)
    file = journal_path(options.confdir_or_default(confdir))
    show = JsonLines() if json_ else LiveLines() if follow_ and out.is_terminal else Lines()
    try:
        if not follow_:
            if not journal_files(file):
                fail(f"no journal at {file}: no openai-fake has run with this conf directory "
                     "(start one with `openai-fake run`, or use --follow to wait for it)")
            for entry in read_entries(file, limit=lines, where=_newest_first(selected), on_bad_line=_warn):
                show.entry(entry)
            return
        if not file.exists():
            err.print(f"no journal at {file} yet: waiting for an openai-fake with this conf directory to start "
                      "(Ctrl-C stops)", markup=False, soft_wrap=True)
        with show:
            _follow(file, lines, selected, show)
    except KeyboardInterrupt:
        raise typer.Exit(0)
    except BrokenPipeError:  # `tail --json | head`: the reader has gone; exit 1 quietly, as rich does for its lines
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(1)
    except OSError as e:  # a journal we may not read
        fail(f"cannot read the journal: {e}")


def _follow(file: Path, lines: int, selected: "Selection", show: "Lines") -> None:
    backlog: list[Entry] | None = []  # what the file held when we started, until we have caught up
    for entry in follow(file, from_start=True, on_bad_line=_warn):
        if entry is None:
            if backlog is not None:
                for old in _last(file, backlog, lines, selected):
                    show.entry(old)
                backlog = None
                show.note(f"following {file} (Ctrl-C stops)")
        elif backlog is not None:
            backlog.append(entry)
        elif selected(entry):
            show.entry(entry)


def _last(file: Path, backlog: list[Entry], n: int, selected: "Selection") -> list[Entry]:
    """The last `n` selected records of the backlog, or of it and the rotated files when it has too few."""
    keep = _newest_first(selected)
    found = []
    for entry in reversed(backlog):
        if len(found) >= n:
            break
        if keep(entry):
            found.append(entry)
    found.reverse()
    if len(found) < n:
        older = [f for f in journal_files(file) if f != file]
        found[:0] = read_entries(file, files=older, limit=n - len(found), where=keep, on_bad_line=_warn)
    return found


class Selection:
    """The filters: a call passes when it matches all that are given; a notice only when none is."""

    def __init__(self, path: str | None, statuses: list[Callable[[int], bool]], model: str | None) -> None:
        self.path, self.statuses, self.model = path, statuses, model

    def __call__(self, entry: Entry) -> bool:
        if entry.kind == "notice":
            return not (self.path or self.statuses or self.model)
        return ((not self.path or self.path in entry.path)
                and (not self.statuses or any(test(entry.status) for test in self.statuses))
                and (not self.model or self.model in (entry.model or "")))


def _status_test(spec: str) -> Callable[[int], bool]:
    spec = spec.strip().lower()
    if re.fullmatch(r"[1-5]xx", spec):
        return lambda status: status // 100 == int(spec[0])
    if re.fullmatch(r"[1-5]\d\d", spec):
        return lambda status: status == int(spec)
    raise typer.BadParameter(f"{spec!r}: give a class (2xx, 4xx, 5xx) or a status such as 429", param_hint="--status")


def _newest_first(selected: Selection) -> Callable[[Entry], bool]:
    """A `where` for records seen newest first: a stream's start record is left out once its call
    record (newer) has been seen, or once the fake has stopped or started again since."""
    ended: set[str] = set()
    restarted = False

    def keep(entry: Entry) -> bool:
        nonlocal restarted
        if entry.kind == "call":
            ended.add(entry.request_id)
        elif entry.kind == "stream" and (restarted or entry.request_id in ended):
            return False
        elif is_lifecycle(entry):
            restarted = True
        return selected(entry)

    return keep


def _warn(where: str, line: bytes) -> None:
    err.print(f"warning: skipped a journal line that is not a record ({where}): {line[:80]!r}", markup=False,
              style="yellow", soft_wrap=True)


# -- output -----------------------------------------------------------------------------------


class Lines:
    """A line per record, as it comes: a stream shows a `⋯ streaming` line, then its call line when it ends.
    What works in a pipe and in any terminal."""

    def __enter__(self) -> "Lines":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def entry(self, entry: Entry) -> None:
        out.print(call_line(entry), soft_wrap=not out.is_terminal)  # a pipe gets whole lines

    def note(self, text: str) -> None:
        err.print(text, style="dim", markup=False, soft_wrap=True)


class JsonLines(Lines):
    """The journal's records, one JSON object per line, exactly as the journal writes them."""

    def entry(self, entry: Entry) -> None:
        sys.stdout.write(encode(entry).decode())
        sys.stdout.flush()


class LiveLines(Lines):
    """In a terminal: streams in progress stay at the bottom with their running time (rich Live),
    and each becomes its call line above them when it ends."""

    def __init__(self, console: Console = out) -> None:
        self.streaming: dict[str, Entry] = {}
        self.live = Live(get_renderable=self._render, console=console, refresh_per_second=4, transient=True,
                         redirect_stdout=False, redirect_stderr=False)

    def __enter__(self) -> "LiveLines":
        self.live.start()
        return self

    def __exit__(self, *exc) -> None:
        self.live.stop()

    def _render(self) -> Group:
        now = time.time()
        return Group(*(call_line(e, now) for e in list(self.streaming.values())))

    def note(self, text: str) -> None:
        self.live.console.print(text, style="dim", markup=False)  # stderr would upset the live region

    def entry(self, entry: Entry) -> None:
        if entry.kind == "stream":
            self.streaming[entry.request_id] = entry
            self.live.refresh()
            return
        self.streaming.pop(entry.request_id, None)
        if is_lifecycle(entry):
            self.streaming.clear()  # the fake stopped: those streams will not end
        # Printing redraws the live region as last rendered, so an ended stream's line would show beside
        # its call line until the next refresh. Refresh first, and send both in one write to the terminal.
        with self.live.console:
            self.live.refresh()
            self.live.console.print(call_line(entry))
