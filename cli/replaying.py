"""The replay options `run` and `exec` share (`--replay DIR`, `--replay-speed X`, `--on-miss`), declared once."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import exit_codes
from .console import fail


class OnMiss(str, Enum):
    """What a request the recording does not answer gets (`proxy_addon.replaying.ON_MISS`)."""

    error = "error"
    profile = "profile"
    record = "record"


ReplayDir = Annotated[Optional[Path], typer.Option(
    "--replay", metavar="DIR", file_okay=False,
    help="Answer from the recording in DIR before the profile.")]
ReplaySpeed = Annotated[float, typer.Option(
    "--replay-speed", metavar="X", min=0,
    help="Replay recorded latency and stream gaps X times faster (2: twice as fast; 0: at once).")]
OnMissOption = Annotated[OnMiss, typer.Option(
    "--on-miss", metavar="error|profile|record", case_sensitive=False,
    help="A request nothing recorded answers: 'error', the API's 404 naming the nearest recorded request; "
         "'profile', the profile's answer; 'record', forwarded to --upstream (the real API: traffic and keys "
         "leave this machine) and added to the recording.")]


def load(directory: Path | None, speed: float, on_miss: OnMiss):
    """The `Replay` the options ask for (None without --replay); a DIR with no recording is a usage error (exit 2)."""
    if directory is None:
        return None
    from proxy_addon.replaying import Replay, ReplayError

    try:
        return Replay.load(directory, on_miss=on_miss.value, speed=speed)
    except ReplayError as e:
        fail(f"--replay: {e}", exit_codes.USAGE)
