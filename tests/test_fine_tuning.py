"""Fine-tuning jobs that train: the real SDK uploads a JSONL file, makes a job, polls it through its statuses,
reads its events, checkpoints and result file, and then uses the model it made, through both faces."""

from __future__ import annotations

import csv
import io
import json
import re
import time

import openai
import pytest

from proxy_addon import Profile
from proxy_addon.engine import Engine, Request, lifecycle
from proxy_addon.engine.resources import files

_TERMINAL = ("succeeded", "failed", "cancelled")


@pytest.fixture(params=["proxy", "base-url"])
def sdk(request):
    """The SDK client of each face."""
    return request.getfixturevalue("client" if request.param == "proxy" else "base_client")


def _jsonl(lines: list[dict]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def _chat(n: int) -> list[dict]:
    return [{"messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": f"What is {i} + 1?"},
                          {"role": "assistant", "content": f"It is {i + 1}."}]} for i in range(n)]


def _preferences(n: int) -> list[dict]:
    return [{"input": {"messages": [{"role": "user", "content": f"Say {i}"}]},
             "preferred_output": [{"role": "assistant", "content": f"{i}"}],
             "non_preferred_output": [{"role": "assistant", "content": f"I will not say {i}"}]} for i in range(n)]


def _upload(sdk, content: bytes, purpose: str = "fine-tune", name: str = "train.jsonl") -> str:
    return sdk.files.create(file=(name, io.BytesIO(content)), purpose=purpose).id


def _wait(sdk, job_id: str, polls: int = 40):
    seen = []
    for _ in range(polls):
        job = sdk.fine_tuning.jobs.retrieve(job_id)
        seen.append(job.status)
        if job.status in _TERMINAL:
            return job, seen
    raise AssertionError(f"job {job_id} never ended: {seen}")


def _until(sdk, job_id: str, status: str, polls: int = 10):
    for _ in range(polls):
        job = sdk.fine_tuning.jobs.retrieve(job_id)
        if job.status == status:
            return job
    raise AssertionError(f"job {job_id} never reached {status}")


def _distinct(statuses: list[str]) -> list[str]:
    return [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s]


def _events(sdk, job_id: str) -> list:
    """Every event of the job, oldest first (the API lists newest first; the SDK pages through them all)."""
    return list(reversed(list(sdk.fine_tuning.jobs.list_events(job_id, limit=25))))


def test_a_job_trains_a_model_that_then_answers(sdk, use_profile):
    use_profile(Profile())
    training, validation = _upload(sdk, _jsonl(_chat(12))), _upload(sdk, _jsonl(_chat(3)), name="valid.jsonl")
    job = sdk.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training, validation_file=validation,
                                      suffix="arith", seed=7, metadata={"team": "maths"},
                                      method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 4}}})
    assert (job.status, job.model, job.fine_tuned_model, job.trained_tokens) == ("validating_files", "gpt-4o-mini-2024-07-18", None, None)
    assert job.method.type == "supervised" and job.method.supervised.hyperparameters.batch_size == "auto"
    assert job.method.supervised.hyperparameters.n_epochs == 4 and job.hyperparameters.n_epochs == 4
    assert (job.seed, job.metadata, job.organization_id, job.result_files) == (7, {"team": "maths"}, "org-openai-fake", [])

    done, seen = _wait(sdk, job.id)
    assert _distinct(seen) == ["queued", "running", "succeeded"] and seen.count("running") == 5  # started, then 4 epochs
    assert done.error is None and done.estimated_finish is None and done.finished_at >= done.created_at
    assert re.fullmatch(r"ft:gpt-4o-mini-2024-07-18:openai-fake:arith:[0-9A-Za-z]{8}", done.fine_tuned_model)
    hyper = done.method.supervised.hyperparameters
    assert (hyper.n_epochs, hyper.batch_size) == (4, 1) and isinstance(hyper.learning_rate_multiplier, float)
    assert done.hyperparameters.batch_size == 1  # "auto" resolved when the job started

    events = _events(sdk, job.id)
    messages = [e.message for e in events]
    for expected in (f"Created fine-tuning job: {job.id}", f"Validating training file: {training}",
                     "Files validated, moving job to queued state", "Fine-tuning job started", "Step 1/48: training loss=",
                     "Checkpoint created at step 12", "Step 48/48: training loss=",
                     f"New fine-tuned model created: {done.fine_tuned_model}", "The job has successfully completed"):
        assert any(m.startswith(expected) for m in messages), (expected, messages)
    order = [next(i for i, m in enumerate(messages) if m.startswith(x)) for x in
             ("Created", "Files validated", "Fine-tuning job started", "Step 1/", "Checkpoint created at step 12",
              "Step 48/", "New fine-tuned model", "The job has successfully completed")]
    assert order == sorted(order)
    metrics = [e for e in events if e.type == "metrics"]
    assert len(metrics) == 48 and metrics[0].data["step"] == 1 and metrics[-1].data["total_steps"] == 48
    assert "validation loss=" in metrics[0].message and metrics[0].data["valid_loss"] > 0
    assert {e.level for e in events} == {"info"} and all(e.type == "message" for e in events if e not in metrics)

    checkpoints = list(sdk.fine_tuning.jobs.checkpoints.list(job.id))
    assert [c.step_number for c in checkpoints] == [36, 24, 12]  # one an epoch but the last; newest first
    assert all(c.fine_tuned_model_checkpoint == f"{done.fine_tuned_model}:ckpt-step-{c.step_number}" for c in checkpoints)
    assert all(c.metrics.train_loss > 0 and 0 < c.metrics.train_mean_token_accuracy < 1 and c.metrics.full_valid_loss > 0
               for c in checkpoints)
    assert checkpoints[0].fine_tuning_job_id == job.id

    [result_id] = done.result_files
    result = sdk.files.retrieve(result_id)
    assert (result.purpose, result.filename) == ("fine-tune-results", "step_metrics.csv")
    rows = list(csv.DictReader(io.StringIO(sdk.files.content(result_id).text)))
    assert list(rows[0]) == ["step", "train_loss", "train_accuracy", "valid_loss", "valid_mean_token_accuracy"]
    assert [int(r["step"]) for r in rows] == list(range(1, 49))
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])  # it learned something
    assert done.trained_tokens > 0 and done.trained_tokens % 4 == 0  # the file's tokens, once an epoch

    assert done.fine_tuned_model in [m.id for m in sdk.models.list()]
    model = sdk.models.retrieve(done.fine_tuned_model)
    assert model.owned_by == "org-openai-fake" and model.created == done.finished_at
    answer = sdk.chat.completions.create(model=done.fine_tuned_model, messages=[{"role": "user", "content": "What is 2 + 1?"}])
    assert answer.model == done.fine_tuned_model and answer.choices[0].message.content
    assert [j.id for j in sdk.fine_tuning.jobs.list()] == [job.id]


def test_without_a_suffix_the_model_name_has_an_empty_one_and_auto_epochs_follow_the_file(base_client, use_profile):
    use_profile(Profile())
    job = base_client.fine_tuning.jobs.create(model="gpt-4.1-mini-2025-04-14", training_file=_upload(base_client, _jsonl(_chat(20))))
    done, seen = _wait(base_client, job.id)
    assert done.status == "succeeded" and done.hyperparameters.n_epochs == 5  # about 100 examples seen: 100 // 20
    assert seen.count("running") == 6
    assert re.fullmatch(r"ft:gpt-4\.1-mini-2025-04-14:openai-fake::[0-9A-Za-z]{8}", done.fine_tuned_model)
    checkpoints = list(base_client.fine_tuning.jobs.checkpoints.list(job.id))
    assert [c.step_number for c in checkpoints] == [80, 60, 40]  # the last three kept
    assert all(c.metrics.valid_loss is None and c.metrics.full_valid_loss is None for c in checkpoints)
    rows = list(csv.DictReader(io.StringIO(base_client.files.content(done.result_files[0]).text)))
    assert rows[0]["valid_loss"] == "" and len(rows) == 100  # no validation file: those columns stay empty


def test_dpo_and_reinforcement_jobs_answer_their_method(base_client, use_profile):
    use_profile(Profile())
    dpo = base_client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=_upload(base_client, _jsonl(_preferences(10))),
                                              method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2, "n_epochs": 1}}})
    assert dpo.method.type == "dpo" and dpo.method.dpo.hyperparameters.beta == 0.2
    done, _ = _wait(base_client, dpo.id)
    assert done.status == "succeeded" and done.method.dpo.hyperparameters.batch_size == 1

    grader = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}", "reference": "{{item.answer}}",
              "operation": "eq"}
    lines = [{"messages": [{"role": "user", "content": f"{i} + 1?"}], "answer": str(i + 1)} for i in range(10)]
    rft = base_client.fine_tuning.jobs.create(
        model="o4-mini", training_file=_upload(base_client, _jsonl(lines)),
        method={"type": "reinforcement", "reinforcement": {"grader": grader, "hyperparameters": {"reasoning_effort": "low",
                                                                                                 "n_epochs": 1}}})
    assert (rft.model, rft.method.type) == ("o4-mini-2025-04-16", "reinforcement")
    assert rft.method.reinforcement.hyperparameters.reasoning_effort == "low"
    assert rft.method.reinforcement.hyperparameters.eval_samples == "auto"
    done, _ = _wait(base_client, rft.id)
    assert done.status == "succeeded" and done.method.reinforcement.grader.name == "exact"
    assert done.method.reinforcement.hyperparameters.compute_multiplier == 1.0


_PREFIX = "The job failed due to an invalid training file. "


@pytest.mark.parametrize("content, purpose, body, message", [
    (_jsonl(_chat(5)), "fine-tune", {}, "Training file has 5 example(s), but must have at least 10 examples."),
    (b"", "fine-tune", {}, "Training file has 0 example(s), but must have at least 10 examples."),
    (b"this is not json\n" * 10, "fine-tune", {}, "Expected file to have JSONL format, where every line is a valid JSON "
                                                 "dictionary. Line 1 is not a dictionary."),
    (_jsonl(_chat(10)), "assistants", {}, "has purpose 'assistants'; a training file must be uploaded with purpose 'fine-tune'."),
    (_jsonl(_chat(10)), "fine-tune", {"method": {"type": "dpo"}}, "Invalid file format. Line 1: missing 'input'"),
    (_jsonl(_preferences(10)), "fine-tune", {}, "Invalid file format. Line 1: missing the 'messages' key"),
    (_jsonl(_chat(9) + [{"messages": [{"role": "user", "content": "hi"}]}]), "fine-tune", {},
     "Invalid file format. Line 10: the example has no assistant message to learn from."),
    (_jsonl(_chat(3) + [{"messages": [{"role": "bot", "content": "hi"}]}]), "fine-tune", {},
     "Invalid file format. Line 4: message 1 of 'messages' has an unrecognized role: 'bot'."),
    (_jsonl(_chat(10)), "fine-tune", {"model": "davinci-002"}, "Invalid file format. Line 1: missing the 'prompt' key"),
    (_jsonl([{"messages": [{"role": "user", "content": "1?"}]}] * 10), "fine-tune",
     {"model": "o4-mini", "method": {"type": "reinforcement", "reinforcement": {"grader": {
         "type": "string_check", "name": "g", "input": "{{sample.output_text}}", "reference": "{{item.answer}}", "operation": "eq"}}}},
     "Invalid file format. Line 1: missing the field 'answer' that the grader reads ({{item.answer}})."),
])
def test_a_bad_training_file_fails_the_job_with_the_apis_error(base_client, use_profile, content, purpose, body, message):
    use_profile(Profile())
    made = base_client.fine_tuning.jobs.create(**{"model": "gpt-4o-mini", "training_file": _upload(base_client, content, purpose),
                                                  **body})
    assert made.status == "validating_files"
    failed, seen = _wait(base_client, made.id)
    assert seen == ["failed"] and failed.finished_at is not None and failed.fine_tuned_model is None
    assert (failed.error.code, failed.error.param) == ("invalid_training_file", "training_file")
    assert failed.error.message.startswith(_PREFIX) and message in failed.error.message, failed.error.message
    last = _events(base_client, made.id)[-1]
    assert (last.level, last.message) == ("error", failed.error.message)
    assert not list(base_client.fine_tuning.jobs.checkpoints.list(made.id))


def test_a_missing_training_file_and_a_bad_validation_file_fail_the_job(base_client, use_profile):
    use_profile(Profile())
    missing = base_client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="file-nope")
    failed, _ = _wait(base_client, missing.id)
    assert failed.error.code == "invalid_training_file" and "File file-nope could not be found." in failed.error.message
    bad = base_client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=_upload(base_client, _jsonl(_chat(10))),
                                              validation_file=_upload(base_client, b"[1, 2]\n"))
    failed, _ = _wait(base_client, bad.id)
    assert (failed.error.code, failed.error.param) == ("invalid_validation_file", "validation_file")
    assert failed.error.message.startswith("The job failed due to an invalid validation file. Expected file to have JSONL")


def test_min_examples_lets_a_small_file_train(base_client, use_profile):
    profile = Profile()
    profile.fine_tuning.jobs(min_examples=1)
    use_profile(profile)
    job = base_client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=_upload(base_client, _jsonl(_chat(2))),
                                              hyperparameters={"n_epochs": 1})
    done, _ = _wait(base_client, job.id)
    assert done.status == "succeeded" and done.hyperparameters.n_epochs == 1 and done.method.supervised.hyperparameters.n_epochs == 1


def test_cancel_ends_a_job_from_any_status_but_a_final_one(sdk, use_profile):
    use_profile(Profile())
    training = _upload(sdk, _jsonl(_chat(10)))
    waiting = sdk.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training)
    cancelled = sdk.fine_tuning.jobs.cancel(waiting.id)
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    assert sdk.fine_tuning.jobs.retrieve(waiting.id).status == "cancelled"  # and stays so
    with pytest.raises(openai.BadRequestError, match="Job has already been cancelled"):
        sdk.fine_tuning.jobs.cancel(waiting.id)
    running = sdk.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training)
    _until(sdk, running.id, "running")
    assert sdk.fine_tuning.jobs.cancel(running.id).status == "cancelled"
    assert _events(sdk, running.id)[-1].message == "The job was cancelled"
    done = sdk.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training, hyperparameters={"n_epochs": 1})
    _wait(sdk, done.id)
    with pytest.raises(openai.BadRequestError, match="Job has already completed"):
        sdk.fine_tuning.jobs.cancel(done.id)
    with pytest.raises(openai.NotFoundError):
        sdk.fine_tuning.jobs.cancel("ftjob-nope")


def test_pause_holds_a_running_job_and_resume_queues_it_again(sdk, use_profile):
    use_profile(Profile())
    job = sdk.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=_upload(sdk, _jsonl(_chat(10))),
                                      hyperparameters={"n_epochs": 3})
    with pytest.raises(openai.BadRequestError, match="only a running job can be paused"):
        sdk.fine_tuning.jobs.pause(job.id)
    assert [sdk.fine_tuning.jobs.retrieve(job.id).status for _ in range(3)] == ["queued", "running", "running"]
    paused = sdk.fine_tuning.jobs.pause(job.id)
    assert paused.status == "paused" and paused.estimated_finish is None  # as the API's own example answers
    checkpoints = len(list(sdk.fine_tuning.jobs.checkpoints.list(job.id)))
    assert [sdk.fine_tuning.jobs.retrieve(job.id).status for _ in range(3)] == ["paused"] * 3  # reads do not move it
    assert len(list(sdk.fine_tuning.jobs.checkpoints.list(job.id))) == checkpoints == 1
    with pytest.raises(openai.BadRequestError, match="only a running job can be paused"):
        sdk.fine_tuning.jobs.pause(job.id)
    assert sdk.fine_tuning.jobs.resume(job.id).status == "queued"
    with pytest.raises(openai.BadRequestError, match="only a paused job can be resumed"):
        sdk.fine_tuning.jobs.resume(job.id)
    done, seen = _wait(sdk, job.id)
    assert seen == ["running", "running", "running", "succeeded"]  # resumed, then the two epochs left
    assert [c.step_number for c in sdk.fine_tuning.jobs.checkpoints.list(job.id)] == [20, 10]
    messages = [e.message for e in _events(sdk, job.id)]
    assert messages.index("Fine-tuning job paused") < messages.index("Fine-tuning job resumed")
    assert messages.count("Fine-tuning job started") == 1


@pytest.mark.parametrize("fail_at, seen, checkpoints", [
    ("running", ["queued", "failed"], []),
    ("epoch 2", ["queued", "running", "running", "failed"], [10]),
])
def test_fail_at_fails_the_job_at_that_step(base_client, use_profile, fail_at, seen, checkpoints):
    profile = Profile()
    profile.fine_tuning.jobs(fail_at=fail_at, fail_message="The GPUs caught fire.")
    use_profile(profile)
    job = base_client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=_upload(base_client, _jsonl(_chat(10))),
                                              hyperparameters={"n_epochs": 3})
    failed, statuses = _wait(base_client, job.id)
    assert statuses == seen
    assert failed.error.model_dump() == {"code": "server_error", "message": "The GPUs caught fire.", "param": None}
    assert [c.step_number for c in base_client.fine_tuning.jobs.checkpoints.list(job.id)] == checkpoints
    assert failed.fine_tuned_model is None and not [m for m in base_client.models.list() if m.id.startswith("ft:")]


def test_train_loss_sets_the_curve(base_client, use_profile):
    profile = Profile()
    profile.fine_tuning.jobs(train_loss=[3.0, 0.1])
    use_profile(profile)
    job = base_client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=_upload(base_client, _jsonl(_chat(10))),
                                              hyperparameters={"n_epochs": 2})
    done, _ = _wait(base_client, job.id)
    rows = list(csv.DictReader(io.StringIO(base_client.files.content(done.result_files[0]).text)))
    assert 3.0 * 0.9 < float(rows[0]["train_loss"]) < 3.0 * 1.1 and 0.1 * 0.9 < float(rows[-1]["train_loss"]) < 0.1 * 1.1


def test_list_filters_by_metadata(base_client, use_profile):
    use_profile(Profile())
    training = _upload(base_client, _jsonl(_chat(10)))
    a = base_client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training, metadata={"team": "a"})
    b = base_client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training, metadata={"team": "b"})
    bare = base_client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training)
    assert [j.id for j in base_client.fine_tuning.jobs.list()] == [bare.id, b.id, a.id]
    assert [j.id for j in base_client.fine_tuning.jobs.list(metadata={"team": "a"})] == [a.id]
    assert [j.id for j in base_client.fine_tuning.jobs.list(extra_query={"metadata": "null"})] == [bare.id]
    page = base_client.fine_tuning.jobs.list(limit=2)
    assert len(page.data) == 2 and page.has_more


def test_a_trained_model_can_be_trained_on_and_deleted(base_client, use_profile):
    use_profile(Profile())
    training = _upload(base_client, _jsonl(_chat(10)))
    first, _ = _wait(base_client, base_client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training,
                                                                      hyperparameters={"n_epochs": 1}).id)
    again = base_client.fine_tuning.jobs.create(model=first.fine_tuned_model, training_file=training, suffix="v2",
                                                hyperparameters={"n_epochs": 1})
    assert again.model == first.fine_tuned_model
    second, _ = _wait(base_client, again.id)
    assert second.fine_tuned_model.startswith("ft:gpt-4o-mini-2024-07-18:openai-fake:v2:")
    assert base_client.models.delete(first.fine_tuned_model).deleted
    listed = [m.id for m in base_client.models.list()]
    assert first.fine_tuned_model not in listed and second.fine_tuned_model in listed
    with pytest.raises(openai.NotFoundError):
        base_client.models.retrieve(first.fine_tuned_model)


_LONG = "x" * 65


@pytest.mark.parametrize("body, param, words", [
    ({"model": "gpt-4"}, "model", "Model gpt-4 is not available for fine-tuning or does not exist."),
    ({"model": "ft:gpt-4o-mini-2024-07-18:openai-fake::nope"}, "model", "is not available for fine-tuning"),
    ({"model": "o4-mini"}, "model", "not available for supervised fine-tuning"),
    ({"method": {"type": "reinforcement", "reinforcement": {"grader": {"type": "string_check", "name": "g", "input": "a",
                                                                       "reference": "b", "operation": "eq"}}}},
     "model", "not available for reinforcement fine-tuning"),
    ({"suffix": _LONG}, "suffix", "maximum length 64"),
    ({"suffix": ""}, "suffix", "minimum length 1"),
    ({"seed": -1}, "seed", "below minimum value"),
    ({"training_file": None}, "training_file", "Missing required parameter"),
    ({"method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 0}}}},
     "method.supervised.hyperparameters.n_epochs", "below minimum value"),
    ({"method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 51}}}},
     "method.supervised.hyperparameters.n_epochs", "above maximum value"),
    ({"method": {"type": "supervised", "supervised": {"hyperparameters": {"batch_size": 300}}}},
     "method.supervised.hyperparameters.batch_size", "above maximum value"),
    ({"method": {"type": "supervised", "supervised": {"hyperparameters": {"learning_rate_multiplier": 0}}}},
     "method.supervised.hyperparameters.learning_rate_multiplier", "Expected a value > 0"),
    ({"method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": "many"}}}},
     "method.supervised.hyperparameters.n_epochs", "Supported values are: 'auto'"),
    ({"method": {"type": "dpo", "dpo": {"hyperparameters": {"beta": 3}}}}, "method.dpo.hyperparameters.beta", "above maximum"),
    ({"method": {"type": "annealing"}}, "method.type", "Supported values are"),
    ({"method": {"type": "supervised", "dpo": {}}}, "method.dpo", "the method's type is 'supervised'"),
    ({"method": {"type": "reinforcement", "reinforcement": {}}, "model": "o4-mini"}, "method.reinforcement.grader",
     "Missing required parameter"),
    ({"hyperparameters": {"n_epochs": 2}, "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}}},
     "hyperparameters", "deprecated"),
    ({"hyperparameters": {"batch_size": 0}}, "hyperparameters.batch_size", "below minimum value"),
    ({"integrations": [{"type": "wandb", "wandb": {}}]}, "integrations[0].wandb.project", "Missing required parameter"),
    ({"integrations": [{"type": "wandb", "wandb": {"project": "p"}}] * 6}, "integrations", "maximum length 5"),
    ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata", "too many properties"),
    ({"colour": "red"}, "colour", "Unrecognized request argument supplied: colour"),
])
def test_a_bad_create_is_the_apis_400_naming_the_param(base_client, use_profile, body, param, words):
    use_profile(Profile())
    sent = {"model": "gpt-4o-mini", "training_file": "file-any", **body}
    sent = {k: v for k, v in sent.items() if v is not None}
    with pytest.raises(openai.BadRequestError) as bad:
        base_client.post("/fine_tuning/jobs", body=sent, cast_to=object)
    assert bad.value.body["param"] == param and words in bad.value.body["message"], bad.value.body
    assert not list(base_client.fine_tuning.jobs.list())


def test_an_unknown_job_is_a_404(base_client, use_profile):
    use_profile(Profile())
    for read in (base_client.fine_tuning.jobs.retrieve, base_client.fine_tuning.jobs.list_events,
                 base_client.fine_tuning.jobs.checkpoints.list, base_client.fine_tuning.jobs.pause,
                 base_client.fine_tuning.jobs.resume):
        with pytest.raises(openai.NotFoundError, match="No fine-tuning job found with id 'ftjob-nope'"):
            read("ftjob-nope")


# -- without sockets: the engine alone -----------------------------------------------------------

_AUTH = {"authorization": "Bearer sk-test", "content-type": "application/json"}


def _engine(profile: Profile) -> Engine:
    engine = Engine(profile)
    files.store(engine.state, filename="train.jsonl", purpose="fine-tune", content=_jsonl(_chat(10)), file_id="file-train")
    return engine


def _create(engine: Engine, **body) -> dict:
    reply = engine.handle(Request("POST", "/v1/fine_tuning/jobs", _AUTH, json.dumps(
        {"model": "gpt-4o-mini", "training_file": "file-train", **body}).encode()))
    assert reply.status == 200, reply.body
    return reply.payload


def test_webhooks_are_announced_at_the_end(monkeypatch):
    announced = []
    monkeypatch.setattr(lifecycle, "emit", lambda call, kind, oid: announced.append((kind, oid)))
    engine = _engine(Profile())
    read = lambda job: engine.handle(Request("GET", f"/v1/fine_tuning/jobs/{job['id']}", _AUTH)).payload  # noqa: E731
    done = _create(engine, hyperparameters={"n_epochs": 1})
    assert [read(done)["status"] for _ in range(4)] == ["queued", "running", "running", "succeeded"]
    cancelled = _create(engine)
    engine.handle(Request("POST", f"/v1/fine_tuning/jobs/{cancelled['id']}/cancel", _AUTH))
    failed = _create(engine, training_file="file-nope")
    read(failed)
    assert announced == [("fine_tuning.job.succeeded", done["id"]), ("fine_tuning.job.cancelled", cancelled["id"]),
                         ("fine_tuning.job.failed", failed["id"])]


def test_a_handlers_partial_job_is_laid_over_and_its_status_followed():
    profile = Profile()

    @profile.fine_tuning.jobs
    def start_queued(request, state):
        return {"status": "queued", "metadata": {"by": "handler"}}

    engine = _engine(profile)
    job = _create(engine, hyperparameters={"n_epochs": 1})
    assert (job["status"], job["metadata"]) == ("queued", {"by": "handler"})
    seen = [engine.handle(Request("GET", f"/v1/fine_tuning/jobs/{job['id']}", _AUTH)).payload["status"] for _ in range(3)]
    assert seen == ["running", "running", "succeeded"]


def test_progress_by_time_moves_a_job_nobody_polls():
    profile = Profile()
    profile.fine_tuning.jobs(progress=0.1)
    engine = _engine(profile)
    job = _create(engine, hyperparameters={"n_epochs": 2})
    assert engine.tick() == 1
    assert engine.state.get("fine_tuning/jobs", job["id"])["status"] == "validating_files"  # not yet: 100 ms a step
    time.sleep(0.8)  # five steps of 100 ms: queued, running, two epochs, succeeded
    engine.tick()
    done = engine.state.get("fine_tuning/jobs", job["id"])
    assert done["status"] == "succeeded" and done["fine_tuned_model"].startswith("ft:gpt-4o-mini-2024-07-18:")
    assert engine.tick() == 0  # nothing left to move


def test_time_scale_makes_the_jobs_clock_run_faster():
    profile = Profile()
    profile.fine_tuning.jobs(progress=0.05, time_scale=3600)  # a 50 ms step is 3 minutes on the job's clock
    engine = _engine(profile)
    job = _create(engine, hyperparameters={"n_epochs": 2})
    time.sleep(0.4)
    engine.tick()
    done = engine.state.get("fine_tuning/jobs", job["id"])
    assert done["status"] == "succeeded" and done["finished_at"] - done["created_at"] >= 5 * 0.05 * 3600 * 0.9


def test_the_running_fake_moves_a_job_by_time_while_nobody_polls(fake, base_client, use_profile):
    profile = Profile()
    profile.fine_tuning.jobs(progress=0.05)
    use_profile(profile)
    job = base_client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=_upload(base_client, _jsonl(_chat(10))),
                                              hyperparameters={"n_epochs": 2})
    deadline = time.monotonic() + 10
    while fake.engine.state.get("fine_tuning/jobs", job.id)["status"] != "succeeded" and time.monotonic() < deadline:
        time.sleep(0.05)  # looking at the state, not polling the API
    assert fake.engine.state.get("fine_tuning/jobs", job.id)["status"] == "succeeded"
    done = base_client.fine_tuning.jobs.retrieve(job.id)
    assert done.fine_tuned_model in [m.id for m in base_client.models.list()]
