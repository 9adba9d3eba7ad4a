"""How one journal record is shown in a terminal: by `run`, `tail` and `calls`."""

from __future__ import annotations

import time

from rich.text import Text

from proxy_addon.journal import Entry

#: What marks a stream that has started and not ended yet.
STREAMING = "⋯ streaming"

_OUTCOME_STYLES = {"completed": "green", "error": "red", "cut": "red", "aborted": "yellow"}


def status_style(status: int) -> str:
    if status < 300:
        return "green"
    if status < 400:
        return "cyan"
    if status == 429:
        return "magenta"
    if status < 500:
        return "yellow"
    return "red"


def duration(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def call_line(entry: Entry, now: float | None = None) -> Text:
    """One line per record.

    A call: `12:00:01  200  POST /v1/chat/completions  chat.completions  gpt-4o  3 ms  "Hi" → "Hello"`;
    a streamed one adds its chunk count and how it ended (`12 chunks completed`). A stream
    still running shows `⋯ streaming` (for `now` given, with the time it has run so far).
    A notice: `12:00:00  ●  openai-fake started on http://127.0.0.1:8080; profile default`.
    """
    line = Text()
    line.append(time.strftime("%H:%M:%S", time.localtime(entry.time)), style="dim")
    if entry.kind == "notice":
        line.append("  ●  ", style="bold red" if entry.error else "bold cyan")
        line.append(entry.note or "", style="bold")
        if entry.error:
            line.append(f"  {entry.error}", style="red")
        return line
    line.append("  ")
    line.append(str(entry.status), style=f"bold {status_style(entry.status)}")
    line.append(f"  {entry.method} {entry.path}")
    if entry.rule:
        line.append(f"  {entry.rule}", style="magenta")
    if entry.model:
        line.append(f"  {entry.model}", style="blue")
    if entry.kind == "stream":
        line.append(f"  {STREAMING}", style="bold yellow")
        if now is not None:
            line.append(f" {duration(max(0.0, now - entry.time) * 1000 + entry.duration_ms)}", style="yellow")
    else:
        line.append(f"  {duration(entry.duration_ms)}", style="dim")
    if entry.outcome is not None:
        line.append(f"  {entry.chunks} chunk{'s' if entry.chunks != 1 else ''} ", style="dim")
        line.append(entry.outcome, style=_OUTCOME_STYLES.get(entry.outcome, ""))
    if entry.prompt or entry.answer:
        line.append(f'  "{entry.prompt}"' if entry.prompt else "  -")
        if entry.answer:
            line.append(" → ", style="dim")
            line.append(f'"{entry.answer}"', style="green")
    if entry.error and entry.outcome != "aborted":
        line.append(f"  {entry.error[:200]}", style=status_style(entry.status))
    if entry.face == "base-url":
        line.append("  (base-url)", style="dim")
    return line
