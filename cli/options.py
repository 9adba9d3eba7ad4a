"""Options shared by several commands, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

Profile = Annotated[str, typer.Option("--profile", "-p", help="Shipped profile name, .py file or dotted module.")]
Confdir = Annotated[
    Optional[Path],
    typer.Option("--confdir", help="Directory for the CA and run files [default: $OPENAI_FAKE_CONFDIR or ~/.openai-fake]."),
]
BaseUrl = Annotated[bool, typer.Option("--base-url", help="Also set OPENAI_BASE_URL to the plain-HTTP face.")]


def confdir_or_default(confdir: Path | None) -> Path:
    from proxy_addon.trust import default_confdir

    return confdir.expanduser() if confdir else default_confdir()
