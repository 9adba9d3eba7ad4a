"""Fine-tuning jobs that train: `POST /v1/fine_tuning/jobs` over an uploaded JSONL file, through the API's
statuses to a fine-tuned model that `models.list` shows and chat, completions and Responses answer as.

Statuses, on the one lifecycle (`engine/lifecycle.py`): `validating_files` → `queued` (the training and
validation files are checked: they exist, have purpose `fine-tune`, are JSONL in the method's format, the
training file has at least `min_examples` examples; a problem fails the job with the API's `error`) →
`running` ("auto" hyperparameters resolved to numbers) → one step per epoch (its metrics events, and a
checkpoint at its end; the last three are kept, as the API keeps them) → `succeeded` (the result file, a
CSV of every step's metrics, `trained_tokens`, and `fine_tuned_model`). `cancel` ends a job at once from
any status that is not final; `pause` stops a running job (`paused`) and `resume` puts it back in the
queue (`queued`, then `running` at the next step), as the API's own examples answer them.

The fake trains nothing: the losses follow `train_loss` (a curve from the first step to the last),
jittered by the job's seed, so the same job gives the same numbers.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import random
import re
import time
from typing import Annotated, Any

from annotated_types import Gt, MinLen

from .. import errors, knobs, lifecycle, pages, params, stores, table, tokens, validation
from ..bodies import check, merge
from ..errors import OpenAIError
from ..wire import Reply
from ...codec import from_json, to_json
from .. import sdk
from . import files

RULE = "fine_tuning.jobs"
KNOBS = {
    **lifecycle.KNOBS,
    # The training loss from the first step to the last, interpolated between its points.
    "train_loss": Annotated[list[Annotated[float, Gt(0)]], MinLen(1)],
    # The fewest examples a training file may have (the API's 10).
    "min_examples": knobs.Count,
}

COLLECTION = stores.FINE_TUNING_JOBS.path
EVENTS = stores.FINE_TUNING_EVENTS
CHECKPOINTS = stores.FINE_TUNING_CHECKPOINTS
PENDING = stores.FINE_TUNING_PENDING  # {"id", "steps", "changed_at", "started_at", "training": {...}, "epochs_done", ...}

MIN_EXAMPLES = 10
DEFAULT_LOSS = (2.3, 1.3, 0.85, 0.62, 0.5, 0.44, 0.41)
KEPT_CHECKPOINTS = 3  # "only the checkpoints for the last three epochs of the job are saved"
METRICS_PER_EPOCH = 100  # at most this many metrics events an epoch (every step's row is in the result file)
_STEP_SECONDS = 60  # what a lifecycle step stands for on the fake's clock when progress is by polls (estimated_finish)
_TERMINAL = {"succeeded", "failed", "cancelled"}
_CREATE = next(row for row in table.ROWS if row.name == "fine_tuning.jobs.create")

DOCS = {
    **lifecycle.DOCS,
    "progress": knobs.Doc('`"polls"`', '`"polls"`: one step per read of the job (its retrieve, a list, `list_events`, '
                          "`checkpoints.list`); a number: one step every that many seconds, read or not, e.g. `0.5`. "
                          "A paused job does not move."),
    "time_scale": knobs.Doc("`1` (real time)", "How much faster than real time the job's clock runs, for its events', "
                            "checkpoints' and `finished_at` timestamps and its `estimated_finish`."),
    "fail_at": knobs.Doc("none: the job succeeds",
                         'The step at which the job fails instead (`status: "failed"`, `error.code: "server_error"`): '
                         '`"queued"` (the file check), `"running"` (the start), `"epoch N"` (before epoch N: `"epoch 2"` '
                         'fails it after the first, whose checkpoint is kept) or `"succeeded"`.'),
    "fail_message": knobs.Doc('`"The job failed due to an internal server error."`', "The `error.message` of a "
                              "`fail_at` failure."),
    "train_loss": knobs.Doc("`" + str(list(DEFAULT_LOSS)) + "`",
                            "The training loss from the first step to the last, as points interpolated between (each "
                            "> 0), e.g. `[2.0, 1.0, 0.5]`; each step's value is jittered by ±8% from the job's seed, "
                            "and the accuracy follows from the loss."),
    "min_examples": knobs.Doc(f"`{MIN_EXAMPLES}`, the API's", "The fewest examples the training file may have; fewer "
                              "fail the job at its file check with `invalid_training_file`."),
}

#: The models the API fine-tunes, by the name a create may give, to the snapshot the job answers, and the
#: methods each takes.
_SFT, _DPO, _RFT = "supervised", "dpo", "reinforcement"
MODELS: dict[str, tuple[str, tuple[str, ...]]] = {}
for _snapshot, _aliases, _methods in (
    ("gpt-4.1-2025-04-14", ("gpt-4.1",), (_SFT, _DPO)),
    ("gpt-4.1-mini-2025-04-14", ("gpt-4.1-mini",), (_SFT, _DPO)),
    ("gpt-4.1-nano-2025-04-14", ("gpt-4.1-nano",), (_SFT, _DPO)),
    ("gpt-4o-2024-08-06", ("gpt-4o",), (_SFT, _DPO)),
    ("gpt-4o-mini-2024-07-18", ("gpt-4o-mini",), (_SFT, _DPO)),
    ("gpt-3.5-turbo-0125", ("gpt-3.5-turbo",), (_SFT,)),
    ("gpt-3.5-turbo-1106", (), (_SFT,)),
    ("gpt-3.5-turbo-0613", (), (_SFT,)),
    ("davinci-002", (), (_SFT,)),
    ("babbage-002", (), (_SFT,)),
    ("o4-mini-2025-04-16", ("o4-mini",), (_RFT,)),
):
    for _name in (_snapshot, *_aliases):
        MODELS[_name] = (_snapshot, _methods)
_COMPLETION_MODELS = {"davinci-002", "babbage-002"}  # trained on prompt/completion lines, not chat

#: Each method's hyperparameters, with the ranges the API takes (None: no bound); "auto" is always taken.
_RANGES: dict[str, tuple[type, float | None, float | None, bool]] = {  # type, low, high, low exclusive
    "batch_size": (int, 1, 256, False), "n_epochs": (int, 1, 50, False),
    "learning_rate_multiplier": (float, 0, None, True), "beta": (float, 0, 2, True),
    "compute_multiplier": (float, 0.00001, 10, True), "eval_interval": (int, 1, None, False),
    "eval_samples": (int, 1, None, False),
}
_HYPERPARAMETERS = {
    _SFT: ("batch_size", "learning_rate_multiplier", "n_epochs"),
    _DPO: ("batch_size", "beta", "learning_rate_multiplier", "n_epochs"),
    _RFT: ("batch_size", "compute_multiplier", "eval_interval", "eval_samples", "learning_rate_multiplier", "n_epochs",
           "reasoning_effort"),
}
_ROLES = ("system", "developer", "user", "assistant", "tool", "function")


def not_found(job_id: str) -> OpenAIError:
    return OpenAIError(404, f"No fine-tuning job found with id '{job_id}'.", param="fine_tuning_job_id")


def organization() -> str:
    """The organization the fake's replies name (`openai-organization`): the owner of every job and model."""
    from .. import _COMMON_HEADERS  # the engine's package imports this module first

    return _COMMON_HEADERS["openai-organization"]


# -- create ------------------------------------------------------------------------------------


def create(call) -> Any:
    """POST /v1/fine_tuning/jobs: a job in `validating_files`; its files are checked when it starts."""
    body = params.json_body(call.request)
    strict = call.profile.validate_requests
    if strict:
        validation.validate(_CREATE, body)
    model, kind = _model_and_method(call, body, strict)
    method = _method(body, kind, strict)
    suffix = body.get("suffix")
    if strict:
        _check_extras(body)
    custom = call.custom()
    if custom is not None and not isinstance(custom, dict):
        raise call.unfit(custom)
    job_id = call.state.new_id("ftjob-")
    now = int(time.time())
    seed = body.get("seed")
    if type(seed) is not int:  # one is generated, as the API does: from the job's id, so the same job gets the same
        seed = int.from_bytes(hashlib.blake2b(job_id.encode(), digest_size=4).digest()) % 2**31
    job = {
        "id": job_id, "object": "fine_tuning.job", "model": model, "created_at": now, "error": None,
        "fine_tuned_model": None, "finished_at": None, "hyperparameters": _top_level(method),
        "organization_id": organization(), "result_files": [], "seed": seed, "status": "validating_files",
        "trained_tokens": None, "training_file": str(body.get("training_file")),
        "validation_file": body.get("validation_file") if isinstance(body.get("validation_file"), str) else None,
        "estimated_finish": None, "integrations": _integrations(body.get("integrations")),
        "metadata": body.get("metadata") if isinstance(body.get("metadata"), dict) else None, "method": method,
        "user_provided_suffix": suffix if isinstance(suffix, str) else None,
    }
    job = merge(job, custom or {})
    _check(call, job)
    record = lifecycle.start({"id": job_id, "epochs_done": 0, "started": False},
                             _steps_from(job["status"]), now=time.time())
    with call.state.lock:
        call.state.put(COLLECTION, job)
        _event(call, job, record, f"Created fine-tuning job: {job_id}")
        _event(call, job, record, f"Validating training file: {job['training_file']}")
        if job["validation_file"]:
            _event(call, job, record, f"Validating validation file: {job['validation_file']}")
        if job["status"] not in _TERMINAL:
            call.state.put(PENDING, record)
    return Reply.json(200, job)


def _steps_from(status: str) -> list[str]:
    """The steps still to come for a job in `status` (a profile's handler may make a job start anywhere)."""
    after = {"validating_files": ["queued", "running", "succeeded"], "queued": ["running", "succeeded"],
             "running": ["succeeded"], "paused": ["succeeded"]}
    return after.get(status, [])


def _model_and_method(call, body: dict, strict: bool) -> tuple[str, str]:
    """The job's model (a snapshot, as the API answers it) and method type, or the API's 400."""
    method = body.get("method")
    kind = method.get("type") if isinstance(method, dict) else None
    kind = kind if kind in _HYPERPARAMETERS else _SFT
    model = body.get("model")
    if not isinstance(model, str):
        return str(model), kind
    if model.startswith("ft:"):  # continue training a model this fake fine-tuned
        if strict and not any(job.get("fine_tuned_model") == model for job in call.state.all(COLLECTION)):
            raise _unavailable(model)
        return model, kind
    known = MODELS.get(model)
    if known is None:
        if strict:
            raise _unavailable(model)
        return model, kind
    snapshot, methods = known
    if strict and kind not in methods:
        raise OpenAIError(400, f"Model {snapshot} is not available for {kind} fine-tuning. It takes: {', '.join(methods)}.",
                          param="model", code="model_not_available")
    return snapshot, kind


def _unavailable(model: str) -> OpenAIError:
    return OpenAIError(400, f"Model {model} is not available for fine-tuning or does not exist.", param="model",
                       code="model_not_available")


def _method(body: dict, kind: str, strict: bool) -> dict:
    """The job's `method`, as the API answers it: its type, and that type's hyperparameters with "auto" for
    each one not given (the deprecated top-level `hyperparameters` go into a supervised method's)."""
    method = body.get("method") if isinstance(body.get("method"), dict) else {"type": kind}
    config = method.get(kind) if isinstance(method.get(kind), dict) else {}
    given = config.get("hyperparameters") if isinstance(config.get("hyperparameters"), dict) else {}
    legacy = body.get("hyperparameters") if isinstance(body.get("hyperparameters"), dict) else None
    if strict:
        for other in _HYPERPARAMETERS:
            if other != kind and method.get(other) is not None:
                raise errors.invalid_value(f"method.{other}", f"Invalid 'method.{other}': the method's type is '{kind}'; "
                                                              f"give its settings in 'method.{kind}'.")
        if legacy is not None and (kind != _SFT or given):
            raise errors.invalid_value("hyperparameters", "Invalid 'hyperparameters': it is deprecated and cannot be given "
                                                          f"with 'method.{kind}.hyperparameters'; give them there only.")
        for name, value in {**given, **(legacy or {})}.items():
            _in_range(f"hyperparameters.{name}" if legacy and name in legacy else f"method.{kind}.hyperparameters.{name}",
                      name, value)
    if legacy:
        given = legacy
    resolved: dict[str, Any] = {name: "auto" for name in _HYPERPARAMETERS[kind]}
    if kind == _RFT:
        resolved["reasoning_effort"] = "default"
    resolved.update({k: v for k, v in given.items() if k in resolved})
    out: dict[str, Any] = {"type": kind, kind: {"hyperparameters": resolved}}
    if kind == _RFT:
        out[kind]["grader"] = config.get("grader")
    return out


def _in_range(param: str, name: str, value: Any) -> None:
    if value == "auto" or name not in _RANGES:
        return
    kind, low, high, exclusive = _RANGES[name]
    noun = "integer" if kind is int else "decimal"
    if low is not None and (value <= low if exclusive else value < low):
        bound = f"> {low}" if exclusive else f">= {low}"
        raise errors.invalid_value(param, f"Invalid '{param}': {noun} below minimum value. Expected a value {bound}, but got {value} instead.")
    if high is not None and value > high:
        raise errors.invalid_value(param, f"Invalid '{param}': {noun} above maximum value. Expected a value <= {high}, but got {value} instead.")


def _check_extras(body: dict) -> None:
    """What the params type does not say: the suffix's length, the seed's range, the integrations, the metadata."""
    suffix = body.get("suffix")
    if isinstance(suffix, str) and not 1 <= len(suffix) <= 64:
        raise errors.invalid_value("suffix", f"Invalid 'suffix': string too {'long' if suffix else 'short'}. Expected a string with "
                                             f"{'maximum length 64' if suffix else 'minimum length 1'}, but got a string with length {len(suffix)} instead.")
    params.integer(body, "seed", 0, 2_147_483_647)
    found = params.array(body.get("integrations"), "integrations", max_items=5)
    for i, item in enumerate(found or ()):
        where = f"integrations[{i}]"
        if not isinstance(item, dict):
            raise errors.invalid_type(where, "an object", item)
        if item.get("type") != "wandb":
            params.kind(item, where, ("wandb",))
        wandb = item.get("wandb")
        if not isinstance(wandb, dict):
            raise errors.missing_param(f"{where}.wandb") if wandb is None else errors.invalid_type(f"{where}.wandb", "an object", wandb)
        project = wandb.get("project")
        if project is None:
            raise errors.missing_param(f"{where}.wandb.project")
        params.text(project, f"{where}.wandb.project")
        for key in ("name", "entity"):
            params.text(wandb.get(key), f"{where}.wandb.{key}")
        params.array(wandb.get("tags"), f"{where}.wandb.tags", items=str)
    params.metadata(body.get("metadata"))


def _integrations(value: Any) -> list[dict]:
    out = []
    for item in value if isinstance(value, list) else ():
        wandb = item.get("wandb") if isinstance(item, dict) else None
        if isinstance(wandb, dict) and isinstance(wandb.get("project"), str):
            tags = wandb.get("tags")
            out.append({"type": "wandb", "wandb": {
                "project": wandb["project"], "entity": wandb.get("entity") if isinstance(wandb.get("entity"), str) else None,
                "name": wandb.get("name") if isinstance(wandb.get("name"), str) else None,
                "tags": tags if isinstance(tags, list) and all(isinstance(t, str) for t in tags) else None}})
    return out


def _top_level(method: dict) -> dict:
    """The job's top-level `hyperparameters`: the method's batch size, learning rate and epochs (the SDK types it
    as always there, whatever the method)."""
    hyper = method[method["type"]]["hyperparameters"]
    return {k: hyper.get(k, "auto") for k in ("batch_size", "learning_rate_multiplier", "n_epochs")}


def _check(call, job: dict) -> None:
    # The SDK's status Literal lags the API here: "paused" is what the API's own example answers a pause with.
    check(sdk.FineTuningJob, dict(job, status="running") if job.get("status") == "paused" else job, call.where)


# -- reads and actions --------------------------------------------------------------------------


def _load(call) -> dict:
    job_id = call.request.params["fine_tuning_job_id"]
    job = call.state.get(COLLECTION, job_id)
    if job is None:
        raise not_found(job_id)
    return job


def retrieve(call) -> Any:
    """GET /v1/fine_tuning/jobs/{id}: the job, moved on by this read (or by the time passed)."""
    with call.state.lock:
        return Reply.json(200, catch_up(call, _load(call), polled=True))


def list_jobs(call) -> Any:
    """GET /v1/fine_tuning/jobs: newest first, `metadata[k]=v` filters (`metadata=null`: jobs without any);
    every job listed moves on as a read of it would."""
    query = call.request.query
    wanted = {k[len("metadata["):-1]: v for k, v in query.items() if k.startswith("metadata[") and k.endswith("]")}
    no_metadata = query.get("metadata") == "null"

    def where(job: dict) -> bool:
        found = job.get("metadata")
        if no_metadata:
            return found is None
        return all(isinstance(found, dict) and found.get(k) == v for k, v in wanted.items())

    with call.state.lock:
        for record in call.state.all(PENDING):
            job = call.state.get(COLLECTION, record["id"])
            if job is not None:
                catch_up(call, job, polled=True)
        return pages.page(call, COLLECTION, where=where if wanted or no_metadata else None)


def list_events(call) -> Any:
    """GET /v1/fine_tuning/jobs/{id}/events: newest first; a read of the job, so it moves it on."""
    with call.state.lock:
        job = catch_up(call, _load(call), polled=True)
        return pages.page(call, EVENTS.key(fine_tuning_job_id=job["id"]))


def list_checkpoints(call) -> Any:
    """GET /v1/fine_tuning/jobs/{id}/checkpoints: newest first; a read of the job, so it moves it on."""
    with call.state.lock:
        job = catch_up(call, _load(call), polled=True)
        return pages.page(call, CHECKPOINTS.key(fine_tuning_job_id=job["id"]), default_limit=10)


def cancel(call) -> Any:
    """POST /v1/fine_tuning/jobs/{id}/cancel: `cancelled` at once, from any status that is not final."""
    with call.state.lock:
        job = catch_up(call, _load(call), polled=False)
        if job["status"] in _TERMINAL:
            done = "been cancelled" if job["status"] == "cancelled" else "completed"
            raise OpenAIError(400, f"Job has already {done}: {job['id']}.")
        record = call.state.get(PENDING, job["id"]) or {"id": job["id"]}
        job = _end(call, job, record, "cancelled")
        _event(call, job, record, "The job was cancelled")
        _store(call, job, record)
        return Reply.json(200, job)


def pause(call) -> Any:
    """POST /v1/fine_tuning/jobs/{id}/pause: a running job stops where it is (`paused`)."""
    with call.state.lock:
        job = catch_up(call, _load(call), polled=False)
        if job["status"] != "running":
            raise OpenAIError(400, f"Cannot pause job {job['id']}: only a running job can be paused, and its status is "
                                   f"'{job['status']}'.")
        record = call.state.get(PENDING, job["id"])
        job = dict(job, status="paused", estimated_finish=None)
        _event(call, job, record, "Fine-tuning job paused")
        _store(call, job, record)
        return Reply.json(200, job)


def resume(call) -> Any:
    """POST /v1/fine_tuning/jobs/{id}/resume: a paused job goes back in the queue (`queued`), and runs on at
    its next step."""
    with call.state.lock:
        job = catch_up(call, _load(call), polled=False)
        if job["status"] != "paused":
            raise OpenAIError(400, f"Cannot resume job {job['id']}: only a paused job can be resumed, and its status is "
                                   f"'{job['status']}'.")
        record = call.state.get(PENDING, job["id"]) or lifecycle.start({"id": job["id"], "epochs_done": 0, "started": False},
                                                                        ["succeeded"])
        record["steps"].insert(0, "running")
        record["changed_at"] = time.time()  # the time paused does not count towards its next step
        job = dict(job, status="queued")
        _event(call, job, record, "Fine-tuning job resumed")
        _store(call, job, record)
        return Reply.json(200, job)


# -- progress ----------------------------------------------------------------------------------


def catch_up(call, job: dict, polled: bool) -> dict:
    """The job after the steps that have come due (by this read, or by time), stored. Call under the lock."""
    record = call.state.get(PENDING, job["id"])
    if record is None or job["status"] == "paused":
        return job
    for step in lifecycle.due(call, record, polled):
        job = _apply(call, job, record, step)
        if job["status"] in _TERMINAL:
            break
    _store(call, job, record)
    return job


def _store(call, job: dict, record: dict | None) -> None:
    _check(call, job)
    call.state.put(COLLECTION, job)
    if record is None:
        return
    if job["status"] in _TERMINAL:
        call.state.delete(PENDING, job["id"])
        lifecycle.emit(call, f"fine_tuning.job.{job['status']}", job["id"])
    else:
        call.state.put(PENDING, record)


def _apply(call, job: dict, record: dict, step: str) -> dict:
    if step == "failed":
        message = lifecycle.fail_message(call, "The job failed due to an internal server error.")
        return _fail(call, job, record, {"code": "server_error", "message": message, "param": None})
    if step == "queued":
        problem = _validate(call, job, record)
        if problem is not None:
            return _fail(call, job, record, problem)
        _event(call, job, record, "Files validated, moving job to queued state")
        return dict(job, status="queued")
    if step == "running":
        return _run(call, job, record)
    if step.startswith("epoch "):
        return _epoch(call, job, record, int(step.split()[1]))
    if step == "succeeded":
        return _succeed(call, job, record)
    raise AssertionError(f"unknown fine-tuning step {step!r}")


def _run(call, job: dict, record: dict) -> dict:
    """`running`: the first time, "auto" resolved and one step per epoch to come; after a pause, on from where it was."""
    if "training" not in record:  # a job a profile's handler made past `validating_files`: its files are read now
        problem = _validate(call, job, record)
        if problem is not None:
            return _fail(call, job, record, problem)
    if not record["started"]:
        record["started"] = True
        method = _resolve(job["method"], record)
        record["plan"] = _plan(method, record)
        job = dict(job, method=method, hyperparameters=_top_level(method))
        at = record["steps"].index("succeeded") if "succeeded" in record["steps"] else len(record["steps"])
        record["steps"][at:at] = [f"epoch {n}" for n in range(1, record["plan"]["epochs"] + 1)]
        _event(call, job, record, "Fine-tuning job started")
    job = dict(job, status="running")
    return dict(job, estimated_finish=_estimate(call, record))


def _epoch(call, job: dict, record: dict, n: int) -> dict:
    """Epoch `n`: its steps' metrics events, and a checkpoint at its end (the last three kept)."""
    plan = record["plan"]
    per_epoch, total = plan["steps_per_epoch"], plan["total_steps"]
    first, last = (n - 1) * per_epoch + 1, n * per_epoch
    shown = set(range(first, last + 1)) if per_epoch <= METRICS_PER_EPOCH else \
        {first + round(i * (per_epoch - 1) / (METRICS_PER_EPOCH - 1)) for i in range(METRICS_PER_EPOCH)}
    for step in sorted(shown):
        row = _metrics(call, job, record, step)
        message = f"Step {step}/{total}: training loss={row['train_loss']:.2f}"
        data = {"step": step, "train_loss": row["train_loss"], "total_steps": total,
                "train_mean_token_accuracy": row["train_mean_token_accuracy"]}
        if "valid_loss" in row:
            message += f", validation loss={row['valid_loss']:.2f}"
            data.update(valid_loss=row["valid_loss"], valid_mean_token_accuracy=row["valid_mean_token_accuracy"])
        _event(call, job, record, message, kind="metrics", data=data)
    record["epochs_done"] = n
    if n < plan["epochs"]:  # the last epoch's model is the fine-tuned model itself
        _checkpoint(call, job, record, last)
    return dict(job, estimated_finish=_estimate(call, record))


def _checkpoint(call, job: dict, record: dict, step: int) -> None:
    row = _metrics(call, job, record, step)
    metrics = {k: v for k, v in row.items()}
    if "valid_loss" in row:
        metrics.update(full_valid_loss=round(row["valid_loss"] * 0.98, 4),
                       full_valid_mean_token_accuracy=round(min(1.0, row["valid_mean_token_accuracy"] * 1.01), 4))
    key = CHECKPOINTS.key(fine_tuning_job_id=job["id"])
    checkpoint = {"id": call.state.new_id("ftckpt_"), "object": "fine_tuning.job.checkpoint",
                  "created_at": lifecycle.fake_time(call, record), "fine_tuning_job_id": job["id"], "step_number": step,
                  "fine_tuned_model_checkpoint": f"{_model_name(job)}:ckpt-step-{step}", "metrics": metrics}
    check(sdk.FineTuningJobCheckpoint, checkpoint, call.where)
    call.state.put(key, checkpoint)
    kept = call.state.all(key)
    for old in kept[:-KEPT_CHECKPOINTS]:
        call.state.delete(key, old["id"])
    _event(call, job, record, f"Checkpoint created at step {step}")


def _succeed(call, job: dict, record: dict) -> dict:
    """The end: any epochs left trained, the result file written, the fine-tuned model made."""
    if not record["started"]:
        job = _run(call, job, record)
        if job["status"] in _TERMINAL:
            return job
    for n in range(record["epochs_done"] + 1, record["plan"]["epochs"] + 1):
        job = _epoch(call, job, record, n)
    record["steps"] = [s for s in record["steps"] if not s.startswith("epoch ")]
    name = _model_name(job)
    result = _result_file(call, job, record)
    _event(call, job, record, f"New fine-tuned model created: {name}")
    _event(call, job, record, "The job has successfully completed")
    trained = record["training"]["tokens"] * record["plan"]["epochs"]
    job = dict(job, fine_tuned_model=name, result_files=[result], trained_tokens=trained)
    return _end(call, job, record, "succeeded")


def _fail(call, job: dict, record: dict, error: dict) -> dict:
    _event(call, job, record, error["message"], level="error")
    return _end(call, dict(job, error=error), record, "failed")


def _end(call, job: dict, record: dict, status: str) -> dict:
    record["steps"] = []
    return dict(job, status=status, finished_at=lifecycle.fake_time(call, record if "started_at" in record else None),
                estimated_finish=None)


def _estimate(call, record: dict) -> int:
    """When the job would be done if each step to come took as long as the last (`progress` seconds, or a minute
    a poll), on the fake's clock."""
    interval = call.knob("progress", "polls")
    each = _STEP_SECONDS if interval == "polls" else float(interval)
    return lifecycle.fake_time(call, record, record["changed_at"] + each * len(record["steps"]))


def _event(call, job: dict, record: dict | None, message: str, *, level: str = "info", kind: str = "message",
           data: dict | None = None) -> None:
    event = {"id": call.state.new_id("ftevent-"), "object": "fine_tuning.job.event",
             "created_at": lifecycle.fake_time(call, record) if record and "started_at" in record else int(time.time()),
             "level": level, "message": message, "type": kind, "data": data if data is not None else {}}
    call.state.put(EVENTS.key(fine_tuning_job_id=job["id"]), event)


def _model_name(job: dict) -> str:
    """`ft:{base}:{org}:{suffix}:{id}`: the base a snapshot (a fine-tuned model's own base, when one is trained on),
    the organization's name, the suffix (empty when none was given), and a fragment of the job's id."""
    base = job["model"].split(":")[1] if job["model"].startswith("ft:") else job["model"]
    org = organization().removeprefix("org-")
    digest = hashlib.blake2b(job["id"].encode(), digest_size=8).digest()
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    fragment = "".join(alphabet[b % 62] for b in digest)
    return f"ft:{base}:{org}:{job.get('user_provided_suffix') or ''}:{fragment}"


# -- hyperparameters and metrics ---------------------------------------------------------------


def _resolve(method: dict, record: dict) -> dict:
    """The method with "auto" made numbers, as the API resolves them when the job starts: 3 epochs, more for a
    small file (up to 25, for about 100 examples seen) and fewer for a large one; a batch of about 0.2% of the
    examples (1 to 256); a learning rate multiplier of 0.05, 0.1 or 0.2 by the batch size."""
    examples = record["training"]["examples"]
    hyper = dict(method[method["type"]]["hyperparameters"])

    def auto(name: str, value: Any) -> None:
        if hyper.get(name, "auto") == "auto" or not isinstance(hyper.get(name), (int, float)) or isinstance(hyper.get(name), bool):
            hyper[name] = value

    epochs = 3
    if examples * 3 < 100:
        epochs = min(25, max(1, 100 // max(examples, 1)))
    elif examples * 3 > 25_000:
        epochs = max(1, 25_000 // examples)
    auto("n_epochs", epochs)
    auto("batch_size", max(1, min(256, round(examples * 0.002))))
    auto("learning_rate_multiplier", 0.05 if hyper["batch_size"] < 8 else 0.1 if hyper["batch_size"] < 32 else 0.2)
    if "beta" in hyper:
        auto("beta", 0.1)
    if method["type"] == _RFT:
        auto("compute_multiplier", 1.0)
        auto("eval_interval", 1)
        auto("eval_samples", 1)
    out = dict(method)
    out[method["type"]] = dict(method[method["type"]], hyperparameters=hyper)
    return out


def _plan(method: dict, record: dict) -> dict:
    hyper = method[method["type"]]["hyperparameters"]
    per_epoch = max(1, math.ceil(record["training"]["examples"] / hyper["batch_size"]))
    return {"epochs": hyper["n_epochs"], "steps_per_epoch": per_epoch, "total_steps": per_epoch * hyper["n_epochs"]}


def _metrics(call, job: dict, record: dict, step: int) -> dict:
    """Step `step`'s metrics: the loss on the `train_loss` curve, jittered by the job's seed; accuracy from the loss."""
    total = record["plan"]["total_steps"]
    curve = list(call.knob("train_loss") or DEFAULT_LOSS)
    at = (step - 1) / max(1, total - 1) * (len(curve) - 1)
    low = min(int(at), len(curve) - 1)
    high = min(low + 1, len(curve) - 1)
    loss = curve[low] + (curve[high] - curve[low]) * (at - low)
    rng = random.Random(f"{job['seed']}:{step}")
    train = max(0.0001, loss * (1 + rng.uniform(-0.08, 0.08)))
    row = {"step": float(step), "train_loss": round(train, 4), "train_mean_token_accuracy": round(_accuracy(train), 4)}
    if record["training"].get("validation"):
        valid = max(0.0001, loss * (1.08 + rng.uniform(-0.06, 0.06)))
        row.update(valid_loss=round(valid, 4), valid_mean_token_accuracy=round(_accuracy(valid), 4))
    return row


def _accuracy(loss: float) -> float:
    return min(0.999, max(0.0, math.exp(-loss * 0.6)))


def _result_file(call, job: dict, record: dict) -> str:
    """The job's result file (purpose `fine-tune-results`): every step's metrics, as the API's CSV has them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["step", "train_loss", "train_accuracy", "valid_loss", "valid_mean_token_accuracy"])
    for step in range(1, record["plan"]["total_steps"] + 1):
        row = _metrics(call, job, record, step)
        writer.writerow([step, row["train_loss"], row["train_mean_token_accuracy"], row.get("valid_loss", ""),
                         row.get("valid_mean_token_accuracy", "")])
    return files.store(call.state, filename="step_metrics.csv", purpose="fine-tune-results",
                       content=out.getvalue().encode(), where=call.where)["id"]


# -- the training and validation files ---------------------------------------------------------


def _validate(call, job: dict, record: dict) -> dict | None:
    """Check the job's files as the API does; on success what training needs is the record's. The error, else None."""
    kind = job["method"]["type"] if isinstance(job.get("method"), dict) else _SFT
    completion = job["model"] in _COMPLETION_MODELS
    training = _read(call, job["training_file"], "training", kind, completion, job)
    if isinstance(training, dict) and "code" in training:
        return training
    least = call.knob("min_examples", MIN_EXAMPLES)
    if training[0] < least:
        return _bad("training", f"Training file has {training[0]} example(s), but must have at least {least} examples.")
    validation_info = None
    if job.get("validation_file"):
        found = _read(call, job["validation_file"], "validation", kind, completion, job)
        if isinstance(found, dict) and "code" in found:
            return found
        if found[0] == 0:
            return _bad("validation", "Validation file has 0 examples, but must have at least 1 example.")
        validation_info = {"examples": found[0], "tokens": found[1]}
    record["training"] = {"examples": training[0], "tokens": training[1], "validation": validation_info}
    return None


def _bad(which: str, detail: str) -> dict:
    return {"code": f"invalid_{which}_file", "param": f"{which}_file",
            "message": f"The job failed due to an invalid {which} file. {detail}"}


def _read(call, file_id: str, which: str, kind: str, completion: bool, job: dict) -> tuple[int, int] | dict:
    """(examples, tokens) of a file in the method's format, or the error that fails the job."""
    file = call.state.get(files.COLLECTION, file_id)
    if file is None:
        return _bad(which, f"File {file_id} could not be found.")
    if file["purpose"] != "fine-tune":
        return _bad(which, f"File {file_id} has purpose '{file['purpose']}'; a {which} file must be uploaded with purpose 'fine-tune'.")
    content = call.state.blob(file_id) or b""
    fields = _grader_fields(job) if kind == _RFT else ()
    examples = counted = 0
    for number, text in enumerate(content.split(b"\n"), 1):
        if not text.strip():
            continue
        try:
            line = from_json(text)
        except ValueError:
            line = None
        if not isinstance(line, dict):
            return _bad(which, f"Expected file to have JSONL format, where every line is a valid JSON dictionary. Line {number} is not a dictionary.")
        if completion:
            problem = _completion_problem(line)
        elif kind == _DPO:
            problem = _preference_problem(line)
        elif kind == _RFT:
            problem = _reinforcement_problem(line, fields)
        else:
            problem = _chat_problem(line)
        if problem is not None:
            return _bad(which, f"Invalid file format. Line {number}: {problem}")
        examples += 1
        counted += _tokens(line)
    return examples, counted


def _messages_problem(messages: Any, key: str) -> str | None:
    if not isinstance(messages, list) or not messages:
        return f"'{key}' must be a non-empty list of messages."
    for i, message in enumerate(messages, 1):
        if not isinstance(message, dict):
            return f"message {i} of '{key}' is not an object."
        role = message.get("role")
        if role not in _ROLES:
            return f"message {i} of '{key}' has an unrecognized role: {role!r}."
        content = message.get("content")
        if content is None and not (role == "assistant" and (message.get("tool_calls") or message.get("function_call"))):
            return f"message {i} of '{key}' has no content."
        if content is not None and not isinstance(content, (str, list)):
            return f"message {i} of '{key}' has content that is neither a string nor a list of parts."
        if "weight" in message and (role != "assistant" or message["weight"] not in (0, 1)):
            return f"message {i} of '{key}' has a weight; only assistant messages may, and it must be 0 or 1."
    return None


def _chat_problem(line: dict) -> str | None:
    if "messages" not in line:
        return "missing the 'messages' key: each line must be a chat example, {\"messages\": [...]}."
    problem = _messages_problem(line["messages"], "messages")
    if problem is None and not any(m.get("role") == "assistant" for m in line["messages"]):
        return "the example has no assistant message to learn from."
    return problem


def _completion_problem(line: dict) -> str | None:
    for key in ("prompt", "completion"):
        if not isinstance(line.get(key), str):
            return f"missing the '{key}' key: each line must be {{\"prompt\": \"...\", \"completion\": \"...\"}} for this model."
    return None


def _preference_problem(line: dict) -> str | None:
    given = line.get("input")
    if not isinstance(given, dict) or "messages" not in given:
        return "missing 'input' with its 'messages': each line must be a preference example, {\"input\": {\"messages\": [...]}, " \
               "\"preferred_output\": [...], \"non_preferred_output\": [...]}."
    problem = _messages_problem(given["messages"], "input.messages")
    for key in ("preferred_output", "non_preferred_output"):
        if problem is None:
            problem = _messages_problem(line.get(key), key)
            if problem is None and any(m.get("role") != "assistant" for m in line[key]):
                problem = f"every message of '{key}' must be an assistant message."
    return problem


def _reinforcement_problem(line: dict, fields: tuple[str, ...]) -> str | None:
    if "messages" not in line:
        return "missing the 'messages' key: each line must be {\"messages\": [...], ...} with the fields the grader reads."
    problem = _messages_problem(line["messages"], "messages")
    for name in fields:
        if problem is None and name not in line:
            problem = f"missing the field '{name}' that the grader reads ({{{{item.{name}}}}})."
    return problem


def _grader_fields(job: dict) -> tuple[str, ...]:
    """The fields of each line a reinforcement job's grader reads (`{{item.label}}`)."""
    grader = job["method"].get(_RFT, {}).get("grader")
    return tuple(dict.fromkeys(re.findall(r"\{\{\s*item\.(\w+)", to_json(grader).decode()))) if grader else ()


def _tokens(line: dict) -> int:
    """An example's tokens, as billing counts them: every message of it (a preference example: both outputs)."""
    if "prompt" in line and "messages" not in line:
        return tokens.count(str(line.get("prompt", ""))) + tokens.count(str(line.get("completion", "")))
    total = 0
    for key in ("messages", "preferred_output", "non_preferred_output"):
        if isinstance(line.get(key), list):
            total += tokens.count_messages(line[key])
    if isinstance(line.get("input"), dict) and isinstance(line["input"].get("messages"), list):
        total += tokens.count_messages(line["input"]["messages"])
    return total


# -- the models it makes -----------------------------------------------------------------------


def trained_models(state) -> list[dict]:
    """The models of the succeeded jobs, as `models.list` shows them (owned by the organization)."""
    return [{"id": job["fine_tuned_model"], "object": "model", "created": job.get("finished_at") or job["created_at"],
             "owned_by": job["organization_id"]}
            for job in state.all(COLLECTION) if job.get("status") == "succeeded" and job.get("fine_tuned_model")]


lifecycle.register_collection("fine_tuning.jobs", store=PENDING, collection=COLLECTION, route="fine_tuning.jobs.retrieve",
                              path=lambda record: f"/v1/fine_tuning/jobs/{record['id']}", catch_up=catch_up)


#: The SDK methods this module serves (their method and path are the route table's), and how.
HANDLES = {
    "fine_tuning.jobs.create": create,
    "fine_tuning.jobs.list": list_jobs,
    "fine_tuning.jobs.retrieve": retrieve,
    "fine_tuning.jobs.cancel": cancel,
    "fine_tuning.jobs.pause": pause,
    "fine_tuning.jobs.resume": resume,
    "fine_tuning.jobs.list_events": list_events,
    "fine_tuning.jobs.checkpoints.list": list_checkpoints,
}
