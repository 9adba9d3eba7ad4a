"""A recording as a profile module a person can read and edit (`openai-fake record to-profile DIR`).

One handler per route. Each recorded answer carries the short hash of the request it answered (`match`,
the hash in its file name: `matching.document` of the request, as replay compares them); a call gets the
answers recorded for a request like its own, in recorded order, then the last one again, and a request
nothing recorded (or one a person edited the profile for) gets the route's answers of its kind (a stream for a
stream) in recorded order. The
answers are literals in the module (JSON and text bodies, stream chunks), or, for binary bodies, the
recording's side files, read when answered. The handlers run first (`handler_first=True`): what was recorded
is the answer, whatever the route would have done.
"""

from __future__ import annotations

import os
import pprint
from pathlib import Path
from typing import Any

from ..engine.wire import Reply, Request
from ..summaries import prompt_of, shorten
from . import matching, store
from .replay import stream_reply

__all__ = ["to_profile", "recorded", "recorded_for", "request_hash"]

_NO_JSON = object()


def request_hash(request: Request, route: str) -> str:
    """The short hash a recording names `request` by (its file names' `-xxxxxx-`): what replay compares."""
    described, _ = store.describe_request(request)
    return matching.short_hash(matching.document(described, None, route))


def recorded_for(answers: list[dict], request: Request, state, route: str) -> Reply:
    """The answer of `answers` (`recorded`'s keyword arguments, each with its `match`) for this call: the ones
    recorded for a request like it, in order, then the last one again; else the route's of the same kind (a
    stream for `"stream": true`), in recorded order."""
    digest = request_hash(request, route)
    same = [answer for answer in answers if answer.get("match") == digest]
    if same:
        n = state.count_call(f"recorded {route} {digest}")  # this request's own count (reset with the state)
    else:  # the route's answers of the same kind (a stream for a stream), in order, counted apart
        try:
            streams = isinstance(request.json, dict) and request.json.get("stream") is True
        except ValueError:
            streams = False
        same = [answer for answer in answers if ("chunks" in answer) == streams] or answers
        n = state.count_call(f"recorded {route} unmatched {streams}")
    return recorded(**same[min(n, len(same)) - 1])


def recorded(status: int, *, headers: dict | None = None, json: Any = _NO_JSON, text: str | None = None,
             file: Path | str | None = None, chunks: list[tuple[float, str]] | None = None,
             match: str | None = None) -> Reply:
    """A recorded answer as a whole `Reply`, made afresh for each call (profiles made by `to_profile` use it).

    json / text / file: the body (a file is read now); chunks: a stream's `(seconds since the response
    began, event text)`, replayed chunk by chunk at the recorded pace; match: the short hash of the request
    it was recorded for (`recorded_for` picks by it).
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
    args = [f"match={exchange.name.rsplit('-', 2)[-2]!r}", f"status={response['status']}"]
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
        "Each handler answers a call with the answers recorded for a request like it (`match`), in the order",
        "they were recorded, then the last one again; a request nothing recorded gets the route's answers in",
        "recorded order. Edit the answers, or swap a handler for knobs: it is an ordinary profile.",
        '"""',
        "",
        "from pathlib import Path",
        "",
        "from openai_fake import Profile",
        "from openai_fake.cassettes import recorded_for",
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
            f'    """{route}: the answers recorded for this request, in order, then the last one again."""',
            f"    return recorded_for({constant}, request, state, {route!r})",
            "",
            "",
            f"profile.{route}(handler={function}, handler_first=True)",
        ]
    return "\n".join(out) + "\n"
