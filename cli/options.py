"""Options shared by several commands, declared once."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

Profile = Annotated[str, typer.Option(
    "--profile", "-p", metavar="NAME|FILE",
    help="A shipped profile's name (`openai-fake profiles` lists them), a profile .py file, or a dotted module.")]
Confdir = Annotated[Optional[Path], typer.Option(
    "--confdir", metavar="DIR", file_okay=False, show_default="$OPENAI_FAKE_CONFDIR, else ~/.openai-fake",
    help="Directory of the fake's CA, its journal and the running fake's address.")]
BaseUrl = Annotated[bool, typer.Option(
    "--base-url", help="Also set OPENAI_BASE_URL (and OPENAI_API_BASE) to the plain-HTTP base-URL face.")]
Record = Annotated[Optional[Path], typer.Option(
    "--record", metavar="DIR", file_okay=False,
    help="Record mode: forward every OpenAI call to --upstream (the real API: traffic and keys leave this "
         "machine) and write each exchange, keys redacted, into DIR.")]
class Uploads(str, Enum):
    """What a recording keeps of an upload (`proxy_addon.recording.UPLOADS`)."""

    keep = "keep"
    hash = "hash"


RecordUploads = Annotated[Optional[Uploads], typer.Option(
    "--record-uploads", metavar="keep|hash", case_sensitive=False, show_default="keep",
    help="What a recording keeps of an upload: its bytes ('keep', as a side file), or 'hash': its sha256 and "
         "size alone, which is enough to match it on replay.")]
Upstream = Annotated[Optional[str], typer.Option(
    "--upstream", metavar="URL", show_default="https://api.openai.com",
    help="Where --record (and --on-miss record) forwards: the real API, Azure OpenAI, a gateway, or a local server.")]


def confdir_or_default(confdir: Path | None) -> Path:
    from proxy_addon.trust import default_confdir

    return confdir.expanduser() if confdir else default_confdir()


def check_record(record: Path | None, upstream: str | None, replay: Path | None = None,
                 on_miss: str = "error", uploads: "Uploads | None" = None) -> Path | None:
    """Refuse, as a usage error, --record with --replay, an --upstream with neither --record nor --on-miss
    record, one that is not an http(s) URL, or a --record directory that cannot be made; the directory, `~`
    expanded (made now, if need be)."""
    from proxy_addon.recording import Upstream, UpstreamError

    from . import exit_codes
    from .console import fail

    if record is not None and replay is not None:
        fail("--record and --replay: give one (a recording is made, or answered from, not both at once; "
             "--replay DIR --on-miss record records what DIR does not answer)", exit_codes.USAGE)
    if on_miss == "record" and replay is None:
        fail("--on-miss record is what a --replay miss gets: give --replay DIR too", exit_codes.USAGE)
    if uploads is not None and record is None and on_miss != "record":
        fail("--record-uploads says what --record (or --on-miss record) keeps: give --record DIR too", exit_codes.USAGE)
    if upstream is not None and record is None and on_miss != "record":
        fail("--upstream is where --record (or --on-miss record) forwards: give --record DIR too", exit_codes.USAGE)
    if upstream is not None:
        try:
            Upstream.parse(upstream)
        except UpstreamError as e:
            fail(str(e), exit_codes.USAGE)
    if record is None:
        return None
    try:
        record.expanduser().mkdir(parents=True, exist_ok=True)
    except OSError as e:
        fail(f"--record {record}: cannot make that directory: {e.strerror or e}", exit_codes.USAGE)
    return record.expanduser()
