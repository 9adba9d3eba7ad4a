"""The replay options `run` and `exec` share (`--replay DIR`, `--replay-speed X`, `--on-miss`, `--replay-ids`),
declared once."""

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


class ReplayIds(str, Enum):
    """How a replay answers the ids its recording's answers minted (`proxy_addon.replaying.IDS`)."""

    fresh = "fresh"
    recorded = "recorded"


ReplayDir = Annotated[Optional[Path], typer.Option(
    "--replay", metavar="DIR", file_okay=False,
    help="Answer from the recording in DIR before the profile.")]
ReplaySpeed = Annotated[float, typer.Option(
    "--replay-speed", metavar="X", min=0,
    help="Replay recorded latency and stream gaps X times faster (2: twice as fast; 0: at once).")]
OnMissOption = Annotated[OnMiss, typer.Option(
    "--on-miss", metavar="MODE", case_sensitive=False,
    help="A request nothing recorded answers: 'error', the API's 404 naming the nearest recorded request; "
         "'profile', the profile's answer; 'record', forwarded to --upstream (the real API: traffic and keys "
         "leave this machine) and added to the recording.")]


ReplayIdsOption = Annotated[Optional[ReplayIds], typer.Option(
    "--replay-ids", metavar="IDS", case_sensitive=False, show_default="fresh; recorded with --on-miss record",
    help="'fresh': each id the recording's answers minted is answered as a new one, and mapped back when a request "
         "brings it; 'recorded': as recorded.")]


def load(directory: Path | None, speed: float, on_miss: OnMiss, ids: ReplayIds | None = None):
    """The `Replay` the options ask for (None without --replay); a DIR with no recording is a usage error (exit 2)."""
    if directory is None:
        if ids is not None:
            fail("--replay-ids goes with --replay DIR", exit_codes.USAGE)
        return None
    from proxy_addon.replaying import Replay, ReplayError

    try:
        return Replay.load(directory, on_miss=on_miss.value, speed=speed, ids=ids.value if ids is not None else None)
    except ReplayError as e:
        fail(f"--replay: {e}", exit_codes.USAGE)
