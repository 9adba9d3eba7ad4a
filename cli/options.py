"""Options shared by several commands, declared once."""

from __future__ import annotations

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


def confdir_or_default(confdir: Path | None) -> Path:
    from proxy_addon.trust import default_confdir

    return confdir.expanduser() if confdir else default_confdir()
