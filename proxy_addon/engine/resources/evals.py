"""Evals that grade: `POST /v1/evals` (a data source config and testing criteria, checked as the API checks
them) and its runs, which read their data source, have the fake's own engine make the samples, grade every
item with every criterion (`resources/graders.py`) and keep an output item per item.

A run's statuses, on the one lifecycle (`engine/lifecycle.py`): `queued` → `in_progress` (the data source is
read: `file_content` items, an uploaded JSONL file of `{"item": {...}, "sample": {...}}` lines, or the
fake's stored chat completions or responses; a file that is missing or not such lines fails the run) →
`completed` (each item sampled, where the data source asks for samples, and graded: all at once, or
`items_per_step` per step). `cancel` makes it `canceled` at once (the API's spelling for eval runs), with
the items graded so far. Samples: a `completions` data source's `input_messages`, rendered per item, are
posted to `/v1/chat/completions` with its `model` and `sampling_params`, a `responses` one's to
`/v1/responses`, through the engine with the active profile, so a handler there answers each item.

An item passes when every criterion passes it; it is `errored` when its sample could not be made or a
model grader's model failed. The webhooks are `eval.run.succeeded`, `eval.run.failed`, `eval.run.canceled`.
Deleting an eval (the generic resource's delete) takes its runs and their output items along.
"""

from __future__ import annotations

import functools
import hashlib
import time
import typing
import uuid
from typing import Any

from .. import errors, knobs, lifecycle, pages, params, stores, tokens
from ...codec import from_json, to_json
from ..bodies import check, merge
from ..errors import OpenAIError
from ..instances import resolve
from ..wire import Reply, Request
from . import files, graders

RULE = "evals"
KNOBS = {**lifecycle.KNOBS, "items_per_step": knobs.Count, **graders.KNOBS}
DOCS = {
    **lifecycle.DOCS,
    "time_scale": lifecycle.UNCLOCKED,
    "fail_at": knobs.Doc("none: the run completes", '`"in_progress"` (where the data source would be read) or '
                         '`"completed"` (where its items would be graded): the run is `failed` there, with `error.code: '
                         '"internal_error"`.'),
    "fail_message": knobs.Doc('`"The eval run failed due to an internal error."`', "The `error.message` of a `fail_at` "
                              "failure."),
    "items_per_step": knobs.Doc("every item in one step", "How many items each `completed` step samples and grades, so "
                                "that a poller sees `in_progress` with partial `result_counts`, e.g. `5`; `0` is all of "
                                "them."),
    **graders.DOCS,
}

EVALS = stores.EVALS.path
PENDING = stores.EVAL_RUN_PENDING
_TERMINAL = {"completed", "failed", "canceled"}
_NO_ERROR = {"code": "", "message": ""}  # the SDK types a run's and a sample's `error` as an object, never null
# What a sample's sampling parameters say when the data source gives none (the API's examples' values).
_SAMPLING_DEFAULTS = {"temperature": 1.0, "top_p": 1.0, "seed": 42, "max_completion_tokens": 2048}
_CONFIGS = {"custom": "openai.types.eval_create_params:DataSourceConfigCustom",
            "logs": "openai.types.eval_create_params:DataSourceConfigLogs",
            "stored_completions": "openai.types.eval_create_params:DataSourceConfigStoredCompletions"}
_DATA_SOURCES = {"jsonl": "openai.types.evals.create_eval_jsonl_run_data_source_param:CreateEvalJSONLRunDataSourceParam",
                 "completions": "openai.types.evals.create_eval_completions_run_data_source_param:CreateEvalCompletionsRunDataSourceParam",
                 "responses": "openai.types.evals.run_create_params:DataSourceCreateEvalResponsesRunDataSource"}
_SOURCES = {"jsonl": ("file_content", "file_id"), "completions": ("file_content", "file_id", "stored_completions"),
            "responses": ("file_content", "file_id", "responses")}
#: The `sample` namespace's schema, as a custom data source config with `include_sample_schema` answers it.
_SAMPLE_SCHEMA = {"type": "object", "properties": {
    "model": {"type": "string"}, "choices": {"type": "array", "items": {"type": "object"}},
    "output_text": {"type": "string"}, "output_json": {"type": "object"},
    "output_tools": {"type": "array", "items": {"type": "object"}}}, "required": ["model", "choices", "output_text"]}


def _runs(eval_id: str) -> str:
    return stores.EVAL_RUNS.key(eval_id=eval_id)


def _output_items(eval_id: str, run_id: str) -> str:
    return stores.EVAL_OUTPUT_ITEMS.key(eval_id=eval_id, run_id=run_id)


def _eval(call, eval_id: str | None = None) -> dict:
    eval_id = eval_id or call.request.params["eval_id"]
    found = call.state.get(EVALS, eval_id)
    if found is None:
        raise errors.no_such("eval", eval_id)
    return found


def _run(call) -> dict:
    eval_id, run_id = call.request.params["eval_id"], call.request.params["run_id"]
    _eval(call, eval_id)
    run = call.state.get(_runs(eval_id), run_id)
    if run is None:
        raise errors.no_such("eval run", run_id)
    return run


def _custom(call) -> dict:
    custom = call.custom()
    if custom is not None and not isinstance(custom, dict):
        raise call.unfit(custom)
    return custom or {}


def _required(body: dict, *names: str) -> None:
    for name in names:
        if body.get(name) is None:
            raise errors.missing_param(name)


# -- evals ----------------------------------------------------------------------------------


def create(call) -> Any:
    """POST /v1/evals: an eval, its data source config answered with the schema of its namespaces and each
    testing criterion with an id (`<name>-<uuid>`, as the API gives them); 201 Created, as the API answers."""
    body = params.json_body(call.request)
    _required(body, "data_source_config", "testing_criteria")
    config = body["data_source_config"]
    if not isinstance(config, dict):
        raise errors.invalid_type("data_source_config", "an object", config)
    kind = params.kind(config, "data_source_config", tuple(_CONFIGS))
    params.conforms(resolve(_CONFIGS[kind]), config, "data_source_config")
    with_sample = kind != "custom" or bool(config.get("include_sample_schema"))
    namespaces = frozenset({"item", "sample"} if with_sample else {"item"})
    criteria = params.array(body["testing_criteria"], "testing_criteria")
    for i, criterion in enumerate(criteria):
        graders.check(criterion, f"testing_criteria[{i}]", graders.IN_EVAL, namespaces)
    name = params.text(body.get("name"), "name")
    metadata = params.metadata(body.get("metadata"))
    eval_id = call.state.new_id("eval_")
    if kind == "custom":
        properties = {"item": config["item_schema"], **({"sample": _SAMPLE_SCHEMA} if with_sample else {})}
        answered = {"type": "custom", "schema": {"type": "object", "properties": properties, "required": list(properties)}}
    else:
        filters = config.get("metadata")  # any values in the request; the answer's Metadata holds strings
        answered = {"type": kind, "metadata": None if filters is None else
                    {k: v if isinstance(v, str) else to_json(v).decode() for k, v in filters.items()},
                    "schema": {"type": "object", "properties": {"item": {"type": "object"}, "sample": {"type": "object"}},
                               "required": ["item", "sample"]}}
    obj = {"object": "eval", "id": eval_id, "name": name if name is not None else eval_id, "data_source_config": answered,
           "testing_criteria": [{**c, "id": f"{c['name']}-{_uuid(eval_id, i, c['name'])}"} for i, c in enumerate(criteria)],
           "created_at": int(time.time()), "metadata": metadata if metadata is not None else {}}
    obj = merge(obj, _custom(call))
    check(resolve("openai.types:EvalCreateResponse"), obj, call.where)
    call.state.put(EVALS, obj)
    return Reply.json(201, obj)  # the description's Created (generic.CREATED names it too)


def _uuid(*parts: Any) -> str:
    """A uuid made from its inputs: the same creates give the same ids."""
    return str(uuid.UUID(bytes=hashlib.blake2b(repr(parts).encode(), digest_size=16).digest()))


def list_evals(call) -> Any:
    """GET /v1/evals: oldest first by default, as the API lists them."""
    order_by = call.request.query.get("order_by") or "created_at"
    if order_by not in ("created_at", "updated_at"):
        raise errors.invalid_value("order_by", f"Invalid value: {order_by!r}. Supported values are: 'created_at' and 'updated_at'.")
    return pages.page(call, EVALS, default_order="asc")


# -- runs -----------------------------------------------------------------------------------


def create_run(call) -> Any:
    """POST /v1/evals/{eval_id}/runs: a `queued` run over its data source; 201 Created, as the API answers."""
    ev = _eval(call)
    body = params.json_body(call.request)
    _required(body, "data_source")
    source = _check_data_source(body["data_source"])
    name = params.text(body.get("name"), "name")
    metadata = params.metadata(body.get("metadata"))
    run_id = call.state.new_id("evalrun_")
    model = source.get("model") if isinstance(source.get("model"), str) else ""
    run = {"object": "eval.run", "id": run_id, "eval_id": ev["id"], "status": "queued", "model": model,
           "name": name if name is not None else (model or source["type"]), "created_at": int(time.time()),
           "report_url": f"https://platform.openai.com/evaluations/{ev['id']}?run_id={run_id}",
           "result_counts": {"total": 0, "errored": 0, "failed": 0, "passed": 0},
           "per_model_usage": [], "per_testing_criteria_results": [], "data_source": source,
           "metadata": metadata if metadata is not None else {}, "error": dict(_NO_ERROR)}
    run = merge(run, _custom(call))
    check(resolve("openai.types.evals:RunCreateResponse"), run, call.where)
    record = lifecycle.start({"id": run_id, "eval_id": ev["id"], "auth": call.request.headers.get("authorization", ""),
                              "items": [], "done": 0, "counts": {"passed": 0, "failed": 0, "errored": 0},
                              "criteria": {}, "usage": {}}, ["in_progress", "completed"])
    with call.state.lock:
        call.state.put(_runs(ev["id"]), run)
        if run["status"] not in _TERMINAL:
            call.state.put(PENDING, record)
    return Reply.json(201, run)


def _check_data_source(source: Any) -> dict:
    """A run's data source as the API checks it: its type's fields, its source's type, and what sampling needs."""
    if not isinstance(source, dict):
        raise errors.invalid_type("data_source", "an object", source)
    kind = params.kind(source, "data_source", tuple(_DATA_SOURCES))
    inner = source.get("source")
    if inner is None:
        raise errors.missing_param("data_source.source")
    if not isinstance(inner, dict):
        raise errors.invalid_type("data_source.source", "an object", inner)
    params.conforms(_source_type(kind, params.kind(inner, "data_source.source", _SOURCES[kind])), inner, "data_source.source")
    params.conforms(resolve(_DATA_SOURCES[kind]), source, "data_source")
    if kind == "jsonl":
        return source
    messages = source.get("input_messages")
    if messages is None and inner["type"] in ("file_content", "file_id"):
        raise errors.missing_param("data_source.input_messages")  # nothing to sample from
    if messages is not None and not source.get("model"):
        raise errors.missing_param("data_source.model")
    if messages is not None and messages.get("type") == "item_reference" and not messages["item_reference"].startswith("item."):
        raise errors.invalid_value("data_source.input_messages.item_reference",
                                   "Invalid 'data_source.input_messages.item_reference': expected a reference to the item "
                                   f"namespace (item.<field>), got {messages['item_reference']!r}.")
    if messages is not None and messages.get("type") == "template":  # only the item is there when samples are made
        graders.check_templates(graders.message_texts(messages["template"], "data_source.input_messages.template"), frozenset({"item"}))
    return source


@functools.lru_cache(maxsize=None)
def _source_type(kind: str, source: str) -> Any:
    """The SDK's params type of a data source's `source` of this type (so that its errors name its own fields)."""
    union = typing.get_type_hints(resolve(_DATA_SOURCES[kind]))["source"]
    return next(member for member in typing.get_args(union) if source in typing.get_args(typing.get_type_hints(member)["type"]))


def retrieve_run(call) -> Any:
    """GET /v1/evals/{eval_id}/runs/{run_id}: the run, moved on by this read (or by the time passed)."""
    with call.state.lock:
        return Reply.json(200, catch_up(call, _run(call), polled=True))


def list_runs(call) -> Any:
    """GET /v1/evals/{eval_id}/runs: oldest first by default, `status` filtered; each run listed moves on as a
    read of it would."""
    ev = _eval(call)
    status = call.request.query.get("status") or None
    allowed = ("queued", "in_progress", "completed", "canceled", "failed")
    if status is not None and status not in allowed:
        raise errors.invalid_value("status", f"Invalid value: {status!r}. Supported values are: "
                                             f"{', '.join(repr(s) for s in allowed)}.")
    with call.state.lock:
        for run in call.state.all(_runs(ev["id"])):
            if call.state.get(PENDING, run["id"]) is not None:
                catch_up(call, run, polled=True)
        return pages.page(call, _runs(ev["id"]), default_order="asc",
                          where=(lambda r: r["status"] == status) if status else None)


def cancel_run(call) -> Any:
    """POST /v1/evals/{eval_id}/runs/{run_id}/cancel: `canceled` at once, with the items graded so far."""
    with call.state.lock:
        run = catch_up(call, _run(call), polled=False)
        if run["status"] in _TERMINAL:
            raise OpenAIError(409, f"Cannot cancel an eval run with status '{run['status']}'.", code="run_not_cancellable")
        run = dict(run, status="canceled")
        call.state.put(_runs(run["eval_id"]), run)
        call.state.delete(PENDING, run["id"])
        lifecycle.emit(call, "eval.run.canceled", run["id"])
        return Reply.json(200, run)


def delete_run(call) -> Any:
    """DELETE /v1/evals/{eval_id}/runs/{run_id}: the run and its output items."""
    with call.state.lock:
        run = _run(call)
        call.state.delete_tree(_runs(run["eval_id"]), run["id"])
        call.state.delete(PENDING, run["id"])
    return Reply.json(200, {"object": "eval.run.deleted", "deleted": True, "run_id": run["id"]})


def list_output_items(call) -> Any:
    """GET .../runs/{run_id}/output_items: oldest first by default, `status` `pass` or `fail`."""
    status = call.request.query.get("status") or None
    if status is not None and status not in ("pass", "fail"):
        raise errors.invalid_value("status", f"Invalid value: {status!r}. Supported values are: 'pass' and 'fail'.")
    with call.state.lock:
        run = catch_up(call, _run(call), polled=False)
        return pages.page(call, _output_items(run["eval_id"], run["id"]), default_order="asc",
                          where=(lambda o: o["status"] == status) if status else None)


def retrieve_output_item(call) -> Any:
    """GET .../runs/{run_id}/output_items/{output_item_id}."""
    with call.state.lock:
        run = _run(call)
        item_id = call.request.params["output_item_id"]
        found = call.state.get(_output_items(run["eval_id"], run["id"]), item_id)
        if found is None:
            raise errors.no_such("output item", item_id)
        return Reply.json(200, found)


# -- progress -------------------------------------------------------------------------------


class _Failed(Exception):
    """A run's data source could not be read: the run fails with this error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.error = {"code": code, "message": message}


def catch_up(call, run: dict, polled: bool) -> dict:
    """The run after the steps that have come due (by this read, or by time), stored. Call under the lock."""
    record = call.state.get(PENDING, run["id"])
    if record is None:
        return run
    ev = call.state.get(EVALS, run["eval_id"])
    if ev is None:  # its eval was deleted meanwhile
        call.state.delete(PENDING, run["id"])
        return run
    for step in lifecycle.due(call, record, polled):
        run = _apply(call, ev, run, record, step)
        if run["status"] in _TERMINAL:
            break
    call.state.put(_runs(run["eval_id"]), run)
    if run["status"] in _TERMINAL:
        call.state.delete(PENDING, run["id"])
        lifecycle.emit(call, {"completed": "eval.run.succeeded", "failed": "eval.run.failed"}.get(run["status"], "eval.run.canceled"),
                       run["id"])
    else:
        call.state.put(PENDING, record)
    return run


def _apply(call, ev: dict, run: dict, record: dict, step: str) -> dict:
    if step == "failed":
        record["steps"] = []
        return dict(run, status="failed", error={"code": "internal_error",
                                                 "message": lifecycle.fail_message(call, "The eval run failed due to an internal error.")})
    if step == "in_progress":
        try:
            record["items"] = _read_items(call, run["data_source"])
        except _Failed as e:
            record["steps"] = []
            return dict(run, status="failed", error=e.error)
        return dict(run, status="in_progress")
    if step == "completed":
        _grade_next(call, ev, run, record)
        run = _summed(dict(run), ev, record)
        if record["done"] < len(record["items"]):
            record["steps"].insert(0, "completed")  # more items to grade at the next step
            return dict(run, status="in_progress")
        return dict(run, status="completed")
    raise AssertionError(f"unknown eval run step {step!r}")


def _summed(run: dict, ev: dict, record: dict) -> dict:
    counts = record["counts"]
    run["result_counts"] = {"total": record["done"], "errored": counts["errored"], "failed": counts["failed"], "passed": counts["passed"]}
    run["per_testing_criteria_results"] = [
        {"testing_criteria": c["id"], "passed": record["criteria"].get(c["id"], [0, 0])[0],
         "failed": record["criteria"].get(c["id"], [0, 0])[1]} for c in ev["testing_criteria"]]
    run["per_model_usage"] = [{"model_name": model, **usage} for model, usage in record["usage"].items()]
    return run


# -- the data source ------------------------------------------------------------------------


def _read_items(call, source: dict) -> list[dict]:
    """The data source's items, each `{"item": {...}, "sample": {...} or None}`."""
    inner = source["source"]
    kind = inner["type"]
    if kind == "file_content":
        return [{"item": entry["item"], "sample": entry.get("sample")} for entry in inner["content"]]
    if kind == "file_id":
        return _file_items(call, inner["id"])
    if kind == "stored_completions":
        return _stored_completions(call, inner)
    return _stored_responses(call, inner)


def _file_items(call, file_id: str) -> list[dict]:
    file = call.state.get(files.COLLECTION, file_id)
    if file is None:
        raise _Failed("file_not_found", f"The data source file {file_id!r} could not be found.")
    items = []
    for number, line in enumerate((call.state.blob(file_id) or b"").split(b"\n"), 1):
        if not line.strip():
            continue
        try:
            entry = from_json(line)
        except ValueError:
            entry = None
        if not isinstance(entry, dict) or not isinstance(entry.get("item"), dict):
            raise _Failed("invalid_file", f"Line {number} of file {file_id!r} is not a JSON object with an 'item' object.")
        sample = entry.get("sample")
        items.append({"item": entry["item"], "sample": sample if isinstance(sample, dict) else None})
    return items


def _in_window(obj: dict, query: dict) -> bool:
    created = obj.get("created_at") or 0
    return (query.get("created_after") is None or created >= query["created_after"]) and \
        (query.get("created_before") is None or created <= query["created_before"]) and \
        (not query.get("model") or obj.get("model") == query["model"]) and \
        all((obj.get("metadata") or {}).get(k) == v for k, v in (query.get("metadata") or {}).items())


def _stored_completions(call, query: dict) -> list[dict]:
    """The fake's stored chat completions (`store: true`) as items: their messages the item's `input`, their
    answer the sample."""
    found = [c for c in call.state.all(stores.CHAT_COMPLETIONS.path) if _in_window(c, query)]
    if query.get("limit"):
        found = found[-query["limit"]:]
    items = []
    for completion in found:
        messages = call.state.all(stores.CHAT_MESSAGES.key(completion_id=completion["id"]))
        message = (completion.get("choices") or [{}])[0].get("message") or {}
        items.append({"item": {"id": completion["id"], "model": completion.get("model"), "metadata": completion.get("metadata"),
                               "input": [{"role": m.get("role"), "content": m.get("content") or ""} for m in messages]},
                      "sample": graders.sample_namespace(message.get("content") or "", choices=completion.get("choices"),
                                                         tools=message.get("tool_calls"), model=completion.get("model"))})
    return items


def _stored_responses(call, query: dict) -> list[dict]:
    """The fake's stored responses as items: their input the item's `input`, their output text the sample."""
    search = (query.get("instructions_search") or "").lower()
    items = []
    for response in call.state.all(stores.RESPONSES.path):
        if not _in_window(response, query) or search not in str(response.get("instructions") or "").lower():
            continue
        inputs = [{"role": i.get("role"), "content": _text(i.get("content"))} for i in call.state.input_items(response["id"])
                  if i.get("type", "message") == "message"]
        items.append({"item": {"id": response["id"], "model": response.get("model"), "instructions": response.get("instructions"),
                               "metadata": response.get("metadata"), "input": inputs},
                      "sample": graders.sample_namespace(_response_text(response), model=response.get("model"))})
    return items


def _text(content: Any) -> str:
    if isinstance(content, dict):
        return str(content.get("text") or "")
    return tokens.text_of(content)


def _response_text(response: dict) -> str:
    return "".join(part.get("text", "") for out in response.get("output") or () if out.get("type") == "message"
                   for part in out.get("content") or () if part.get("type") == "output_text")


# -- sampling and grading -------------------------------------------------------------------


def _grade_next(call, ev: dict, run: dict, record: dict) -> None:
    """Sample and grade the next items (all, or `items_per_step`), each into an output item."""
    judge = graders.Judge(call, auth=record.get("auth") or None)
    step = call.knob("items_per_step") or len(record["items"])
    collection = _output_items(run["eval_id"], run["id"])
    for index in range(record["done"], min(record["done"] + step, len(record["items"]))):
        entry = record["items"][index]
        out = _graded(call, ev, run, record, judge, index, entry)
        call.state.put(collection, out)
        record["done"] = index + 1


def _graded(call, ev: dict, run: dict, record: dict, judge: graders.Judge, index: int, entry: dict) -> dict:
    source = run["data_source"]
    item = entry["item"]
    sampling = source.get("sampling_params") or {}
    shown = {k: sampling.get(k) if sampling.get(k) is not None else v for k, v in _SAMPLING_DEFAULTS.items()}
    sample_ns, sample, error = entry.get("sample") or {}, None, None
    if source["type"] != "jsonl" and source.get("input_messages") is not None:
        sample_ns, sample, error = _sampled(call, source, item, record)
    if sample is None:  # the item's own sample (jsonl, stored completions or responses), or none
        text = str(sample_ns.get("output_text") or "")
        sample = {"input": [], "output": [{"role": "assistant", "content": text}] if text else [], "finish_reason": "stop" if text else "",
                  "model": str(sample_ns.get("model") or ""), "usage": _usage({}), "error": dict(_NO_ERROR)}
    sample.update(shown)
    results: list[dict] = []
    status = "error" if error else "pass"
    if not error:
        namespaces = {"item": item, "sample": sample_ns}
        for criterion in ev["testing_criteria"]:
            found = graders.grade(criterion, namespaces, judge)
            for model, counts in found.usage.items():
                _add_usage(record, model, counts)
            result = {"name": criterion["id"], "type": criterion["type"], "score": found.score, "passed": found.passed,
                      "sample": found.sample}
            tally = record["criteria"].setdefault(criterion["id"], [0, 0])
            tally[0 if found.passed else 1] += 1
            if found.error and found.error != "invalid_variable_error":  # a missing variable renders as "", as the API does
                result["error"] = {"code": found.error, "message": found.detail or found.error}
                status = "error"
            elif not found.passed and status == "pass":
                status = "fail"
            results.append(result)
    record["counts"][{"pass": "passed", "fail": "failed", "error": "errored"}[status]] += 1
    return {"object": "eval.run.output_item", "id": call.state.new_id("outputitem_"), "run_id": run["id"], "eval_id": run["eval_id"],
            "created_at": int(time.time()), "status": status, "datasource_item_id": index, "datasource_item": item,
            "results": results, "sample": sample}


def _usage(usage: dict) -> dict:
    return {"total_tokens": usage.get("total_tokens", 0), "completion_tokens": usage.get("completion_tokens", 0),
            "prompt_tokens": usage.get("prompt_tokens", 0), "cached_tokens": usage.get("cached_tokens", 0)}


def _add_usage(record: dict, model: str, usage: dict) -> None:
    kept = record["usage"].setdefault(model, {"invocation_count": 0, "prompt_tokens": 0, "completion_tokens": 0,
                                              "total_tokens": 0, "cached_tokens": 0})
    kept["invocation_count"] += 1
    for key in ("prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens"):
        kept[key] += usage.get(key, 0)


def _messages(source: dict, item: dict) -> list[dict]:
    """The data source's `input_messages` for one item: a template rendered against it, or the messages the
    item refers to; each `{"role", "content"}` with text content."""
    spec = source["input_messages"]
    namespaces = {"item": item}
    if spec["type"] == "item_reference":
        found, messages = graders.lookup(spec["item_reference"], namespaces)
        if not found or not isinstance(messages, list):
            raise _Failed("invalid_item_reference", f"The item has no list of messages at {spec['item_reference']!r}.")
        return [{"role": str(m.get("role", "user")), "content": _text(m.get("content"))} for m in messages if isinstance(m, dict)]
    out = []
    for message in spec["template"]:
        content = message.get("content")
        parts = content if isinstance(content, list) else [content]
        text = "".join(graders.render(p if isinstance(p, str) else str(p.get("text") or ""), namespaces)
                       for p in parts if isinstance(p, str) or (isinstance(p, dict) and "text" in p))
        out.append({"role": message["role"], "content": text})
    return out


def _sampled(call, source: dict, item: dict, record: dict) -> tuple[dict, dict | None, dict | None]:
    """One item's sample, made by the engine with the active profile: (the sample namespace, the output
    item's sample, an error or None)."""
    try:
        messages = _messages(source, item)
    except _Failed as e:
        return {}, {"input": [], "output": [], "finish_reason": "", "model": source.get("model") or "", "usage": _usage({}),
                    "error": e.error}, e.error
    sampling = source.get("sampling_params") or {}
    if source["type"] == "completions":
        path, body = "/v1/chat/completions", {"model": source["model"], "messages": messages}
        for key in ("temperature", "top_p", "seed", "max_completion_tokens", "response_format", "tools", "reasoning_effort"):
            if sampling.get(key) is not None:
                body[key] = sampling[key]
    else:
        path, body = "/v1/responses", {"model": source["model"], "input": messages, "store": False}
        for key in ("temperature", "top_p", "text", "tools"):
            if sampling.get(key) is not None:
                body[key] = sampling[key]
        if sampling.get("max_completion_tokens") is not None:
            body["max_output_tokens"] = sampling["max_completion_tokens"]
        if sampling.get("reasoning_effort") is not None:
            body["reasoning"] = {"effort": sampling["reasoning_effort"]}
    headers = {"content-type": "application/json", "authorization": record.get("auth") or "Bearer sk-eval"}
    reply = call.engine.handle(Request("POST", path, headers, to_json(body)))
    payload = reply.payload if reply.payload is not None else _decoded(reply.body)
    sample = {"input": messages, "output": [], "finish_reason": "", "model": source["model"], "usage": _usage({}), "error": dict(_NO_ERROR)}
    if reply.status >= 400 or not isinstance(payload, dict):
        error = (payload.get("error") if isinstance(payload, dict) else None) or {}
        sample["error"] = {"code": str(error.get("code") or reply.status), "message": str(error.get("message") or "The sample could not be made.")}
        return {}, sample, sample["error"]
    if source["type"] == "completions":
        choice = (payload.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        text, finish, tools = message.get("content") or "", choice.get("finish_reason") or "stop", message.get("tool_calls")
        usage = graders._chat_usage(payload.get("usage"))
        namespace = graders.sample_namespace(text, choices=payload.get("choices"), tools=tools, model=payload.get("model"))
    else:
        text = _response_text(payload)
        finish = "stop" if payload.get("status") == "completed" else str(payload.get("status") or "")
        raw = payload.get("usage") or {}
        usage = {"prompt_tokens": raw.get("input_tokens", 0), "completion_tokens": raw.get("output_tokens", 0),
                 "total_tokens": raw.get("total_tokens", 0), "cached_tokens": (raw.get("input_tokens_details") or {}).get("cached_tokens", 0)}
        calls = [o for o in payload.get("output") or () if o.get("type") == "function_call"]
        namespace = graders.sample_namespace(text, tools=calls, model=payload.get("model"))
    model = str(payload.get("model") or source["model"])
    _add_usage(record, model, usage)
    sample.update(output=[{"role": "assistant", "content": text}], finish_reason=finish, model=model, usage=_usage(usage))
    return namespace, sample, None


def _decoded(body: bytes) -> Any:
    try:
        return from_json(body) if body else None
    except ValueError:
        return None


def _tick(call, record: dict) -> None:
    run = call.state.get(_runs(record["eval_id"]), record["id"])
    if run is None:  # deleted, or its eval was
        call.state.delete(PENDING, record["id"])
    else:
        catch_up(call, run, polled=False)


lifecycle.register("evals.runs", lifecycle.Kind(store=PENDING, route="evals.runs.retrieve",
                                                path=lambda record: f"/v1/evals/{record['eval_id']}/runs/{record['id']}",
                                                catch_up=_tick))

#: The SDK methods this module serves (their method and path are the route table's), and how. An eval's
#: retrieve, update and delete stay the generic resource's (its delete takes the runs along).
HANDLES = {
    "evals.create": create,
    "evals.list": list_evals,
    "evals.runs.create": create_run,
    "evals.runs.list": list_runs,
    "evals.runs.retrieve": retrieve_run,
    "evals.runs.delete": delete_run,
    "evals.runs.cancel": cancel_run,
    "evals.runs.output_items.list": list_output_items,
    "evals.runs.output_items.retrieve": retrieve_output_item,
}
