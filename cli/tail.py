"""`openai-fake tail`: show the calls of the fake that uses this conf directory, from its journal file."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Callable, Optional

import typer
from rich.console import Console, Group
from rich.live import Live

from proxy_addon.journal import Entry, Filter, follow, is_call, is_lifecycle, journal_files, journal_path, public_line, read_entries

from . import options
from .calls import call_line
from .console import err, fail, out

#: After Ctrl-C, how long `tail -f` waits for the streams it shows in progress to end (their fake may be
#: stopping too, and ends them first), so that their call lines are shown rather than left unresolved.
STREAM_GRACE = 1.0

def tail(
    lines: Annotated[int, typer.Option("--lines", "-n", min=0, metavar="N",
                                       help="How many of the last calls to show, with the notices since (then, with --follow, new ones).")] = 10,
    follow_: Annotated[bool, typer.Option("--follow", "-f", help="Keep showing calls as they come (Ctrl-C stops, once the streams shown in progress end or 1 s has passed).")] = False,
    json_: Annotated[bool, typer.Option("--json", help="One JSON object per line, the same as `calls --json` prints, for scripts.")] = False,
    path: Annotated[Optional[str], typer.Option("--path", help="Only calls whose path contains this.")] = None,
    status: Annotated[
        Optional[list[str]], typer.Option("--status", help="Only these statuses: 2xx, 4xx, 5xx or a code such as 429 (repeatable, or comma-separated).")
    ] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Only calls for this model: its exact id, or a pattern such as 'gpt-4o*'.")] = None,
    confdir: options.Confdir = None,
) -> None:
    """Show the fake's calls: status, duration, model, the first words of prompt and answer, streams in progress.

    Reads `<confdir>/journal.jsonl`, which `run` and `exec` write. A filter selects calls; without one, the fake's notices (started, stopped, profile reloaded or broken) are shown too.
    """
    try:
        wanted = Filter(path, status or (), model)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--status") from None
    file = journal_path(options.confdir_or_default(confdir))
    show = JsonLines() if json_ else LiveLines() if follow_ and out.is_terminal else Lines()
    selected = _selection(wanted)
    try:
        if not follow_:
            if not journal_files(file):
                fail(f"no journal at {file}: no openai-fake has run with this conf directory "
                     "(start one with `openai-fake run`, or use --follow to wait for it)")
            for entry in read_entries(file, limit=lines, where=_newest_first(selected), counted=is_call, on_bad_line=_warn):
                show.entry(entry)
            return
        if not file.exists():
            err.print(f"no journal at {file} yet: waiting for an openai-fake with this conf directory to start "
                      "(Ctrl-C stops)", markup=False, soft_wrap=True)
        with show, CtrlC() as ctrl_c:
            _follow(file, lines, selected, show, ctrl_c)
    except KeyboardInterrupt:  # a second Ctrl-C, or one before following began
        raise typer.Exit(0)
    except BrokenPipeError:  # `tail --json | head`: the reader has gone; exit 1 quietly, as rich does for its lines
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(1)
    except OSError as e:  # a journal we may not read
        fail(f"cannot read the journal: {e}")


def _selection(wanted: Filter) -> Callable[[Entry], bool]:
    """A call passes when it matches all the filters given; a notice only when none is."""
    return lambda entry: not wanted if entry.kind == "notice" else wanted(entry)


class CtrlC:
    """While in `with`: the first SIGINT only asks to stop (`asked`, at `deadline` at the latest), so that what
    the journal holds by then, and the end of the streams in progress, are shown first; a second one interrupts."""

    def __init__(self, grace: float = STREAM_GRACE) -> None:
        self.grace = grace
        self.asked = False
        self.deadline = float("inf")
        self._previous = None

    def __enter__(self) -> "CtrlC":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._ask)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _ask(self, signum, frame) -> None:
        if self.asked:
            raise KeyboardInterrupt
        self.asked = True
        self.deadline = time.monotonic() + self.grace


def _follow(file: Path, lines: int, selected: Callable[[Entry], bool], show: "Lines", ctrl_c: CtrlC) -> None:
    backlog: list[Entry] | None = []  # what the file held when we started, until we have caught up
    for entry in follow(file, from_start=True, on_bad_line=_warn):
        if entry is None:
            if backlog is not None:
                for old in _last(file, backlog, lines, selected):
                    show.entry(old)
                backlog = None
                if not ctrl_c.asked:
                    show.note(f"following {file} (Ctrl-C stops)")
            if ctrl_c.asked and not show.streaming:
                break  # caught up, and no stream shown in progress is left to end
        elif backlog is not None:
            backlog.append(entry)
        elif selected(entry):
            show.entry(entry)
        if ctrl_c.asked and time.monotonic() >= ctrl_c.deadline:
            break
    show.finish()


def _last(file: Path, backlog: list[Entry], n: int, selected: Callable[[Entry], bool]) -> list[Entry]:
    """The last `n` selected calls, with the notices among them, of the backlog, or of it and the rotated files
    when it has too few."""
    keep = _newest_first(selected)
    found: list[Entry] = []
    calls = 0
    for entry in reversed(backlog):
        if calls >= n:
            break
        if keep(entry):
            found.append(entry)
            calls += is_call(entry)
    found.reverse()
    if calls < n:
        older = [f for f in journal_files(file) if f != file]
        found[:0] = read_entries(file, files=older, limit=n - calls, where=keep, counted=is_call, on_bad_line=_warn)
    return found


def _newest_first(selected: Callable[[Entry], bool]) -> Callable[[Entry], bool]:
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

    def __init__(self) -> None:
        #: The streams shown in progress that have not ended yet, by request id.
        self.streaming: dict[str, Entry] = {}

    def __enter__(self) -> "Lines":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def entry(self, entry: Entry) -> None:
        self._track(entry)
        self.show(entry)

    def show(self, entry: Entry) -> None:
        out.print(call_line(entry), soft_wrap=not out.is_terminal)  # a pipe gets whole lines

    def _track(self, entry: Entry) -> None:
        if entry.kind == "stream":
            self.streaming[entry.request_id] = entry
        else:
            self.streaming.pop(entry.request_id, None)
            if is_lifecycle(entry):
                self.streaming.clear()  # the fake stopped: those streams will not end

    def note(self, text: str) -> None:
        err.print(text, style="dim", markup=False, soft_wrap=True)

    def finish(self) -> None:
        """Following ends (Ctrl-C): a stream still in progress has had its `⋯ streaming` line already."""


class JsonLines(Lines):
    """One JSON object per line: `journal.public`, the form `calls --json` prints too."""

    def show(self, entry: Entry) -> None:
        sys.stdout.write(public_line(entry))
        sys.stdout.flush()


class LiveLines(Lines):
    """In a terminal: streams in progress stay at the bottom with their running time (rich Live),
    and each becomes its call line above them when it ends."""

    def __init__(self, console: Console = out) -> None:
        super().__init__()
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
        self._track(entry)
        if entry.kind == "stream":
            self.live.refresh()
            return
        # Printing redraws the live region as last rendered, so an ended stream's line would show beside
        # its call line until the next refresh. Refresh first, and send both in one write to the terminal.
        with self.live.console:
            self.live.refresh()
            self.live.console.print(call_line(entry))

    def finish(self) -> None:
        """The streams still in progress stay on the screen as they were last drawn, with their running
        time, rather than vanish with the live region."""
        now = time.time()
        left = [call_line(entry, now) for entry in self.streaming.values()]
        self.streaming.clear()
        self.live.stop()  # the live region goes; the lines take its place
        for line in left:
            self.live.console.print(line)
