"""How one call is shown in a terminal."""

from __future__ import annotations

import time

from rich.text import Text

from proxy_addon.journal import Entry


def status_style(status: int) -> str:
    if status < 300:
        return "green"
    if status < 400:
        return "cyan"
    if status == 429 or status < 500:
        return "yellow"
    return "red"


def call_line(entry: Entry) -> Text:
    """`12:00:01  200  POST /v1/chat/completions  chat.completions  gpt-4o  3 ms`."""
    line = Text()
    line.append(time.strftime("%H:%M:%S", time.localtime(entry.time)), style="dim")
    line.append("  ")
    line.append(str(entry.status), style=f"bold {status_style(entry.status)}")
    line.append(f"  {entry.method} {entry.path}")
    if entry.rule:
        line.append(f"  {entry.rule}", style="magenta")
    if entry.model:
        line.append(f"  {entry.model}", style="blue")
    line.append(f"  {entry.duration_ms:.0f} ms", style="dim")
    if entry.face == "base-url":
        line.append("  (base-url)", style="dim")
    if entry.error:
        line.append(f"  {entry.error[:100]}", style=status_style(entry.status))
    return line
