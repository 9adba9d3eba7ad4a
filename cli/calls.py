"""How one journal record is shown in a terminal: by `run`, `tail` and `calls`."""

from __future__ import annotations

import time

from rich.text import Text

from proxy_addon.journal import Entry

#: What marks a stream that has started and not ended yet.
STREAMING = "⋯ streaming"

_OUTCOME_STYLES = {"completed": "green", "error": "red", "cut": "red", "aborted": "yellow", "stopped": "yellow"}


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
    A call forwarded in record mode adds where it went and the file it was recorded in
    (`⇄ https://api.openai.com  recorded chat.completions.create-f8a67c-01.json`), or why it was not.
    A notice: `12:00:00  ●  openai-fake started on http://127.0.0.1:8080; profile default`.
    A webhook delivery the fake sent:
    `12:00:02  ↗ 500  webhook batch.completed batch_abc → http://127.0.0.1:8123/hook  attempt 1  3 ms  retrying in 0.1 s`.
    """
    line = Text()
    line.append(time.strftime("%H:%M:%S", time.localtime(entry.time)), style="dim")
    if entry.kind == "notice":
        line.append("  ●  ", style="bold red" if entry.error else "bold cyan")
        line.append(entry.note or "", style="bold")
        if entry.error:
            line.append(f"  {entry.error}", style="red")
        return line
    if entry.kind == "webhook":
        return _webhook_line(line, entry)
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
    if entry.upstream:  # record mode: forwarded, and recorded or not
        line.append(f"  ⇄ {entry.upstream}", style="yellow")
        if entry.recorded:
            line.append(f"  recorded {entry.recorded}", style="bold yellow")
        elif entry.kind == "call":
            line.append(f"  {entry.note or 'not recorded'}", style="red")
    if entry.face == "base-url":
        line.append("  (base-url)", style="dim")
    return line


def _webhook_line(line: Text, entry: Entry) -> Text:
    """The rest of a webhook delivery's line: what went where, which attempt, and how it went."""
    delivered = entry.outcome == "delivered"
    line.append("  ↗ ", style="bold cyan")
    line.append(str(entry.status) if entry.status else "---", style=f"bold {status_style(entry.status or 599)}")
    line.append(f"  webhook {entry.event or '?'}", style="magenta")
    if entry.note:
        line.append(f" {entry.note}", style="blue")
    line.append(f" → {entry.path}")
    line.append(f"  attempt {entry.attempt}", style="dim")
    line.append(f"  {duration(entry.duration_ms)}", style="dim")
    line.append(f"  {entry.outcome}", style="green" if delivered else "red" if entry.outcome == "gave up" else "yellow")
    if entry.error and entry.status == 0:  # a status says it already
        line.append(f"  {entry.error[:200]}", style="red")
    return line
