"""Evals that grade (issue 14): the real SDK makes evals and runs over inline items, uploaded files and samples
the profile answers, polls the runs, reads their output items, cancels and deletes, and runs and validates
graders, through both faces; bad bodies are checked as engine table tests."""

from __future__ import annotations

import io
import json
import time

import openai
import pytest

from proxy_addon import OpenAIError, Profile
from proxy_addon.engine import Engine, Request, lifecycle

_TERMINAL = ("completed", "failed", "canceled")
AUTH = {"authorization": "Bearer sk-test", "content-type": "application/json"}

EXACT = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}", "reference": "{{item.answer}}", "operation": "eq"}
CLOSE = {"type": "text_similarity", "name": "close", "input": "{{ sample.output_text }}", "reference": "{{ item.answer }}",
         "evaluation_metric": "fuzzy_match", "pass_threshold": 0.8}
WITH_SAMPLE = {"type": "custom", "item_schema": {"type": "object", "properties": {"question": {"type": "string"},
                                                                                   "answer": {"type": "string"}}},
               "include_sample_schema": True}
# (answer, what the model said): exact passes both; "paris" only the fuzzy match; "London" neither.
INLINE = [("Paris", "Paris"), ("Paris", "paris"), ("Paris", "London"), ("4", "4")]


@pytest.fixture(params=["proxy", "base-url"])
def sdk(request):
    """The SDK client of each face."""
    return request.getfixturevalue("client" if request.param == "proxy" else "base_client")


def _wait(sdk, eval_id: str, run_id: str, polls: int = 20):
    seen = []
    for _ in range(polls):
        run = sdk.evals.runs.retrieve(run_id, eval_id=eval_id)
        seen.append(run.status)
        if run.status in _TERMINAL:
            return run, seen
    raise AssertionError(f"run {run_id} never ended: {seen}")


def _inline(pairs) -> dict:
    return {"type": "jsonl", "source": {"type": "file_content", "content": [
        {"item": {"question": f"q{i}", "answer": answer}, "sample": {"output_text": said}} for i, (answer, said) in enumerate(pairs)]}}


def _criteria_results(run) -> dict[str, tuple[int, int]]:
    return {r.testing_criteria.rsplit("-", 5)[0]: (r.passed, r.failed) for r in run.per_testing_criteria_results}


def test_a_run_over_inline_items_grades_each_with_every_criterion(sdk, use_profile):
    use_profile(Profile())
    ev = sdk.evals.create(name="capitals", data_source_config=WITH_SAMPLE, testing_criteria=[EXACT, CLOSE],
                          metadata={"team": "qa"})
    assert ev.id.startswith("eval_") and ev.name == "capitals" and ev.metadata == {"team": "qa"}
    assert ev.data_source_config.type == "custom"
    assert set(ev.data_source_config.schema_["properties"]) == {"item", "sample"}
    ids = [c.id for c in ev.testing_criteria]
    assert ids[0].startswith("exact-") and ids[1].startswith("close-")

    run = sdk.evals.runs.create(ev.id, name="first", data_source=_inline(INLINE))
    assert (run.status, run.eval_id, run.name, run.result_counts.total) == ("queued", ev.id, "first", 0)
    assert run.report_url.endswith(f"{ev.id}?run_id={run.id}")
    done, seen = _wait(sdk, ev.id, run.id)
    assert seen == ["in_progress", "completed"]
    assert done.result_counts.model_dump() == {"total": 4, "errored": 0, "failed": 2, "passed": 2}
    assert _criteria_results(done) == {"exact": (2, 2), "close": (3, 1)}
    assert [r.testing_criteria for r in done.per_testing_criteria_results] == ids
    assert done.per_model_usage == []  # nothing was sampled, no model grader asked
    assert [r.id for r in sdk.evals.runs.list(ev.id)] == [run.id]
    assert [r.id for r in sdk.evals.runs.list(ev.id, status="completed")] == [run.id]
    assert list(sdk.evals.runs.list(ev.id, status="queued")) == []

    items = list(sdk.evals.runs.output_items.list(run.id, eval_id=ev.id))
    assert [o.datasource_item_id for o in items] == [0, 1, 2, 3]  # oldest first, as the API lists them
    assert [o.status for o in items] == ["pass", "fail", "fail", "pass"]
    assert [[(r.name, r.score, r.passed) for r in o.results] for o in items][1] == [(ids[0], 0.0, False), (ids[1], 1.0, True)]
    assert items[2].results[1].score < 0.8 and items[2].datasource_item == {"question": "q2", "answer": "Paris"}
    assert items[1].sample.output[0].content == "paris"
    failed = sdk.evals.runs.output_items.list(run.id, eval_id=ev.id, status="fail")
    assert [o.datasource_item_id for o in failed] == [1, 2]
    assert [o.datasource_item_id for o in sdk.evals.runs.output_items.list(run.id, eval_id=ev.id, status="pass")] == [0, 3]
    one = sdk.evals.runs.output_items.retrieve(items[2].id, eval_id=ev.id, run_id=run.id)
    assert one.model_dump() == items[2].model_dump()
    with pytest.raises(openai.NotFoundError):
        sdk.evals.runs.output_items.retrieve("outputitem_nope", eval_id=ev.id, run_id=run.id)
    assert sdk.evals.retrieve(ev.id).testing_criteria[0].id == ids[0]  # the generic resource's retrieve, same object


def test_a_run_over_an_uploaded_jsonl_file(sdk, use_profile):
    use_profile(Profile())
    ev = sdk.evals.create(data_source_config={"type": "custom", "item_schema": {"type": "object"}}, testing_criteria=[
        {"type": "string_check", "name": "mentions", "input": "{{item.text}}", "reference": "{{item.word}}", "operation": "ilike"}])
    lines = [{"item": {"text": "The Cat sat", "word": "cat"}}, {"item": {"text": "A dog", "word": "cat"}},
             {"item": {"text": "catalogue", "word": "CAT"}}]
    content = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    file_id = sdk.files.create(file=("items.jsonl", io.BytesIO(content)), purpose="evals").id
    run = sdk.evals.runs.create(ev.id, data_source={"type": "jsonl", "source": {"type": "file_id", "id": file_id}})
    done, _ = _wait(sdk, ev.id, run.id)
    assert done.status == "completed" and done.result_counts.model_dump() == {"total": 3, "errored": 0, "failed": 1, "passed": 2}
    assert [o.datasource_item for o in sdk.evals.runs.output_items.list(run.id, eval_id=ev.id)] == [line["item"] for line in lines]

    bad = sdk.files.create(file=("bad.jsonl", io.BytesIO(b'{"item": {"text": "x"}}\n{"text": "no item"}\n')), purpose="evals").id
    for source, code in ((bad, "invalid_file"), ("file-nope", "file_not_found")):
        failed, seen = _wait(sdk, ev.id, sdk.evals.runs.create(ev.id, data_source={"type": "jsonl", "source": {"type": "file_id", "id": source}}).id)
        assert seen == ["failed"] and failed.error.code == code and failed.error.message


def test_a_completions_run_samples_each_item_through_the_profile(sdk, use_profile):
    profile = Profile()
    asked = []

    @profile.chat.completions
    def answer(request, state):
        said = request.json["messages"][-1]["content"]
        asked.append((request.json["model"], request.json.get("temperature"), said))
        if "Atlantis" in said:
            raise OpenAIError(429, "Rate limit reached", code="rate_limit_exceeded")
        return {"France": "Paris", "Italy": "Rome"}.get(said.split()[-1].rstrip("?"), "I do not know")

    use_profile(profile)
    ev = sdk.evals.create(data_source_config=WITH_SAMPLE, testing_criteria=[EXACT])
    countries = [("France", "Paris"), ("Italy", "Rome"), ("Japan", "Tokyo"), ("Atlantis", "?")]
    run = sdk.evals.runs.create(ev.id, data_source={
        "type": "completions", "model": "gpt-4o-mini", "sampling_params": {"temperature": 0.2, "seed": 7},
        "input_messages": {"type": "template", "template": [
            {"role": "system", "content": "Answer with the capital only."},
            {"role": "user", "content": "What is the capital of {{item.country}}?"}]},
        "source": {"type": "file_content", "content": [{"item": {"country": c, "answer": a}} for c, a in countries]}})
    assert run.model == "gpt-4o-mini" and run.data_source.type == "completions"
    done, _ = _wait(sdk, ev.id, run.id)
    assert done.result_counts.model_dump() == {"total": 4, "errored": 1, "failed": 1, "passed": 2}
    assert [a[2] for a in asked] == [f"What is the capital of {c}?" for c, _ in countries]  # rendered per item
    assert {(a[0], a[1]) for a in asked} == {("gpt-4o-mini", 0.2)}
    usage = done.per_model_usage
    assert [(u.run_model_name, u.invocation_count) for u in usage] == [("gpt-4o-mini", 3)] and usage[0].total_tokens > 0

    items = list(sdk.evals.runs.output_items.list(run.id, eval_id=ev.id))
    assert [o.status for o in items] == ["pass", "pass", "fail", "error"]
    first = items[0].sample
    assert [(m.role, m.content) for m in first.input] == [("system", "Answer with the capital only."),
                                                          ("user", "What is the capital of France?")]
    assert first.output[0].content == "Paris" and first.model == "gpt-4o-mini" and first.finish_reason == "stop"
    assert (first.temperature, first.seed) == (0.2, 7) and first.usage.prompt_tokens > 0
    assert items[3].sample.error.code == "rate_limit_exceeded" and items[3].results == []


def test_label_model_graders_are_answered_by_the_profile(base_client, use_profile):
    sentiment = {"type": "label_model", "name": "sentiment", "model": "gpt-4o-mini", "labels": ["positive", "negative"],
                 "passing_labels": ["positive"], "input": [{"role": "developer", "content": "Classify the sentiment."},
                                                           {"role": "user", "content": "{{item.review}}"}]}
    reviews = {"type": "jsonl", "source": {"type": "file_content", "content": [
        {"item": {"review": "I love it"}}, {"item": {"review": "I hate it"}}, {"item": {"review": "Love, love, love"}}]}}
    data_source_config = {"type": "custom", "item_schema": {"type": "object"}}

    def counts(profile):
        use_profile(profile)
        ev = base_client.evals.create(data_source_config=data_source_config, testing_criteria=[sentiment])
        done, _ = _wait(base_client, ev.id, base_client.evals.runs.create(ev.id, data_source=reviews).id)
        return done.result_counts.model_dump(), ev.id, done

    by_default, _, _ = counts(Profile())  # the schema's first example: the first label
    assert by_default == {"total": 3, "errored": 0, "failed": 0, "passed": 3}

    fixed = Profile()
    fixed.evals(labels={"sentiment": "negative"})
    assert counts(fixed)[0] == {"total": 3, "errored": 0, "failed": 3, "passed": 0}

    judged = Profile()
    prompts = []

    @judged.chat.completions
    def judge(request, state):
        prompt = request.json["messages"][-1]["content"]
        prompts.append(prompt)
        return json.dumps({"steps": [], "result": "positive" if "love" in prompt.lower() else "negative"})

    found, eval_id, done = counts(judged)
    assert found == {"total": 3, "errored": 0, "failed": 1, "passed": 2}
    assert prompts == ["I love it", "I hate it", "Love, love, love"]
    assert [(u.run_model_name, u.invocation_count) for u in done.per_model_usage] == [("gpt-4o-mini", 3)]
    second = list(base_client.evals.runs.output_items.list(done.id, eval_id=eval_id))[1]
    assert second.results[0].sample["label"] == "negative" and second.results[0].type == "label_model"


def test_cancel_keeps_the_items_graded_so_far(sdk, use_profile):
    profile = Profile()
    profile.evals(items_per_step=2)
    use_profile(profile)
    ev = sdk.evals.create(data_source_config=WITH_SAMPLE, testing_criteria=[EXACT])
    run = sdk.evals.runs.create(ev.id, data_source=_inline([("a", "a")] * 5))
    assert sdk.evals.runs.retrieve(run.id, eval_id=ev.id).status == "in_progress"
    partway = sdk.evals.runs.retrieve(run.id, eval_id=ev.id)
    assert (partway.status, partway.result_counts.total) == ("in_progress", 2)
    canceled = sdk.evals.runs.cancel(run.id, eval_id=ev.id)
    assert canceled.status == "canceled" and canceled.result_counts.passed == 2  # the API's spelling, as runs.list's filter
    assert sdk.evals.runs.retrieve(run.id, eval_id=ev.id).status == "canceled"
    assert len(list(sdk.evals.runs.output_items.list(run.id, eval_id=ev.id))) == 2
    assert [r.id for r in sdk.evals.runs.list(ev.id, status="canceled")] == [run.id]
    with pytest.raises(openai.ConflictError):
        sdk.evals.runs.cancel(run.id, eval_id=ev.id)


def test_fail_at_fails_the_run(base_client, use_profile):
    profile = Profile()
    profile.evals(fail_at="completed", fail_message="The graders went home.")
    use_profile(profile)
    ev = base_client.evals.create(data_source_config=WITH_SAMPLE, testing_criteria=[EXACT])
    failed, seen = _wait(base_client, ev.id, base_client.evals.runs.create(ev.id, data_source=_inline(INLINE)).id)
    assert seen == ["in_progress", "failed"] and failed.error.message == "The graders went home."


def test_deleting_an_eval_takes_its_runs_and_their_output_items(sdk, use_profile, fake):
    use_profile(Profile())
    ev = sdk.evals.create(data_source_config=WITH_SAMPLE, testing_criteria=[EXACT])
    runs = [sdk.evals.runs.create(ev.id, data_source=_inline(INLINE)) for _ in range(2)]
    for run in runs:
        _wait(sdk, ev.id, run.id)
    gone = sdk.evals.runs.delete(runs[0].id, eval_id=ev.id)
    assert (gone.deleted, gone.run_id, gone.object) == (True, runs[0].id, "eval.run.deleted")
    with pytest.raises(openai.NotFoundError):
        sdk.evals.runs.output_items.list(runs[0].id, eval_id=ev.id)
    assert [r.id for r in sdk.evals.runs.list(ev.id)] == [runs[1].id]
    assert sdk.evals.delete(ev.id).deleted is True
    with pytest.raises(openai.NotFoundError):
        sdk.evals.runs.retrieve(runs[1].id, eval_id=ev.id)
    with pytest.raises(openai.NotFoundError):
        sdk.evals.runs.list(ev.id)
    assert not any(name.startswith(f"evals/{ev.id}") for name in fake.engine.state.snapshot()["collections"])


# -- graders ----------------------------------------------------------------------------------


def _run_grader(sdk, grader, sample, item=None):
    return sdk.fine_tuning.alpha.graders.run(grader=grader, model_sample=sample, **({"item": item} if item is not None else {}))


@pytest.mark.parametrize("metric, reward", [
    ("rouge_1", 5 / 6), ("rouge_l", 5 / 6), ("rouge_2", 0.6),  # by hand: 5 of 6 words, 3 of 5 bigrams shared; word counts 7 / (sqrt 8)^2
    ("cosine", 7 / 8), ("fuzzy_match", None), ("bleu", None), ("gleu", None), ("meteor", None),
])
def test_graders_run_scores_text_similarity(base_client, use_profile, metric, reward):
    use_profile(Profile())
    grader = {"type": "text_similarity", "name": "similar", "input": "{{sample.output_text}}", "reference": "{{item.reference}}",
              "evaluation_metric": metric}
    found = _run_grader(base_client, grader, "the cat sat on the mat", {"reference": "The cat is on the mat"})
    if reward is not None:
        assert found.reward == pytest.approx(reward)
    else:
        assert 0.1 < found.reward < 1.0
    same = _run_grader(base_client, grader, "the cat sat on the mat", {"reference": "the cat sat on the mat"})
    assert same.reward == pytest.approx(1.0, abs=0.01)  # METEOR's fragmentation penalty keeps it just under 1
    assert (found.metadata.name, found.metadata.type, found.metadata.sampled_model_name) == ("similar", "text_similarity", None)
    assert not any(v for k, v in found.metadata.errors.model_dump().items() if isinstance(v, bool))
    assert found.metadata.execution_time >= 0 and found.sub_rewards == {}


def test_graders_run_string_check_python_score_model_and_multi(sdk, use_profile):
    profile = Profile()
    profile.fine_tuning.alpha.graders(scores={"code": 0.25})
    use_profile(profile)
    check = {"type": "string_check", "name": "same", "input": "{{sample.output_json.city}}", "reference": "{{item.city}}", "operation": "eq"}
    assert _run_grader(sdk, check, '{"city": "Oslo"}', {"city": "Oslo"}).reward == 1.0
    assert _run_grader(sdk, check, '{"city": "Bergen"}', {"city": "Oslo"}).reward == 0.0
    missing = _run_grader(sdk, check, "not json", {"city": "Oslo"})
    assert missing.reward == 0.0 and missing.metadata.errors.invalid_variable_error is True

    python = {"type": "python", "name": "code", "source": "def grade(sample, item):\n    return 1.0\n"}
    assert _run_grader(sdk, python, "anything").reward == 0.25  # not run: the profile's score
    assert _run_grader(sdk, dict(python, name="other"), "anything").reward == 1.0

    scored = {"type": "score_model", "name": "quality", "model": "gpt-4o-mini", "range": [0, 10],
              "input": [{"role": "user", "content": "Score {{sample.output_text}} against {{item.reference}}"}]}
    found = _run_grader(sdk, scored, "an answer", {"reference": "the answer"})
    assert found.reward == 0.0 and found.metadata.sampled_model_name == "gpt-4o-mini"  # the schema's first example
    assert found.metadata.token_usage > 0 and set(found.api_model_grader_token_usage_per_model) == {"gpt-4o-mini"}

    multi = {"type": "multi", "name": "both", "calculate_output": "0.5 * same + 0.5 * max(code, 0.5) ^ 2",
             "graders": {"same": check, "code": python}}
    combined = _run_grader(sdk, multi, '{"city": "Oslo"}', {"city": "Oslo"})
    assert combined.reward == pytest.approx(0.5 + 0.5 * 0.25) and combined.sub_rewards == {"same": 1.0, "code": 0.25}
    assert combined.metadata.type == "multi"


def test_a_score_model_grader_asks_the_profile(base_client, use_profile):
    profile = Profile()

    @profile.chat.completions
    def judge(request, state):
        return json.dumps({"steps": [], "result": 42}) if "great" in request.json["messages"][-1]["content"] else "0.3"

    use_profile(profile)
    scored = {"type": "score_model", "name": "quality", "model": "o3-mini", "input": [{"role": "user", "content": "{{sample.output_text}}"}]}
    assert _run_grader(base_client, scored, "a great answer").reward == 1.0  # clamped to the default range 0..1
    assert _run_grader(base_client, scored, "a fair answer").reward == pytest.approx(0.3)  # a bare number will do


def test_graders_validate_answers_the_grader_or_the_apis_400(sdk, use_profile):
    use_profile(Profile())
    grader = {"type": "string_check", "name": "same", "input": "{{sample.output_text}}", "reference": "{{item.label}}", "operation": "eq"}
    assert sdk.fine_tuning.alpha.graders.validate(grader=grader).grader.model_dump(exclude_none=True) == grader
    bad = [({**grader, "operation": "is"}, "grader.operation"),
           ({"type": "python", "name": "p", "source": "def grade(sample):\n    return 1"}, "grader.source"),
           ({"type": "python", "name": "p", "source": "def grade(sample, item) return 1"}, "grader.source"),
           ({**grader, "input": "{{output.text}}"}, "grader.input"),
           ({"type": "label_model", "name": "l", "model": "m", "input": [], "labels": ["a"], "passing_labels": ["a"]}, "grader.type"),
           ({"type": "multi", "name": "m", "calculate_output": "same + other", "graders": {"same": grader}}, "grader.calculate_output"),
           ({"type": "multi", "name": "m", "calculate_output": "same", "graders": {"same": {**grader, "operation": "x"}}},
            "grader.graders.same.operation"),
           ({"type": "score_model", "name": "s", "model": "m", "input": [], "range": [1, 0]}, "grader.range")]
    for body, param in bad:
        with pytest.raises(openai.BadRequestError) as refused:
            sdk.fine_tuning.alpha.graders.validate(grader=body)
        assert refused.value.body["param"] == param, body
        with pytest.raises(openai.BadRequestError):
            _run_grader(sdk, body, "x")


# -- bad bodies, and time: engine table tests --------------------------------------------------


def _call(engine, method, path, body=None, query=None):
    reply = engine.handle(Request(method, path, AUTH, json.dumps(body).encode() if body is not None else b"", query=query or {}))
    return reply.status, json.loads(reply.body) if reply.body else None


CONFIG = {"type": "custom", "item_schema": {"type": "object"}}


@pytest.mark.parametrize("body, param", [
    ({"data_source_config": CONFIG}, "testing_criteria"),
    ({"testing_criteria": []}, "data_source_config"),
    ({"data_source_config": {"type": "files"}, "testing_criteria": []}, "data_source_config.type"),
    ({"data_source_config": {"type": "custom"}, "testing_criteria": []}, "data_source_config.item_schema"),
    ({"data_source_config": CONFIG, "testing_criteria": {}}, "testing_criteria"),
    ({"data_source_config": CONFIG, "testing_criteria": [{**EXACT, "input": "{{item.a}}", "operation": "equals"}]}, "testing_criteria[0].operation"),
    ({"data_source_config": CONFIG, "testing_criteria": [{**EXACT, "input": "{{item.a}}", "reference": "{{ sample.output_text }}"}]},
     "testing_criteria[0].reference"),  # no sample in this eval's data
    ({"data_source_config": WITH_SAMPLE, "testing_criteria": [{k: v for k, v in CLOSE.items() if k != "pass_threshold"}]},
     "testing_criteria[0].pass_threshold"),
    ({"data_source_config": WITH_SAMPLE, "testing_criteria": [{**CLOSE, "evaluation_metric": "rouge_9"}]}, "testing_criteria[0].evaluation_metric"),
    ({"data_source_config": CONFIG, "testing_criteria": [{"type": "label_model", "name": "l", "model": "m", "labels": ["a", "b"],
                                                          "passing_labels": ["c"], "input": []}]}, "testing_criteria[0].passing_labels"),
    ({"data_source_config": CONFIG, "testing_criteria": [{"type": "multi", "name": "m", "graders": {}, "calculate_output": "1"}]},
     "testing_criteria[0].type"),
    ({"data_source_config": CONFIG, "testing_criteria": [], "metadata": {"a": 1}}, "metadata.a"),
])
def test_a_bad_eval_is_the_apis_400_with_its_param(body, param):
    status, answer = _call(Engine(Profile()), "POST", "/v1/evals", body)
    assert (status, answer["error"]["param"], answer["error"]["type"]) == (400, param, "invalid_request_error"), answer


TEMPLATE = {"type": "template", "template": [{"role": "user", "content": "{{item.q}}"}]}
CONTENT = {"type": "file_content", "content": [{"item": {"q": "hi"}}]}


@pytest.mark.parametrize("body, param", [
    ({}, "data_source"),
    ({"data_source": {"type": "csv", "source": CONTENT}}, "data_source.type"),
    ({"data_source": {"type": "jsonl"}}, "data_source.source"),
    ({"data_source": {"type": "jsonl", "source": {"type": "stored_completions"}}}, "data_source.source.type"),
    ({"data_source": {"type": "jsonl", "source": {"type": "file_content"}}}, "data_source.source.content"),
    ({"data_source": {"type": "jsonl", "source": {"type": "file_id", "id": 5}}}, "data_source.source.id"),
    ({"data_source": {"type": "completions", "model": "gpt-4o", "source": CONTENT}}, "data_source.input_messages"),
    ({"data_source": {"type": "completions", "input_messages": TEMPLATE, "source": CONTENT}}, "data_source.model"),
    ({"data_source": {"type": "responses", "model": "gpt-4o", "source": CONTENT, "input_messages": {
        "type": "template", "template": [{"role": "user", "content": "{{sample.output_text}}"}]}}}, "data_source.input_messages.template[0].content"),
    ({"data_source": {"type": "completions", "model": "gpt-4o", "source": CONTENT,
                      "input_messages": {"type": "item_reference", "item_reference": "sample.x"}}}, "data_source.input_messages.item_reference"),
])
def test_a_bad_run_is_the_apis_400_with_its_param(body, param):
    engine = Engine(Profile())
    eval_id = _call(engine, "POST", "/v1/evals", {"data_source_config": CONFIG, "testing_criteria": []})[1]["id"]
    status, answer = _call(engine, "POST", f"/v1/evals/{eval_id}/runs", body)
    assert (status, answer["error"]["param"]) == (400, param), answer
    assert engine.state.all(f"evals/{eval_id}/runs") == []


def test_unknown_evals_and_bad_filters():
    engine = Engine(Profile())
    assert _call(engine, "POST", "/v1/evals/eval_nope/runs", {"data_source": _inline(INLINE)}) == (
        404, {"error": {"message": "No eval found with id 'eval_nope'.", "type": "invalid_request_error", "param": None, "code": None}})
    eval_id = _call(engine, "POST", "/v1/evals", {"data_source_config": WITH_SAMPLE, "testing_criteria": [EXACT]})[1]["id"]
    assert _call(engine, "GET", f"/v1/evals/{eval_id}/runs/evalrun_nope")[0] == 404
    assert _call(engine, "GET", f"/v1/evals/{eval_id}/runs", query={"status": "cancelled"})[1]["error"]["param"] == "status"
    run_id = _call(engine, "POST", f"/v1/evals/{eval_id}/runs", {"data_source": _inline(INLINE)})[1]["id"]
    assert _call(engine, "GET", f"/v1/evals/{eval_id}/runs/{run_id}/output_items", query={"status": "passed"})[1]["error"]["param"] == "status"
    assert _call(engine, "GET", "/v1/evals", query={"order_by": "name"})[1]["error"]["param"] == "order_by"


def test_progress_by_time_moves_a_run_nobody_polls_and_announces_its_end():
    profile = Profile()
    profile.evals(progress=0.05)
    profile.webhook("http://127.0.0.1:9/hook")  # somewhere to send them: the outbox keeps the events
    engine = Engine(profile)
    eval_id = _call(engine, "POST", "/v1/evals", {"data_source_config": WITH_SAMPLE, "testing_criteria": [EXACT]})[1]["id"]
    run_id = _call(engine, "POST", f"/v1/evals/{eval_id}/runs", {"data_source": _inline(INLINE)})[1]["id"]
    assert engine.tick() == 1
    assert engine.state.get(f"evals/{eval_id}/runs", run_id)["status"] == "queued"  # not yet: 50 ms a step
    time.sleep(0.25)
    engine.tick()
    done = engine.state.get(f"evals/{eval_id}/runs", run_id)
    assert done["status"] == "completed" and done["result_counts"]["passed"] == 2
    assert [(e["type"], e["data"]["id"]) for e in engine.state.all(lifecycle.OUTBOX)] == [("eval.run.succeeded", run_id)]
    assert engine.tick() == 0

    canceled = _call(engine, "POST", f"/v1/evals/{eval_id}/runs", {"data_source": _inline(INLINE)})[1]["id"]
    assert _call(engine, "POST", f"/v1/evals/{eval_id}/runs/{canceled}/cancel")[1]["status"] == "canceled"
    assert engine.state.all(lifecycle.OUTBOX)[-1]["type"] == "eval.run.canceled"


def test_stored_completions_and_responses_are_data_sources_and_responses_make_samples(base_client, use_profile):
    profile = Profile()

    @profile.responses
    def answer(request, state):
        return "Bonjour" if "French" in str(request.json["input"]) else None

    use_profile(profile)
    base_client.chat.completions.create(model="gpt-4o-mini", store=True, metadata={"app": "help"},
                                        messages=[{"role": "user", "content": "hello there"}])
    base_client.chat.completions.create(model="gpt-4o-mini", store=True, messages=[{"role": "user", "content": "unrelated"}])
    ev = base_client.evals.create(data_source_config={"type": "stored_completions", "metadata": {"app": "help"}}, testing_criteria=[
        {"type": "string_check", "name": "echoes", "input": "{{sample.output_text}}", "reference": "hello", "operation": "like"}])
    assert ev.data_source_config.type == "stored_completions" and ev.data_source_config.metadata == {"app": "help"}
    stored = base_client.evals.runs.create(ev.id, data_source={"type": "completions", "source": {
        "type": "stored_completions", "metadata": {"app": "help"}}})
    done, _ = _wait(base_client, ev.id, stored.id)
    assert done.result_counts.model_dump() == {"total": 1, "errored": 0, "failed": 0, "passed": 1}
    item = list(base_client.evals.runs.output_items.list(stored.id, eval_id=ev.id))[0]
    assert item.datasource_item["input"] == [{"role": "user", "content": "hello there"}]

    greeting = base_client.evals.create(data_source_config={"type": "custom", "item_schema": {"type": "object"}, "include_sample_schema": True},
                                        testing_criteria=[{"type": "string_check", "name": "french", "input": "{{sample.output_text}}",
                                                           "reference": "{{item.expected}}", "operation": "eq"}])
    run = base_client.evals.runs.create(greeting.id, data_source={
        "type": "responses", "model": "gpt-4o", "input_messages": {"type": "template", "template": [
            {"role": "user", "content": "Greet me in {{item.language}}"}]},
        "source": {"type": "file_content", "content": [{"item": {"language": "French", "expected": "Bonjour"}},
                                                       {"item": {"language": "German", "expected": "Hallo"}}]}})
    done, _ = _wait(base_client, greeting.id, run.id)
    assert done.result_counts.model_dump() == {"total": 2, "errored": 0, "failed": 1, "passed": 1}
    assert [(u.run_model_name, u.invocation_count) for u in done.per_model_usage] == [("gpt-4o", 2)]
    assert list(base_client.evals.runs.output_items.list(run.id, eval_id=greeting.id))[0].sample.output[0].content == "Bonjour"
