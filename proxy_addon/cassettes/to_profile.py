"""A recording as a profile module a person can read and edit (`openai-fake record to-profile DIR`).

One handler per route, answering that route's recorded answers in the order they were recorded, then
the last one again; the answers are literals in the module (JSON and text bodies, stream chunks), or,
for binary bodies, the recording's side files, read when answered. The handlers run first
(`handler_first=True`): what was recorded is the answer, whatever the route would have done.
"""

from __future__ import annotations

import os
import pprint
from pathlib import Path
from typing import Any

from ..engine.wire import Reply
from ..summaries import prompt_of, shorten
from . import store
from .replay import stream_reply

__all__ = ["to_profile", "recorded"]

_NO_JSON = object()


def recorded(status: int, *, headers: dict | None = None, json: Any = _NO_JSON, text: str | None = None,
             file: Path | str | None = None, chunks: list[tuple[float, str]] | None = None) -> Reply:
    """A recorded answer as a whole `Reply`, made afresh for each call (profiles made by `to_profile` use it).

    json / text / file: the body (a file is read now); chunks: a stream's `(seconds since the response
    began, event text)`, replayed chunk by chunk at the recorded pace.
    """
    headers = dict(headers or {})
    if chunks is not None:
        return stream_reply(status, headers, [(at, data.encode()) for at, data in chunks])
    if json is not _NO_JSON:
        return Reply.json(status, json, headers)
    if file is not None:
        return Reply(status, Path(file).read_bytes(), headers)
    return Reply(status, (text or "").encode(), headers)


def _argument(name: str, value: Any, column: int) -> str:
    """`name=<value>` as Python source, its continuation lines aligned under the value's start."""
    start = column + len(name) + 1
    text = pprint.pformat(value, width=max(40, 110 - start), sort_dicts=False)
    return f"{name}=" + text.replace("\n", "\n" + " " * start)


def _answer_source(exchange: store.Exchange, column: int) -> str:
    """One recorded answer as the keyword arguments of `recorded`, in a `dict(...)`, one per line."""
    response = exchange.response
    inner = column + len("dict(")
    args = [f"status={response['status']}"]
    if response.get("headers"):
        args.append(_argument("headers", response["headers"], inner))
    if "chunks" in response:
        args.append(_argument("chunks", [(c["at"], c["data"]) for c in response["chunks"]], inner))
    elif "json" in response:
        args.append(_argument("json", response["json"], inner))
    elif "text" in response:
        args.append(_argument("text", response["text"], inner))
    elif "raw" in response:
        args.append(f"file=RECORDING / {response['raw']['file']!r}")
    return "dict(" + (",\n" + " " * inner).join(args) + ")"


def _about(exchange: store.Exchange) -> str:
    request = exchange.request
    body = request.get("json") if isinstance(request.get("json"), dict) else {}
    said = shorten(prompt_of(body)) if body else None
    line = f"{exchange.name}: {request['method']} {request['path']}"
    if isinstance(body.get("model"), str):
        line += f" {body['model']}"
    return line + (f", {said!r}" if said else "") + (" (a stream)" if "chunks" in exchange.response else "")


def to_profile(directory: Path | str, at: Path | str | None = None, contents: "store.Contents | None" = None) -> str:
    """The Python source of a profile module that answers what the recording in `directory` recorded.

    at: where the module will be written, so that it finds the recording's side files relative to
        itself; without it, by the recording's absolute path.
    contents: the recording, when the caller has read it already (`store.read(directory)`).
    """
    directory = Path(directory).resolve()
    if contents is None:
        contents = store.read(directory)
    by_route: dict[str, list[store.Exchange]] = {}
    left_out: list[str] = []
    for exchange in contents.exchanges:
        if exchange.response is None:
            left_out.append(f"{exchange.name}: a Realtime session (an event log; replay it with --replay)")
        elif exchange.route is None:
            left_out.append(f"{exchange.name}: {exchange.request['method']} {exchange.request['path']} is no route of the API")
        elif "chunks" in exchange.response and any("data" not in c for c in exchange.response["chunks"]):
            left_out.append(f"{exchange.name}: a stream of bytes that are not text")
        else:
            by_route.setdefault(exchange.route, []).append(exchange)
    if at is not None:
        where = Path(os.path.relpath(directory, Path(at).resolve().parent)).as_posix()
        recording = f"Path(__file__).parent / {where!r}"
    else:
        recording = f"Path({directory.as_posix()!r})"

    out = [
        f'"""A profile made from the recording in {directory.name}/ (openai-fake record to-profile).',
        "",
        "Each handler answers its route's recorded answers in the order they were recorded, then the last",
        "one again. Edit the answers, or swap a handler for knobs: it is an ordinary profile.",
        '"""',
        "",
        "from pathlib import Path",
        "",
        "from openai_fake import Profile",
        "from openai_fake.cassettes import recorded",
        "",
        "#: The recording, for the bodies kept as files.",
        f"RECORDING = {recording}",
        "",
        "# Requests are not checked: the recorded answers are the answers.",
        "profile = Profile(validate_requests=False)",
    ]
    if left_out:
        out += ["", "# Left out:"] + [f"# - {why}" for why in left_out]
    for route, exchanges in by_route.items():
        constant = route.upper().replace(".", "_")
        function = route.replace(".", "_")
        out += ["", "", f"{constant} = ["]
        for exchange in exchanges:
            out.append(f"    # {_about(exchange)}")
            out.append(f"    {_answer_source(exchange, 4)},")
        out += [
            "]",
            "",
            "",
            f"def {function}(request, state):",
            f'    """{route}: the recorded answers in order, then the last one again."""',
            f"    n = state.call_count({route!r})",
            f"    return recorded(**{constant}[min(n, len({constant})) - 1])",
            "",
            "",
            f"profile.{route}(handler={function}, handler_first=True)",
        ]
    return "\n".join(out) + "\n"
