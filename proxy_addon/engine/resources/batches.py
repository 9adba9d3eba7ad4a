"""Batches that run: `POST /v1/batches` over an uploaded JSONL file, each line answered by the engine
itself for the batch's endpoint, with the active profile, into an output file and an error file.

Statuses, on the one lifecycle (`engine/lifecycle.py`): `validating` → `in_progress` (the input file is
checked: JSONL, `POST` lines to the batch's endpoint, unique `custom_id`s, one model, at most `max_lines`
lines and `max_bytes` bytes; a problem fails the batch with the API's `errors.data`) → `finalizing` (the
lines are answered: all at once, or `lines_per_step` per step) → `completed` (the output and error files
are written). `cancel` goes through `cancelling` to `cancelled` with the lines answered so far; a batch not
done when its 24 h window has passed on the fake's clock (`time_scale`) is `expired`, with the lines it
had answered and the rest as `batch_expired` errors.

A line the profile fails (its `failures`, a handler's `OpenAIError`, a 4xx for a bad body) goes to the
error file with its status and error body, as the API writes it; the others go to the output file.
"""

from __future__ import annotations

import secrets
import time
from typing import Annotated, Any, Literal

from annotated_types import MinLen

from .. import knobs, lifecycle, pages, params, stores, table, validation
from ..bodies import check
from ...codec import from_json, to_json
from ..errors import OpenAIError
from ..wire import Reply, Request
from .. import sdk
from . import files

RULE = "batches"
KNOBS = {**lifecycle.KNOBS, "lines_per_step": knobs.Count, "max_lines": knobs.Count, "max_bytes": knobs.Count,
         # the statuses a batch goes through after `validating`, one per step (a repeat holds one)
         "sequence": Annotated[list[Literal["in_progress", "finalizing", "completed", "failed", "expired"]], MinLen(1)]}

COLLECTION = stores.BATCHES.path
PENDING = stores.BATCH_PENDING  # {"id", "steps", "changed_at", "started_at", "lines": [...], "answered": [...]}
MAX_LINES = 50_000  # the API's limits for one batch
MAX_BYTES = 200 * 1024 * 1024
_WINDOW = 24 * 3600
_TERMINAL = {"completed", "failed", "expired", "cancelled"}
_CREATE = next(row for row in table.ROWS if row.name == "batches.create")

DOCS = {
    **lifecycle.DOCS,
    "time_scale": knobs.Doc("`1` (real time)", "How much faster than real time the batch's clock runs, for its 24 h "
                            "`completion_window` and every `*_at` timestamp, e.g. `43200`: the window closes after 2 s "
                            "(a batch still running is then `expired`), and the timestamps say it took hours."),
    "fail_at": knobs.Doc("none: the batch completes",
                         'The step at which the batch fails instead (`status: "failed"`, `errors.data[0].code: '
                         '"batch_failed"`): one of its `sequence`, `"in_progress"` (the file check), `"finalizing"` or '
                         '`"completed"`, or `"cancelled"` (a cancelling batch).'),
    "fail_message": knobs.Doc('`"The batch failed."`', "The `message` of that `batch_failed` error."),
    "lines_per_step": knobs.Doc("every line in one step", "How many lines each `finalizing` step answers, so that a "
                                "poller sees `request_counts` grow, e.g. `10`; `0` is all of them."),
    "max_lines": knobs.Doc(f"`{MAX_LINES}`, the API's", "The most lines an input file may have; more fail the batch at "
                           "its file check with `too_many_tasks`."),
    "max_bytes": knobs.Doc(f"`{MAX_BYTES}` (200 MB), the API's", "The largest input file, in bytes; a larger one fails "
                           "the batch at its file check with `file_too_large`."),
    "sequence": knobs.Doc('`["in_progress", "finalizing", "completed"]`',
                          "The statuses the batch goes through after `validating`, one a step; a repeat holds a status "
                          'for another poll (`["in_progress"] * 3 + ["completed"]`), and `"failed"` or `"expired"` end it '
                          "so. A status left out still does its work: the file is checked, the lines answered."),
}


def not_found(batch_id: str) -> OpenAIError:
    return OpenAIError(404, f"No batch found with id '{batch_id}'.", param="batch_id")


def create(call) -> Any:
    """POST /v1/batches: a batch in `validating`; its input file is checked when it starts."""
    body = params.json_body(call.request)
    if call.profile.validate_requests:
        validation.validate(_CREATE, body)
        params.metadata(body.get("metadata"))
    now = int(time.time())
    custom = call.custom()
    if custom is not None and not isinstance(custom, dict):
        raise call.unfit(custom)
    batch = {
        # str(): with `validate_requests=False` an odd body is let through, and its batch fails when it starts
        "id": call.state.new_id("batch_"), "object": "batch", "endpoint": str(body.get("endpoint")), "errors": None,
        "input_file_id": str(body.get("input_file_id")), "completion_window": str(body.get("completion_window", "24h")),
        "status": "validating", "output_file_id": None, "error_file_id": None, "created_at": now,
        "in_progress_at": None, "expires_at": now + _WINDOW, "finalizing_at": None, "completed_at": None,
        "failed_at": None, "expired_at": None, "cancelling_at": None, "cancelled_at": None,
        "request_counts": {"total": 0, "completed": 0, "failed": 0},
        "metadata": body.get("metadata") if isinstance(body.get("metadata"), dict) and all(isinstance(v, str) for v in body["metadata"].values()) else None,
        "model": None, "usage": None,
    }
    batch.update(custom or {})
    check(sdk.Batch, batch, call.where)
    record = lifecycle.start({"id": batch["id"], "lines": [], "answered": [], "auth": call.request.headers.get("authorization", "")},
                             call.knob("sequence") or ["in_progress", "finalizing", "completed"])
    with call.state.lock:
        call.state.put(COLLECTION, batch)
        if batch["status"] not in _TERMINAL:
            call.state.put(PENDING, record)
    return Reply.json(200, batch)


def _load(call) -> dict:
    batch_id = call.request.params["batch_id"]
    batch = call.state.get(COLLECTION, batch_id)
    if batch is None:
        raise not_found(batch_id)
    return batch


def retrieve(call) -> Any:
    """GET /v1/batches/{batch_id}: the batch, moved on by this read (or by the time passed)."""
    with call.state.lock:
        batch = _load(call)
        return Reply.json(200, catch_up(call, batch, polled=True))


def list_batches(call) -> Any:
    """GET /v1/batches: newest first; every batch listed moves on as a read of it would."""
    with call.state.lock:
        for record in call.state.all(PENDING):
            batch = call.state.get(COLLECTION, record["id"])
            if batch is not None:
                catch_up(call, batch, polled=True)
        return pages.page(call, COLLECTION)


def cancel(call) -> Any:
    """POST /v1/batches/{batch_id}/cancel: `cancelling`, then `cancelled` at the next step, with the
    lines answered so far in its output."""
    with call.state.lock:
        batch = catch_up(call, _load(call), polled=False)
        if batch["status"] in _TERMINAL or batch["status"] == "cancelling":
            raise OpenAIError(409, f"Cannot cancel a batch with status '{batch['status']}'.", code="batch_not_cancellable")
        record = call.state.get(PENDING, batch["id"])
        batch = dict(batch, status="cancelling", cancelling_at=lifecycle.fake_time(call, record))
        call.state.put(COLLECTION, batch)
        call.state.put(PENDING, {**record, "steps": ["cancelled"], "changed_at": time.time()})
        return Reply.json(200, batch)


# -- progress ------------------------------------------------------------------------------


def catch_up(call, batch: dict, polled: bool) -> dict:
    """The batch after the steps that have come due (by this read, or by time), stored. Call under the lock."""
    record = call.state.get(PENDING, batch["id"])
    if record is None:
        return batch
    for step in lifecycle.due(call, record, polled):
        if _past_window(call, batch, record):
            break  # a step due after the window has closed does not happen
        batch = _apply(call, batch, record, step)
        if batch["status"] in _TERMINAL:
            break
    if batch["status"] not in _TERMINAL and _past_window(call, batch, record):
        batch = _end(call, batch, record, "expired")
    call.state.put(COLLECTION, batch)
    if batch["status"] in _TERMINAL:
        call.state.delete(PENDING, batch["id"])
        lifecycle.emit(call, f"batch.{batch['status']}", batch["id"])
    else:
        call.state.put(PENDING, record)
    return batch


def _past_window(call, batch: dict, record: dict) -> bool:
    return batch["status"] != "cancelling" and lifecycle.fake_time(call, record) >= batch["expires_at"]


def _apply(call, batch: dict, record: dict, step: str) -> dict:
    at = lifecycle.fake_time(call, record)
    if step == batch["status"] and step != "finalizing":
        return batch  # a `sequence` that holds a status for another poll
    if step in ("finalizing", "completed", "expired") and batch["status"] == "validating":
        batch = _apply(call, batch, record, "in_progress")  # a `sequence` that skips a step still checks the file
        if batch["status"] == "failed":
            return batch
    if step == "expired":
        return _end(call, batch, record, "expired")
    if step == "failed":
        return _failed(call, batch, record, [{"code": "batch_failed", "line": None, "param": None,
                                              "message": lifecycle.fail_message(call, "The batch failed.")}])
    if step == "in_progress":
        problems = _read_input(call, batch, record)
        if problems:
            return _failed(call, batch, record, problems)
        counts = {"total": len(record["lines"]), "completed": 0, "failed": 0}
        return dict(batch, status="in_progress", in_progress_at=at, request_counts=counts, model=record.get("model"))
    if step == "finalizing":
        _answer(call, batch, record)
        if len(record["answered"]) < len(record["lines"]):
            record["steps"].insert(0, "finalizing")  # more lines to answer at the next step
            return dict(batch, request_counts=_counts(record))
        return dict(batch, status="finalizing", finalizing_at=at, request_counts=_counts(record))
    if step == "completed":
        _answer(call, batch, record)  # any lines a profile's `sequence` skipped past
    if step in ("completed", "cancelled"):
        return _end(call, batch, record, step)
    raise AssertionError(f"unknown batch step {step!r}")


def _failed(call, batch: dict, record: dict, problems: list[dict]) -> dict:
    record["steps"] = []
    return dict(batch, status="failed", failed_at=lifecycle.fake_time(call, record),
                errors={"object": "list", "data": problems[:100]})


def _end(call, batch: dict, record: dict, status: str) -> dict:
    """A batch's last step: its files written from the lines answered (and, expired or cancelled, the rest
    as errors), its counts and usage summed."""
    record["steps"] = []
    outputs, failures = [], []
    for line, (status_code, request_id, payload) in zip(record["lines"], record["answered"]):
        out = {"id": "batch_req_" + secrets.token_hex(12), "custom_id": line["custom_id"],
               "response": {"status_code": status_code, "request_id": request_id, "body": payload}, "error": None}
        (outputs if status_code < 400 else failures).append(out)
    if status in ("expired", "cancelled"):
        code, message = (("batch_expired", "This request could not be executed before the completion window expired.")
                         if status == "expired" else ("batch_cancelled", "This request was cancelled before it was executed."))
        for line in record["lines"][len(record["answered"]):]:
            failures.append({"id": "batch_req_" + secrets.token_hex(12), "custom_id": line["custom_id"], "response": None,
                             "error": {"code": code, "message": message}})
    changes: dict[str, Any] = {"status": status, f"{status}_at": lifecycle.fake_time(call, record),
                               "request_counts": {"total": len(record["lines"]), "completed": len(outputs), "failed": len(failures)}}
    if outputs:
        changes["output_file_id"] = _file(call, batch, "output", outputs)
    if failures:
        changes["error_file_id"] = _file(call, batch, "error", failures)
    changes["usage"] = _usage(record)
    return dict(batch, **changes)


def _file(call, batch: dict, which: str, lines: list[dict]) -> str:
    content = b"".join(to_json(line) + b"\n" for line in lines)
    return files.store(call.state, filename=f"{batch['id']}_{which}.jsonl", purpose="batch_output", content=content,
                       where=call.where)["id"]


def _counts(record: dict) -> dict:
    failed = sum(1 for status, _, _ in record["answered"] if status >= 400)
    return {"total": len(record["lines"]), "completed": len(record["answered"]) - failed, "failed": failed}


def _usage(record: dict) -> dict:
    """The batch's token usage, summed over the answered lines (chat's and completions' names, or the Responses')."""
    total = {"input": 0, "output": 0, "cached": 0, "reasoning": 0}
    for status, _, payload in record["answered"]:
        usage = payload.get("usage") if status < 400 and isinstance(payload, dict) else None
        if not isinstance(usage, dict):
            continue
        total["input"] += usage.get("input_tokens", usage.get("prompt_tokens")) or 0
        total["output"] += usage.get("output_tokens", usage.get("completion_tokens")) or 0
        details = usage.get("input_tokens_details") or usage.get("prompt_tokens_details") or {}
        total["cached"] += details.get("cached_tokens") or 0
        details = usage.get("output_tokens_details") or usage.get("completion_tokens_details") or {}
        total["reasoning"] += details.get("reasoning_tokens") or 0
    return {"input_tokens": total["input"], "output_tokens": total["output"], "total_tokens": total["input"] + total["output"],
            "input_tokens_details": {"cached_tokens": total["cached"]},
            "output_tokens_details": {"reasoning_tokens": total["reasoning"]}}


# -- the input file and its lines ------------------------------------------------------------


def _problem(code: str, message: str, line: int | None = None, param: str | None = None) -> dict:
    return {"code": code, "message": message, "line": line, "param": param}


def _read_input(call, batch: dict, record: dict) -> list[dict]:
    """Check the input file as the API does; on success its lines are the record's. The problems found, else []."""
    file = call.state.get(files.COLLECTION, batch["input_file_id"])
    if file is None:
        return [_problem("invalid_file", f"The input file {batch['input_file_id']!r} could not be found.", param="input_file_id")]
    if file["purpose"] != "batch":
        return [_problem("invalid_file", f"The input file must have purpose 'batch', not {file['purpose']!r}.", param="input_file_id")]
    content = call.state.blob(file["id"]) or b""
    if len(content) > call.knob("max_bytes", MAX_BYTES):
        return [_problem("file_too_large", f"The input file is larger than the {call.knob('max_bytes', MAX_BYTES)} bytes a batch takes.",
                         param="input_file_id")]
    raw = [line for line in content.split(b"\n")]
    problems: list[dict] = []
    lines: list[dict] = []
    seen: set[str] = set()
    model = None
    for number, text in enumerate(raw, 1):
        if not text.strip():
            continue
        try:
            line = from_json(text)
        except ValueError:
            line = None
        if not isinstance(line, dict):
            problems.append(_problem("invalid_json_line", "This line is not parseable as valid JSON.", number))
            continue
        custom_id = line.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            problems.append(_problem("missing_custom_id", "Each line must have a 'custom_id' string.", number, "custom_id"))
        elif custom_id in seen:
            problems.append(_problem("duplicate_custom_id", f"The custom_id for this request is a duplicate of another request: {custom_id!r}.",
                                     number, "custom_id"))
        else:
            seen.add(custom_id)
        if line.get("method") != "POST":
            problems.append(_problem("invalid_method", "The method of each line must be 'POST'.", number, "method"))
        if line.get("url") != batch["endpoint"]:
            problems.append(_problem("url_mismatch", f"The provided URL {line.get('url')!r} does not match the batch endpoint "
                                                     f"{batch['endpoint']!r}.", number, "url"))
        body = line.get("body")
        if not isinstance(body, dict):
            problems.append(_problem("invalid_body", "Each line must have a 'body' object.", number, "body"))
        elif isinstance(body.get("model"), str):
            if model is None:
                model = body["model"]
            elif body["model"] != model:
                problems.append(_problem("model_mismatch", f"All requests in a batch must use the same model: this one uses "
                                                           f"{body['model']!r}, an earlier one {model!r}.", number, "body.model"))
        lines.append({"custom_id": custom_id, "body": body if isinstance(body, dict) else {}, "line": number})
    if not lines and not problems:
        return [_problem("empty_file", "The input file is empty. Please provide a file with at least one request.")]
    most = call.knob("max_lines", MAX_LINES)
    if len(lines) > most:
        problems.append(_problem("too_many_tasks", f"The batch has {len(lines)} requests; a batch takes at most {most}."))
    if problems:
        return problems
    record["lines"], record["model"] = lines, model
    return []


def _answer(call, batch: dict, record: dict) -> None:
    """Answer the next lines (all, or `lines_per_step`) through the engine, with the active profile."""
    start = len(record["answered"])
    step = call.knob("lines_per_step") or len(record["lines"])
    headers = {"content-type": "application/json", "authorization": record.get("auth") or "Bearer sk-batch"}
    for line in record["lines"][start:start + step]:
        if line["body"].get("stream"):
            error = OpenAIError(400, "Streaming is not supported in the Batch API.", param="stream")
            record["answered"].append((400, "req_" + secrets.token_hex(16), error.payload()))
            continue
        reply = call.engine.handle(Request("POST", batch["endpoint"], headers, to_json(line["body"])))
        payload = reply.payload if reply.payload is not None else _decoded(reply.body)
        record["answered"].append((reply.status, reply.headers.get("x-request-id", ""), payload))


def _decoded(body: bytes) -> Any:
    try:
        return from_json(body) if body else None
    except ValueError:
        return body.decode("utf-8", "replace")


lifecycle.register_collection("batches", store=PENDING, collection=COLLECTION, route="batches.retrieve",
                              path=lambda record: f"/v1/batches/{record['id']}", catch_up=catch_up)


#: The SDK methods this module serves (their method and path are the route table's), and how.
HANDLES = {
    "batches.create": create,
    "batches.retrieve": retrieve,
    "batches.list": list_batches,
    "batches.cancel": cancel,
}
