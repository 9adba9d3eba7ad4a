"""One console owns the CLI's output: results on stdout, diagnostics on stderr.

Both soft-wrap: rich never breaks a line it prints (a path would be split mid-name, or cut with `…`); a
terminal wraps long lines for the eye, and a copy or a pipe gets them whole. Tables lay out by width.
"""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.text import Text

from . import exit_codes

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = exit_codes.FAILED) -> NoReturn:
    """An expected failure: one line on stderr (never wrapped by rich, whatever the width, so that paths
    stay whole; taken as plain text, not markup), then exit with `code` (see `exit_codes`)."""
    err.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    raise typer.Exit(code)
