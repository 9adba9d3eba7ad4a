"""`openai-fake record ...`: what to do with a recording (`record to-profile DIR`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from . import exit_codes
from .console import err, fail, out
from .help import Command, Group, examples

app = typer.Typer(cls=Group, help="Work with recordings: directories of recorded exchanges.",
                  no_args_is_help=True, epilog=examples(
                      "openai-fake record to-profile cassettes/chat > chat.py",
                  ))


@app.command("to-profile", cls=Command, epilog=examples(
    "openai-fake record to-profile cassettes/chat             # on stdout",
    "openai-fake record to-profile cassettes/chat -o chat.py  # into a file",
    "openai-fake run --profile chat.py                        # serve it",
))
def to_profile(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="The recording's directory.", show_default=False)],
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", metavar="FILE", dir_okay=False,
        help="Write the module to FILE (its side-file paths relative to it) instead of stdout.")] = None,
) -> None:
    """Write a profile module that answers what the recording in DIR recorded: one handler per route, its
    answers in recorded order, then the last one again. Edit it like any profile."""
    from proxy_addon.replaying import ReplayError, read
    from proxy_addon.cassettes import to_profile as source_of

    try:
        contents = read(directory.expanduser())  # the same check as --replay: a directory holding an exchange
    except ReplayError as e:
        fail(str(e), exit_codes.USAGE)
    if output is not None and not output.expanduser().absolute().parent.is_dir():
        fail(f"--output {output}: the directory {output.expanduser().absolute().parent} does not exist",
             exit_codes.USAGE)
    source = source_of(directory, at=output.expanduser() if output is not None else None, contents=contents)
    if output is None:
        out.file.write(source)
        return
    try:
        output.expanduser().write_text(source)
    except OSError as e:
        fail(f"cannot write {output}: {e.strerror or e}")
    err.print(f"openai-fake: wrote {output}; try it with `openai-fake profiles check {output}`",
              style="dim", markup=False, soft_wrap=True)
