"""The CLI's exit codes, in one place (the table a user reads is docs/reference/exit-codes.md).

The rule: 2 when what was typed is wrong, and running the same command again can never work (an unknown
option, a bad value, an unknown or broken profile, an unusable state file); 1 when the command was right
but failed at run time (a port in use, no fake running, the fake unreachable, the trust store refusing).
2 is click's own code for its usage errors, so a misspelled option and a misspelled profile exit alike.

Ctrl-C that ends a command meant to run until stopped (`run`, `tail --follow`) is its normal end: 0, as
uvicorn and `python -m http.server` do. Ctrl-C that cuts short any other command is 130 (128 + SIGINT),
as shells report it, and as typer does. `exec` exits with its command's code, whatever it is (so a
command killed by Ctrl-C gives 130 too); exec's own failures come before the command starts.
"""

from __future__ import annotations

#: Done.
OK = 0
#: The command was right, but failed at run time: a port in use, no fake running for the conf directory,
#: another `run` already serving it, the fake unreachable, the system trust store refusing a change.
FAILED = 1
#: What was typed is wrong: an unknown option or a bad value (click's usage errors), an unknown profile,
#: a broken profile file (syntax error, unknown knob or route name, bad value), an unusable --state FILE.
USAGE = 2
#: `exec`: the command was found but cannot run (not executable, a directory, a bad `#!` line), as shells say.
CANNOT_EXECUTE = 126
#: `exec`: no such command on PATH, or no such file.
NOT_FOUND = 127
#: Ctrl-C cut a command short (128 + SIGINT).
INTERRUPTED = 130
