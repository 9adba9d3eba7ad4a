"""The generic resource and the route table (issue 13): table tests of the engine, no sockets.

Every row of the generated table is served; a row without a hand-written module behaves by its
shape (create / list / retrieve / update / delete / action / content / singleton / compute).
"""

from __future__ import annotations

import json
import re

import pytest

from proxy_addon import Profile
from proxy_addon.engine import Engine, Request, routes, table
from proxy_addon.engine.bodies import problem
from proxy_addon.engine.instances import instance, resolve

AUTH = {"authorization": "Bearer sk-test-1234567890", "content-type": "application/json"}


def call(engine, method, path, body=None, query=None):
    raw = json.dumps(body).encode() if body is not None else b""
    reply = engine.handle(Request(method, path, AUTH, raw, query=query or {}))
    return reply.status, (json.loads(reply.body) if reply.body and reply.headers.get("content-type", "").startswith("application/json") else reply.body)


def test_every_row_of_the_table_is_routed_once():
    keys = [(r.method, re.sub(r"\{[^}]+\}", "{}", r.template)) for r in routes.ROUTES]
    assert len(keys) == len(set(keys))
    routed = {(r.method, r.template) for r in routes.ROUTES}
    for row in table.ROWS:
        found, params = routes.match(row.method, re.sub(r"\{([^}]+)\}", r"x_\1", row.path))
        assert (found.method, found.row) == (row.method, row), row.name
        assert all(v.startswith("x_") for v in params.values())
    assert ("POST", "/v1/traces/ingest") in routed


def test_fixed_segments_win_and_unknown_paths_are_invalid_urls():
    assert routes.match("POST", "/v1/threads/runs")[0].name == "beta.threads.create_and_run"
    assert routes.match("POST", "/v1/threads/thread_1")[0].name == "beta.threads.update"
    assert routes.match("GET", "/v1/models/")[0].name == "models.list"  # a trailing slash is the same path
    for method, path in [("GET", "/v1/nope"), ("DELETE", "/v1/chat/completions"), ("GET", "/v1//models"), ("GET", "/v1/files/a/b/c")]:
        with pytest.raises(Exception) as e:
            routes.match(method, path)
        assert e.value.status == 404 and e.value.message == f"Invalid URL ({method} {path})"


@pytest.mark.parametrize("name", sorted({r.returns for r in table.ROWS if r.returns} | {r.item for r in table.ROWS if r.item}))
def test_every_sdk_type_the_table_names_has_a_valid_instance(name):
    tp = resolve(name)
    assert problem(tp, instance(tp)) is None


GENERIC = [r for r in routes.ROUTES if getattr(r.handler, "kind", None)]


@pytest.mark.parametrize("route", GENERIC, ids=lambda r: f"{r.method} {r.template}")
def test_no_generic_row_answers_a_500_to_an_empty_request(route):
    """Unknown ids, empty bodies: the real API's 400 or 404, or an answer; never a server error."""
    engine = Engine(Profile())
    path = re.sub(r"\{[^}]+\}", "unknown_1", route.template)
    status, body = call(engine, route.method, path, {} if route.method != "GET" else None)
    assert status in (200, 204, 400, 404), (status, body)
    if status == 200 and route.row.returns and isinstance(body, dict):
        assert problem(resolve(route.row.returns), body) is None
    if status >= 400:
        assert set(body["error"]) == {"message", "type", "param", "code"}


def test_create_retrieve_list_update_delete_of_a_generic_collection():
    engine = Engine(Profile())
    project = call(engine, "POST", "/v1/organization/projects", {"name": "p"})[1]
    accounts = f"/v1/organization/projects/{project['id']}/service_accounts"
    status, f = call(engine, "POST", accounts, {"name": "grading"})
    assert status == 200 and f["id"].startswith("svc_acct_") and f["name"] == "grading"  # the API's prefix
    assert f["object"] == "organization.project.service_account"
    assert call(engine, "GET", f"{accounts}/{f['id']}")[1]["name"] == "grading"
    status, page = call(engine, "GET", accounts)
    assert [a["id"] for a in page["data"]] == [f["id"]] and page["has_more"] is False
    status, changed = call(engine, "POST", f"{accounts}/{f['id']}", {"name": "renamed"})
    assert status == 200 and changed["name"] == "renamed" and call(engine, "GET", f"{accounts}/{f['id']}")[1]["name"] == "renamed"
    status, gone = call(engine, "DELETE", f"{accounts}/{f['id']}")
    assert status == 200 and gone["deleted"] is True and gone["id"] == f["id"]
    status, missing = call(engine, "GET", f"{accounts}/{f['id']}")
    assert status == 404 and missing["error"]["message"] == f"No service account found with id '{f['id']}'."


def test_children_live_under_their_parent_and_go_with_it():
    engine = Engine(Profile())
    group_id = call(engine, "POST", "/v1/organization/groups", {"name": "graders"})[1]["id"]
    status, member = call(engine, "POST", f"/v1/organization/groups/{group_id}/users", {"user_id": "user_abc"})
    assert status == 200 and member["user_id"] == "user_abc"
    assert [u["id"] for u in call(engine, "GET", f"/v1/organization/groups/{group_id}/users")[1]["data"]] == ["user_abc"]
    assert call(engine, "GET", "/v1/organization/groups/group_other/users")[0] == 404  # no such parent
    assert call(engine, "DELETE", f"/v1/organization/groups/{group_id}")[0] == 200
    assert call(engine, "GET", f"/v1/organization/groups/{group_id}/users/user_abc")[0] == 404
    assert not any(name.startswith(f"organization/groups/{group_id}/") for name in engine.state.snapshot()["collections"])


def test_actions_move_the_status_the_verb_names():
    engine = Engine(Profile())
    file_id = engine.state.new_id("file-")
    batch = call(engine, "POST", "/v1/batches", {"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"})[1]
    assert batch["status"] == "validating" and batch["endpoint"] == "/v1/chat/completions"
    assert call(engine, "POST", f"/v1/batches/{batch['id']}/cancel")[1]["status"] == "cancelling"  # tests/test_batches.py
    assert call(engine, "GET", f"/v1/batches/{batch['id']}")[1]["status"] == "cancelled"
    job = call(engine, "POST", "/v1/fine_tuning/jobs", {"model": "gpt-4o-mini", "training_file": file_id})[1]
    assert job["id"].startswith("ftjob-") and job["model"] == "gpt-4o-mini-2024-07-18"  # tests/test_fine_tuning.py
    assert call(engine, "POST", f"/v1/fine_tuning/jobs/{job['id']}/cancel")[1]["status"] == "cancelled"
    project = call(engine, "POST", "/v1/organization/projects", {"name": "p"})[1]
    assert call(engine, "POST", f"/v1/organization/projects/{project['id']}/archive")[1]["status"] == "archived"


def test_a_singleton_is_its_types_defaults_until_set_and_cleared_by_delete():
    engine = Engine(Profile())
    project = call(engine, "POST", "/v1/organization/projects", {"name": "p"})[1]
    limit = f"/v1/organization/projects/{project['id']}/spend_limit"
    status, first = call(engine, "GET", limit)
    assert status == 200 and first["object"] == "project.spend_limit" and first["threshold_amount"] == 0
    assert call(engine, "POST", limit, {"threshold_amount": 42})[1]["error"]["param"] == "currency"
    assert call(engine, "POST", limit, {"currency": "usd", "interval": "month", "threshold_amount": 42})[1]["error"] == {
        "message": "Invalid value: 'usd'. Supported values are: 'USD'.", "type": "invalid_request_error",
        "param": "currency", "code": "invalid_value"}
    set_to = {"currency": "USD", "interval": "month", "threshold_amount": 42}
    assert call(engine, "POST", limit, set_to)[1]["threshold_amount"] == 42
    assert call(engine, "GET", limit)[1] == {**first, **set_to}
    assert call(engine, "DELETE", limit)[0] == 200
    assert call(engine, "GET", limit)[1] == first
    assert call(engine, "GET", "/v1/organization/projects/proj_nope/spend_limit")[0] == 404


def test_computes_and_the_agents_trace_upload():
    engine = Engine(Profile())
    status, images = call(engine, "POST", "/v1/images/generations", {"prompt": "a cat", "model": "gpt-image-1"})
    assert status == 200 and problem(resolve("openai.types.images_response:ImagesResponse"), images) is None
    assert call(engine, "POST", "/v1/traces/ingest", {"data": [{"object": "trace"}]})[0] == 204


def test_a_required_param_missing_is_the_real_apis_400():
    engine = Engine(Profile())
    status, body = call(engine, "POST", "/v1/batches", {"endpoint": "/v1/chat/completions", "completion_window": "24h"})
    assert status == 400 and body["error"]["param"] == "input_file_id" and body["error"]["code"] == "missing_required_parameter"


@pytest.mark.parametrize("body, param, code, words", [
    ({"input_file_id": "f", "endpoint": "/v1/chat/completions", "completion_window": "24h", "colour": "red"},
     "colour", "unknown_parameter", "Unrecognized request argument supplied: colour"),
    ({"input_file_id": 7, "endpoint": "/v1/chat/completions", "completion_window": "24h"},
     "input_file_id", "invalid_type", "expected a string, but got an integer instead"),
    ({"input_file_id": "f", "endpoint": "/v1/nope", "completion_window": "24h"}, "endpoint", "invalid_value", "Supported values are"),
    ({"input_file_id": "f", "endpoint": "/v1/chat/completions", "completion_window": "24h", "metadata": {"k": 1}},
     "metadata.k", "invalid_type", "expected a string"),
])
def test_a_body_its_params_type_refuses_is_the_real_apis_400(body, param, code, words):
    status, answer = call(Engine(Profile()), "POST", "/v1/batches", body)
    assert status == 400 and (answer["error"]["param"], answer["error"]["code"]) == (param, code), answer
    assert words in answer["error"]["message"]
    relaxed = call(Engine(Profile(validate_requests=False)), "POST", "/v1/batches", body)
    assert relaxed[0] == 200  # a profile can let odd bodies through


def test_a_generic_row_asked_to_stream_says_so():
    engine = Engine(Profile())
    status, body = call(engine, "POST", "/v1/agents/sessions", {"stream": True})
    assert status == 400 and body["error"]["param"] == "stream"


def test_a_profile_rule_governs_a_generic_group():
    profile = Profile()
    profile.batches(failures=1, failure_status=429)

    @profile.fine_tuning.jobs
    def job(request, state):
        return {"status": "running"} if request.method == "POST" else None

    engine = Engine(profile)
    body = {"input_file_id": "file-1", "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    assert call(engine, "POST", "/v1/batches", body)[0] == 429
    assert call(engine, "POST", "/v1/batches", body)[0] == 200
    assert call(engine, "POST", "/v1/fine_tuning/jobs", {"model": "gpt-4o-mini", "training_file": "file-1"})[1]["status"] == "running"


def test_the_route_table_is_what_the_installed_sdk_gives():
    import subprocess
    import sys
    from pathlib import Path

    import openai

    if openai.__version__ != table.SDK_VERSION:
        pytest.skip(f"the table is of openai {table.SDK_VERSION}; {openai.__version__} is installed")
    tool = Path(__file__).resolve().parent.parent / "tools" / "generate_table.py"
    done = subprocess.run([sys.executable, str(tool), "--check"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


# -- one rule per route, over its group's (issue 13) -----------------------------------------------


CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


def test_a_route_rule_governs_that_route_alone():
    profile = Profile()
    profile.chat.completions.create(failures=1)
    engine = Engine(profile)
    assert call(engine, "GET", "/v1/chat/completions")[0] == 200  # the list does not use up create's failure
    assert call(engine, "POST", "/v1/chat/completions", CHAT)[0] == 500
    assert call(engine, "POST", "/v1/chat/completions", CHAT)[0] == 200


def test_a_group_rules_failures_count_each_routes_own_calls():
    profile = Profile()
    profile.chat.completions(failures=1)
    engine = Engine(profile)
    assert call(engine, "GET", "/v1/chat/completions")[0] == 500
    assert call(engine, "POST", "/v1/chat/completions", CHAT)[0] == 500  # its own first call
    assert call(engine, "POST", "/v1/chat/completions", CHAT)[0] == 200
    assert engine.state.call_count("chat.completions") == 3 and engine.state.call_count("chat.completions.create") == 2


def test_a_route_rule_overrides_only_what_it_was_given():
    profile = Profile()
    profile.chat.completions(choices=[{"message": {"content": "from the group"}}], failures=1, failure_status=429)
    profile.chat.completions.create(failures=0)
    engine = Engine(profile)
    status, body = call(engine, "POST", "/v1/chat/completions", CHAT)
    assert status == 200 and body["choices"][0]["message"]["content"] == "from the group"

    @profile.chat.completions.create
    def mine(request, state):
        return "from the route"

    assert call(engine, "POST", "/v1/chat/completions", CHAT)[1]["choices"][0]["message"]["content"] == "from the route"
    assert call(engine, "GET", "/v1/chat/completions")[0] == 429  # the group's failure, on the list


def test_an_alias_names_the_same_route():
    profile = Profile()
    profile.beta.chat.completions.create(failures=1)  # the SDK's `client.beta.chat` is `client.chat`
    engine = Engine(profile)
    assert call(engine, "POST", "/v1/chat/completions", CHAT)[0] in (200, 500)


# -- one handler contract, on every route (issue 13) ---------------------------------------------------


def test_a_routes_own_handler_is_laid_over_what_its_module_answers():
    from proxy_addon.engine import Reply

    profile = Profile()

    @profile.beta.assistants.retrieve
    def named(request, state):
        return {"name": f"seen {request.params['assistant_id']}"}

    engine = Engine(profile)
    made = call(engine, "POST", "/v1/assistants", {"model": "gpt-4o", "name": "mine"})[1]
    assert made["name"] == "mine"  # the create is not the retrieve's
    assert call(engine, "GET", f"/v1/assistants/{made['id']}")[1]["name"] == f"seen {made['id']}"

    @profile.beta.threads
    def thread(request, state):
        return {"metadata": {"from": "handler"}} if request.route == "beta.threads.create" else None

    assert call(engine, "POST", "/v1/threads", {})[1]["metadata"] == {"from": "handler"}  # no longer thrown away

    @profile.batches.create
    def whole(request, state):
        return Reply.json(202, {"anything": "at all"}, {"x-mine": "1"})

    status, body = call(engine, "POST", "/v1/batches", {"input_file_id": "f", "endpoint": "/v1/chat/completions",
                                                         "completion_window": "24h"})
    assert (status, body) == (202, {"anything": "at all"}) and engine.state.all("batches") == []


def test_a_generic_handlers_error_comes_before_any_change_and_a_wrong_answer_is_loud():
    from proxy_addon import OpenAIError

    profile = Profile()

    @profile.admin.organization.groups
    def refuse(request, state):
        if request.method == "POST":
            raise OpenAIError(429, "slow down")
        return "not a dict"

    engine = Engine(profile)
    assert call(engine, "POST", "/v1/organization/groups", {"name": "graders"})[0] == 429
    assert engine.state.all("organization/groups") == []
    status, body = call(engine, "GET", "/v1/organization/groups")
    assert status == 500 and "handler answered a str" in body["error"]["message"]


@pytest.mark.parametrize("path, body", [
    ("/v1/chat/completions", {**CHAT, "colour": "red"}),
    ("/v1/responses", {"model": "gpt-4o", "input": "hi", "colour": "red"}),
    ("/v1/assistants", {"model": "gpt-4o", "colour": "red"}),
    ("/v1/embeddings", {"model": "text-embedding-3-small", "input": "hi", "colour": "red"}),
])
def test_a_field_the_sdk_does_not_have_is_unrecognized_on_hand_written_rows_too(path, body):
    status, answer = call(Engine(Profile()), "POST", path, body)
    assert status == 400 and answer["error"] == {"message": "Unrecognized request argument supplied: colour",
                                                 "type": "invalid_request_error", "param": "colour", "code": "unknown_parameter"}
    assert call(Engine(Profile(validate_requests=False)), "POST", path, body)[0] == 200
