"""`openai-fake calls`, `reset`, `use` and `state`: steer the running fake through its control endpoints."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional

import typer

from proxy_addon.journal import Entry, Filter, public_line

from . import exit_codes, options, running
from .calls import call_line
from .console import err, fail, out
from .help import examples

def _ask(confdir: Path | None, method: str, path: str, query: dict | None = None, body: dict | None = None) -> Any:
    """The running fake's answer to a control request; exits with a message when it fails."""
    info = running.find(options.confdir_or_default(confdir))
    url = info["proxy_url"] + path
    if query:
        url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
    data = json.dumps(body).encode() if body is not None else None
    token = info.get("control_token")
    if not isinstance(token, str) or not token:
        fail(f"the run file of the fake at {info['proxy_url']} has no control token: it was started by an older "
             "openai-fake; restart it")
    request = urllib.request.Request(url, data=data, method=method, headers={
        "content-type": "application/json", "authorization": f"Bearer {token}"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # straight to the fake, never via a proxy
    try:
        with opener.open(request, timeout=30) as reply:
            return json.loads(reply.read())
    except urllib.error.HTTPError as e:
        _refused(e.code, e.read())
    except (urllib.error.URLError, OSError) as e:
        fail(f"cannot reach the fake at {info['proxy_url']}: {getattr(e, 'reason', e)}")


#: The fake's error codes that mean what was typed is wrong: an unknown or a broken profile (as in `run`).
_USAGE_ERRORS = {"profile_not_found", "profile_error"}


def _refused(status: int, body: bytes) -> NoReturn:
    """The fake's error message, as given; exit 2 for an unknown or broken profile (as `run` does), else 1."""
    try:
        error = json.loads(body)["error"]
        message, code = error["message"], error.get("code")
    except (ValueError, KeyError, TypeError):
        message, code = body.decode(errors="replace").strip() or f"HTTP {status}", None
    fail(message, exit_codes.USAGE if code in _USAGE_ERRORS else exit_codes.FAILED)


RESET_EXAMPLES = examples(
    "openai-fake reset           # state and call counts",
    "openai-fake reset --calls   # the list of calls too",
)
USE_EXAMPLES = examples(
    "openai-fake use flaky",
    "openai-fake use ./my_profile.py --keep-state",
)
STATE_EXAMPLES = examples(
    "openai-fake state | jq '.collections.assistants'",
)


def calls(
    json_: Annotated[bool, typer.Option("--json", help="One JSON object per line, the same as `tail --json` prints, for scripts.")] = False,
    path: Annotated[Optional[str], typer.Option(help="Only calls whose path contains this.")] = None,
    status: Annotated[
        Optional[list[str]], typer.Option(help="Only these statuses: 2xx, 4xx, 5xx or a code such as 429 (repeatable, or comma-separated).")
    ] = None,
    model: Annotated[Optional[str], typer.Option(help="Only calls for this model: its exact id, or a pattern such as 'gpt-4o*'.")] = None,
    limit: Annotated[Optional[int], typer.Option("--limit", "-n", min=0, metavar="N", help="Only the last N calls.")] = None,
    confdir: options.Confdir = None,
) -> None:
    """List the calls the running fake has answered, oldest first."""
    try:
        Filter(path, status or (), model)  # a bad status is a usage error here, as in `tail`
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--status") from None
    query = {"path": path, "status": ",".join(status) if status else None, "model": model, "limit": limit}
    found = [Entry.from_dict(item) for item in _ask(confdir, "GET", "/_fake/calls", query)["data"]]
    for entry in found:
        if json_:
            sys.stdout.write(public_line(entry))
        else:
            out.print(call_line(entry), soft_wrap=True)
    sys.stdout.flush()
    if not found and not json_:
        err.print("no calls")


def reset(
    calls_too: Annotated[bool, typer.Option("--calls", help="Also forget the list of calls.")] = False,
    confdir: options.Confdir = None,
) -> None:
    """Forget the running fake's state and call counts (the profile's preloads are stored again)."""
    _ask(confdir, "POST", "/_fake/reset", body={"calls": calls_too})
    out.print("state and call counts reset" + (", calls cleared" if calls_too else ""))


def use(
    profile: Annotated[str, typer.Argument(
        metavar="NAME|FILE", show_default=False,
        help="A shipped profile's name (`openai-fake profiles` lists them), a profile .py file, or a dotted module.")],
    keep_state: Annotated[bool, typer.Option("--keep-state", help="Keep the state instead of starting afresh.")] = False,
    confdir: options.Confdir = None,
) -> None:
    """Make the running fake answer with another profile; saving its file reloads it."""
    if profile.endswith(".py") or "/" in profile or "\\" in profile:
        profile = str(Path(profile).expanduser().absolute())  # the fake may run in another directory
    active = _ask(confdir, "POST", "/_fake/profile", body={"profile": profile, "keep_state": keep_state})
    out.print(f"profile: {active['name']} ({active['source']})" + ("" if keep_state else "; state reset"), markup=False)


def state(confdir: options.Confdir = None) -> None:
    """Print everything the running fake stores, its call counts and its metrics (those of /_fake/metrics), as JSON."""
    typer.echo(json.dumps(_ask(confdir, "GET", "/_fake/state"), indent=2))
