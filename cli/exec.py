"""`openai-fake exec -- CMD ...`: run a command with its OpenAI traffic going to a private fake."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path
from typing import Annotated, Mapping

import typer

from proxy_addon.profile import ProfileError
from proxy_addon.runner import Runner, StartupError

from . import exit_codes, options, replaying
from .console import err, fail
from .help import examples

#: What the child gets instead of a real key: the real API refuses it, so a client that escapes
#: the fake (an HTTP stack the proxy and the Node preload do not reach) cannot spend anything.
DUMMY_KEY = "sk-openai-fake-dummy-key"
#: Variables holding keys the real API would accept. (Org and project ids spend nothing;
#: Azure keys go to Azure hosts, which the fake does not serve, so they are left alone.)
KEY_VARIABLES = ("OPENAI_API_KEY", "OPENAI_ADMIN_KEY")

KeepKey = Annotated[bool, typer.Option(
    "--keep-key", help="Pass an inherited OPENAI_API_KEY and OPENAI_ADMIN_KEY through instead of a fake key "
                       "(implied by --record, whose upstream needs the real key).")]


def fake_keys(inherited: Mapping[str, str], keep: bool = False) -> tuple[dict[str, str], list[str]]:
    """The key variables to set, and the names of inherited keys they replace.

    OPENAI_API_KEY is always set (to the fake key unless `keep` and one is inherited);
    OPENAI_ADMIN_KEY only replaces an inherited one. A key that already is fake is kept."""
    keys: dict[str, str] = {}
    replaced: list[str] = []
    for name in KEY_VARIABLES:
        value = inherited.get(name)
        if value and (keep or value.startswith("sk-openai-fake")):
            continue
        if value:
            replaced.append(name)
        if value or name == "OPENAI_API_KEY":
            keys[name] = DUMMY_KEY
    return keys, replaced


EXAMPLES = examples(
    "openai-fake exec -- python app.py                 # the default profile",
    "openai-fake exec --profile flaky -- pytest -x     # 429s and 500s to retry",
    "openai-fake exec --base-url -- node app.mjs       # OPENAI_BASE_URL set too",
    "openai-fake exec --record rec -- python app.py    # the real API, recorded",
)


def exec_(
    command: Annotated[list[str], typer.Argument(
        metavar="COMMAND...", show_default=False,
        help="The command to run and its arguments, after `--` (so that its own options stay its own).")],
    profile: options.Profile = "default",
    base_url: options.BaseUrl = False,
    confdir: options.Confdir = None,
    keep_key: KeepKey = False,
    replay: replaying.ReplayDir = None,
    replay_speed: replaying.ReplaySpeed = 1.0,
    on_miss: replaying.OnMissOption = replaying.OnMiss.error,
    replay_ids: replaying.ReplayIdsOption = None,
    record: options.Record = None,
    upstream: options.Upstream = None,
    record_uploads: options.RecordUploads = None,
) -> None:
    """Start a fake of its own on a free port, run COMMAND pointed at it, and exit with COMMAND's exit code.

    The fake stops when COMMAND ends; a one-line summary of its calls goes to stderr. Ctrl-C goes to COMMAND, which decides (a command it kills exits 130).

    With --record DIR, COMMAND's OpenAI calls go to --upstream (the real API by default) and are recorded into DIR; COMMAND keeps your OPENAI_API_KEY then (--keep-key is implied: the real API needs the real key), and the recording has it redacted.
    """
    record = options.check_record(record, upstream, replay, on_miss.value, record_uploads)
    replayed = replaying.load(replay, replay_speed, on_miss, replay_ids)
    keep_key = keep_key or record is not None or on_miss.value == "record"  # the upstream needs the real key
    try:
        runner = Runner(profile, port=0, confdir=options.confdir_or_default(confdir), replay=replayed, record=record,
                        upstream=upstream, record_uploads=(record_uploads or options.Uploads.keep).value)
        runner.start()
    except ProfileError as e:
        fail(f"profile: {e}", exit_codes.USAGE)
    except StartupError as e:
        fail(str(e))
    if replayed is not None:
        err.print(f"openai-fake: replaying {replayed.describe()}", style="dim", markup=False, soft_wrap=True)
    env = {**os.environ, **runner.env(base_url=base_url, inherited=os.environ)}
    keys, replaced = fake_keys(os.environ, keep_key)
    env.update(keys)
    if runner.record is not None:
        which = "COMMAND's OpenAI calls" if runner.record.all_calls else "COMMAND's OpenAI calls the recording does not answer"
        err.print(f"[yellow]warning:[/] record mode: {which}, with its key, are forwarded to "
                  f"{runner.record.upstream.url} and recorded (keys redacted) into {runner.record.directory}.",
                  soft_wrap=True)
    if replaced:
        err.print(f"[dim]openai-fake: {' and '.join(replaced)} replaced by a fake key for the command "
                  "(--keep-key passes yours through)[/]")
    try:
        child = subprocess.Popen(command, env=env)
    except OSError as e:
        runner.stop()
        fail(*cannot_start(command[0], e))
    try:
        code = _wait(child)
    finally:
        runner.stop()
        err.print(runner.journal.summary(), markup=False, soft_wrap=True)
    raise typer.Exit(code)


def _wait(child: subprocess.Popen) -> int:
    while True:
        try:
            code = child.wait()
            break
        except KeyboardInterrupt:  # the child got the same Ctrl-C; let it decide
            continue
    return 128 - code if code < 0 else code  # killed by signal N -> 128+N, as shells report


#: The interpreter to suggest for a script that cannot run by itself, by its suffix.
_INTERPRETERS = {".py": "python", ".js": "node", ".mjs": "node", ".cjs": "node", ".ts": "npx tsx", ".sh": "sh",
                 ".bash": "bash", ".rb": "ruby"}


def cannot_start(program: str, error: OSError) -> tuple[str, int]:
    """Why `program` could not be started (the OS says only "No such file" or "Permission denied", even
    when the file exists and its `#!` line is wrong), and the exit code a shell would give."""
    path = Path(program) if os.sep in program or (os.altsep and os.altsep in program) else None
    if path is None:
        found = shutil.which(program)
        if found is None:
            here = f"; there is ./{program} in this directory: run it as ./{program}" if Path(program).exists() else ""
            return f"command not found: {program} (no such program on PATH{here})", exit_codes.NOT_FOUND
        path = Path(found)
    interpreter = _INTERPRETERS.get(path.suffix)
    through = f"`openai-fake exec -- {interpreter} {program}`" if interpreter else "its interpreter"
    if path.is_dir():
        return f"cannot execute {program}: it is a directory", exit_codes.CANNOT_EXECUTE
    if not path.exists():
        what = "a symbolic link to a file that does not exist" if path.is_symlink() else "no such file"
        return f"cannot execute {program}: {what}", exit_codes.NOT_FOUND
    if not os.access(path, os.X_OK):
        return (f"cannot execute {program}: it is not executable; make it so (chmod +x {program}), or run it "
                f"through {through}", exit_codes.CANNOT_EXECUTE)
    first = _first_line(path)
    if first.startswith(b"#!"):
        line = first[2:].decode(errors="replace")
        if line.endswith("\r"):
            return (f"cannot execute {program}: its #! line ends with a Windows line ending (CR), which the system "
                    "takes as part of the interpreter's name; convert the file to LF line endings (dos2unix)",
                    exit_codes.CANNOT_EXECUTE)
        named = line.split()[0] if line.split() else ""
        if isinstance(error, (FileNotFoundError, PermissionError)):
            why = "does not exist" if not Path(named).exists() else "cannot be run"
            return (f"cannot execute {program}: its #! line names the interpreter {named or '(none)'}, which {why}; "
                    f"fix that line, or run it through {through}", exit_codes.CANNOT_EXECUTE)
    elif error.errno == errno.ENOEXEC:
        return (f"cannot execute {program}: it is neither a program this system runs nor a script with a #! line; "
                f"add one (such as #!/usr/bin/env python3), or run it through {through}", exit_codes.CANNOT_EXECUTE)
    return f"cannot execute {program}: {error.strerror or error}", exit_codes.CANNOT_EXECUTE


def _first_line(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.readline(512).rstrip(b"\n")
    except OSError:
        return b""
