"""Webhooks: the running fake POSTs the API's events to the endpoints the user set (the profile's
`profile.webhook(...)`, the control API's `POST /_fake/webhooks`), signed so that the SDK's own
`client.webhooks.unwrap` verifies them, retried with backoff, every attempt journaled.

A real HTTP receiver on a free loopback port records what arrives; the real SDK drives the fake."""

from __future__ import annotations

import http.server
import io
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import openai
import pytest
import requests
from openai.types.webhooks import BatchCompletedWebhookEvent, ResponseCompletedWebhookEvent
from rich.console import Console

from proxy_addon import Profile
from proxy_addon.engine import lifecycle
from proxy_addon.engine import webhook_endpoints as hooks
from proxy_addon.engine.state import State
from proxy_addon.journal import Entry
from proxy_addon.profile import ProfileError, load
from proxy_addon.webhooks import USER_AGENT, body_of, signature

from conftest import wait_for

SECRET = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGVzdHMtMzItYnl0ZXMhIQ=="  # base64 of "secret-key-for-tests-32-bytes!!"
OTHER_SECRET = "whsec_" + "b3RoZXItc2VjcmV0LWtleS1ub3QtdGhlLXJpZ2h0IQ=="


# -- a local receiver -------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]  # names in lower case
    body: bytes
    at: float


class Receiver:
    """An HTTP server on 127.0.0.1, port 0, that records every POST and answers `answer(n)` (n: 1 for the
    first request) after `delay` seconds."""

    def __init__(self, answer: Callable[[int], int] = lambda n: 200, delay: float = 0.0) -> None:
        self.got: list[Received] = []
        self.answer, self.delay = answer, delay
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with receiver.lock:  # concurrent deliveries: each request its own number
                    receiver.got.append(Received({k.lower(): v for k, v in self.headers.items()}, body, time.monotonic()))
                    n = len(receiver.got)
                time.sleep(receiver.delay)
                status = receiver.answer(n)
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def wait(self, n: int, timeout: float = 10.0) -> list[Received]:
        assert wait_for(lambda: len(self.got) >= n, timeout), f"{len(self.got)} of {n} webhooks arrived: {self.got}"
        return self.got

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(**kwargs) -> Receiver:
        made.append(Receiver(**kwargs))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture(params=["proxy", "base-url"])
def sdk(request):
    """The SDK client of each face."""
    return request.getfixturevalue("client" if request.param == "proxy" else "base_client")


def deliveries(fake, url: str) -> list[Entry]:
    """The journal's webhook records for one receiver."""
    return [e for e in fake.journal.entries(kind="webhook") if e.path == url]


def run_batch(sdk) -> str:
    """A one-line batch, created; the profile's `progress=` finishes it without polls. Its id."""
    line = {"custom_id": "q1", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}}
    file_id = sdk.files.create(file=("batch.jsonl", io.BytesIO(json.dumps(line).encode() + b"\n")), purpose="batch").id
    return sdk.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h").id


def control(fake, method: str, path: str, body: dict | None = None, token: str | None = None) -> requests.Response:
    """A control request to the session fake's base-URL face, with its token."""
    with requests.Session() as session:
        session.trust_env = False
        return session.request(method, fake.proxy_url + path, json=body, timeout=10,
                               headers={"authorization": f"Bearer {fake.control_token if token is None else token}"})


def batch_profile(**kwargs) -> Profile:
    profile = Profile(**kwargs)
    profile.batches(progress=0.05)
    return profile


# -- end to end --------------------------------------------------------------------------


def test_a_finished_batch_is_announced_signed_as_the_api_does(sdk, fake, use_profile, receiver):
    hook = receiver()
    profile = batch_profile()
    profile.webhook(hook.url, secret=SECRET)
    use_profile(profile)
    batch_id = run_batch(sdk)

    got, = hook.wait(1)
    event = sdk.webhooks.unwrap(got.body, got.headers, secret=SECRET)  # the SDK checks the signature and the age
    assert type(event) is BatchCompletedWebhookEvent
    assert (event.type, event.data.id, event.object) == ("batch.completed", batch_id, "event")
    assert event.id.startswith("evt_") and abs(event.created_at - time.time()) < 60
    assert list(json.loads(got.body)) == ["id", "object", "created_at", "type", "data"]
    assert json.loads(got.body)["data"] == {"id": batch_id}
    assert got.headers["content-type"] == "application/json" and got.headers["user-agent"] == USER_AGENT
    assert got.headers["webhook-id"].startswith("wh_") and got.headers["webhook-signature"].startswith("v1,")
    assert sdk.batches.retrieve(batch_id).status == "completed"

    entry, = deliveries(fake, hook.url)
    assert (entry.kind, entry.event, entry.attempt, entry.status, entry.outcome) == \
        ("webhook", "batch.completed", 1, 200, "delivered")
    assert entry.request_id == got.headers["webhook-id"] and entry.note == batch_id and entry.error is None
    assert entry not in fake.journal.entries()  # not a call: the fixture's call counts are the app's


def test_a_wrong_secret_or_a_changed_body_fails_the_sdks_check(base_client, fake, use_profile, receiver):
    hook = receiver()
    profile = batch_profile()
    profile.webhook(hook.url, secret=SECRET)
    use_profile(profile)
    run_batch(base_client)
    got, = hook.wait(1)
    with pytest.raises(openai.InvalidWebhookSignatureError):
        base_client.webhooks.unwrap(got.body, got.headers, secret=OTHER_SECRET)
    with pytest.raises(openai.InvalidWebhookSignatureError):
        base_client.webhooks.unwrap(got.body.replace(b"batch.completed", b"batch.cancelled"), got.headers, secret=SECRET)
    base_client.webhooks.verify_signature(got.body, got.headers, secret=SECRET)


def test_a_failed_delivery_is_retried_with_the_same_webhook_id_and_both_are_journaled(base_client, fake, use_profile,
                                                                                     receiver):
    hook = receiver(answer=lambda n: 500 if n == 1 else 200)
    profile = batch_profile(webhook_backoff=[0.3, 5])
    profile.webhook(hook.url, secret=SECRET)
    use_profile(profile)
    batch_id = run_batch(base_client)

    first, second = hook.wait(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] and first.body == second.body
    assert second.at - first.at >= 0.3 - 0.05  # the backoff's wait
    base_client.webhooks.unwrap(second.body, second.headers, secret=SECRET)  # re-signed for its own timestamp
    assert wait_for(lambda: len(deliveries(fake, hook.url)) == 2)
    failed, delivered = deliveries(fake, hook.url)
    assert (failed.attempt, failed.status, failed.outcome, failed.error) == (1, 500, "retrying in 0.3 s", "answered 500")
    assert (delivered.attempt, delivered.status, delivered.outcome) == (2, 200, "delivered")
    assert failed.request_id == delivered.request_id == first.headers["webhook-id"]
    assert failed.note == delivered.note == batch_id
    time.sleep(0.3)
    assert len(hook.got) == 2  # delivered: no more


def test_a_receiver_that_never_answers_2xx_is_given_up_after_the_last_retry(base_client, fake, use_profile, receiver):
    hook = receiver(answer=lambda n: 503)
    profile = batch_profile(webhook_backoff=[0.05, 0.1])
    profile.webhook(hook.url, secret=SECRET)
    use_profile(profile)
    run_batch(base_client)

    got = hook.wait(3)
    assert len({r.headers["webhook-id"] for r in got}) == 1
    assert wait_for(lambda: len(deliveries(fake, hook.url)) == 3)
    assert [(e.attempt, e.status, e.outcome) for e in deliveries(fake, hook.url)] == [
        (1, 503, "retrying in 0.05 s"), (2, 503, "retrying in 0.1 s"), (3, 503, "gave up")]
    time.sleep(0.4)
    assert len(hook.got) == 3


def test_a_receiver_that_does_not_answer_in_time_is_a_failed_attempt(base_client, fake, use_profile, receiver):
    slow = receiver(delay=1.5)
    profile = batch_profile(webhook_timeout=0.3, webhook_backoff=[])
    profile.webhook(slow.url, secret=SECRET)
    use_profile(profile)
    run_batch(base_client)
    assert wait_for(lambda: deliveries(fake, slow.url))
    entry, = deliveries(fake, slow.url)
    assert (entry.status, entry.outcome, entry.error) == (0, "gave up", "no answer within 0.3 s")
    assert 300 - 50 <= entry.duration_ms < 1500 - 50


def test_nothing_listening_is_a_failed_attempt_too(base_client, fake, use_profile, receiver):
    gone = receiver()
    url = gone.url
    gone.close()
    profile = batch_profile(webhook_backoff=[])
    profile.webhook(url, secret=SECRET)
    use_profile(profile)
    run_batch(base_client)
    assert wait_for(lambda: deliveries(fake, url))
    entry, = deliveries(fake, url)
    assert entry.status == 0 and entry.outcome == "gave up" and "ConnectError" in entry.error


def test_events_go_only_where_their_type_is_wanted(client, fake, use_profile, receiver):
    batches, responses, jobs = receiver(), receiver(), receiver()
    profile = batch_profile()
    profile.webhook(batches.url, secret=SECRET, events=["batch.*"])
    profile.webhook(responses.url, secret=SECRET, events=["response.completed"])
    profile.webhook(jobs.url, secret=SECRET, events=["fine_tuning.job.*"])
    use_profile(profile)
    batch_id = run_batch(client)
    response = client.responses.create(model="gpt-4o", input="hi", background=True)
    client.responses.retrieve(response.id)
    client.responses.retrieve(response.id)

    got_batch, = batches.wait(1)
    got_response, = responses.wait(1)
    assert json.loads(got_batch.body)["data"]["id"] == batch_id
    assert json.loads(got_response.body)["data"]["id"] == response.id
    time.sleep(0.3)
    assert (len(batches.got), len(responses.got), jobs.got) == (1, 1, [])


def test_background_responses_announce_how_they_ended(client, fake, use_profile, receiver):
    hook = receiver()
    profile = Profile()
    profile.webhook(hook.url, secret=SECRET, events=["response.*"])
    use_profile(profile)
    polled = client.responses.create(model="gpt-4o", input="hi", background=True)
    assert polled.status == "queued"
    assert client.responses.retrieve(polled.id).status == "in_progress"
    time.sleep(0.2)
    assert hook.got == []  # not finished yet: nothing to say
    assert client.responses.retrieve(polled.id).status == "completed"
    streamed = list(client.responses.create(model="gpt-4o", input="hi", background=True, stream=True))[-1].response
    cancelled = client.responses.create(model="gpt-4o", input="hi", background=True)
    client.responses.cancel(cancelled.id)
    client.responses.create(model="gpt-4o", input="not in the background")

    got = hook.wait(3)
    events = [client.webhooks.unwrap(r.body, r.headers, secret=SECRET) for r in got]
    assert sorted((e.type, e.data.id) for e in events) == sorted([
        ("response.completed", polled.id), ("response.completed", streamed.id), ("response.cancelled", cancelled.id)])
    assert {type(e) for e in events if e.type == "response.completed"} == {ResponseCompletedWebhookEvent}
    time.sleep(0.3)
    assert len(hook.got) == 3  # a response not in the background announces nothing, as in the API


def test_an_endpoint_registered_through_the_control_api(base_client, fake, use_profile, receiver):
    hook = receiver()
    use_profile(batch_profile())
    assert control(fake, "POST", "/_fake/webhooks", {"url": hook.url}, token="wrong").status_code == 401
    made = control(fake, "POST", "/_fake/webhooks", {"url": hook.url, "events": ["batch.completed"]})
    assert made.status_code == 200, made.text
    endpoint = made.json()
    assert endpoint["id"].startswith("we_") and endpoint["url"] == hook.url and endpoint["events"] == ["batch.completed"]
    hooks.check_secret(endpoint["secret"])  # made for it, in the Standard Webhooks form
    listed = control(fake, "GET", "/_fake/webhooks").json()["data"]
    assert listed == [endpoint]

    batch_id = run_batch(base_client)
    got, = hook.wait(1)
    assert base_client.webhooks.unwrap(got.body, got.headers, secret=endpoint["secret"]).data.id == batch_id

    gone = control(fake, "DELETE", f"/_fake/webhooks/{endpoint['id']}")
    assert gone.json() == {"id": endpoint["id"], "object": "webhook_endpoint.deleted", "deleted": True}
    assert control(fake, "DELETE", f"/_fake/webhooks/{endpoint['id']}").status_code == 404
    assert control(fake, "GET", "/_fake/webhooks").json()["data"] == []
    run_batch(base_client)
    time.sleep(0.5)
    assert len(hook.got) == 1  # removed: nothing more


def test_the_control_api_refuses_what_the_fake_would_not_send_to(fake, use_profile):
    profile = Profile()
    profile.webhook("https://hooks.example.com/openai", secret=SECRET)
    use_profile(profile)
    for body, param in [({"url": "http://hooks.example.com/x"}, "url"), ({"url": "ftp://127.0.0.1/x"}, "url"),
                        ({"url": "http://127.0.0.1:9/x", "secret": "s3cret"}, "secret"),
                        ({"url": "http://127.0.0.1:9/x", "secret": "whsec_not base64!"}, "secret"),
                        ({"url": "http://127.0.0.1:9/x", "events": ["batch.complete"]}, "events"),
                        ({"url": "http://127.0.0.1:9/x", "events": "batch.*"}, "events"),
                        ({"url": "http://127.0.0.1:9/x", "colour": "blue"}, "colour"),
                        ({}, "url")]:
        reply = control(fake, "POST", "/_fake/webhooks", body)
        assert reply.status_code == 400 and reply.json()["error"]["param"] == param, (body, reply.text)
    assert "did you mean batch.completed" in control(
        fake, "POST", "/_fake/webhooks", {"url": "http://127.0.0.1:9/x", "events": ["batch.complete"]}).json()["error"]["message"]
    listed, = control(fake, "GET", "/_fake/webhooks").json()["data"]
    assert (listed["id"], listed["source"], listed["secret"]) == ("we_profile_1", "profile", SECRET)
    assert control(fake, "DELETE", "/_fake/webhooks/we_profile_1").status_code == 400  # the profile's: edit it


def test_a_reset_forgets_the_endpoints_registered_at_run_time(fake, use_profile, receiver):
    use_profile(Profile())
    assert control(fake, "POST", "/_fake/webhooks", {"url": receiver().url}).status_code == 200
    assert len(control(fake, "GET", "/_fake/webhooks").json()["data"]) == 1
    control(fake, "POST", "/_fake/reset")
    assert control(fake, "GET", "/_fake/webhooks").json()["data"] == []


def test_secrets_are_never_journaled(base_client, fake, use_profile, receiver):
    hook = receiver(answer=lambda n: 500 if n == 1 else 200)
    profile = batch_profile(webhook_backoff=[0.05])
    profile.webhook(hook.url + "?token=abcdefghijklmnop", secret=SECRET)
    use_profile(profile)
    made = control(fake, "POST", "/_fake/webhooks", {"url": hook.url, "events": ["batch.*"]}).json()
    run_batch(base_client)
    hook.wait(3)
    assert wait_for(lambda: len(fake.journal.entries(kind="webhook")) >= 3)
    written = fake.journal.path.read_text()
    records = json.dumps(control(fake, "GET", "/_fake/calls?kind=all").json())
    for secret in (SECRET, made["secret"], SECRET.removeprefix("whsec_"), made["secret"].removeprefix("whsec_")):
        assert secret not in written and secret not in records
    assert "abcdefghijklmnop" not in written  # a key-carrying query value, redacted as a call's is
    assert any("token=abc...mnop" in e.path for e in fake.journal.entries(kind="webhook"))


def test_a_program_manages_its_endpoints_through_the_sdk_and_they_are_sent_to(sdk, fake, use_profile, receiver):
    hook = receiver()
    use_profile(batch_profile())
    made = sdk.webhooks.create(url=hook.url, name="nightly", event_types=["batch.completed"])
    assert made.id.startswith("we_") and made.object == "webhook_endpoint" and made.event_types == ["batch.completed"]
    hooks.check_secret(made.signing_secret)
    assert made.signing_secret_hint.endswith(made.signing_secret[-4:]) and made.signing_secret not in made.signing_secret_hint
    got = sdk.webhooks.retrieve(made.id)
    assert (got.url, got.name, got.updated_at) == (hook.url, "nightly", made.created_at)
    assert "signing_secret" not in got.model_dump()  # only create and rotate_secret answer it, as in the API
    assert [e.id for e in sdk.webhooks.list()] == [made.id]

    batch_id = run_batch(sdk)
    delivered, = hook.wait(1)
    assert sdk.webhooks.unwrap(delivered.body, delivered.headers, secret=made.signing_secret).data.id == batch_id

    sdk.webhooks.update(made.id, event_types=["response.completed"], name="responses")
    assert sdk.webhooks.retrieve(made.id).name == "responses"
    run_batch(sdk)
    time.sleep(0.4)
    assert len(hook.got) == 1  # batches no longer wanted

    rotated = sdk.webhooks.rotate_secret(made.id, keep_old_secret_active_for_24_hours=True)
    assert rotated.signing_secret != made.signing_secret
    result = sdk.webhooks.test(made.id, event_type="batch.completed")
    assert (result.success, result.status_code, result.webhook_endpoint_id) == (True, 202, made.id)
    sample = hook.wait(2)[1]
    for secret in (rotated.signing_secret, made.signing_secret):  # both sign while the old one stays active
        assert sdk.webhooks.unwrap(sample.body, sample.headers, secret=secret).data.id == "batch_test"
    again = sdk.webhooks.rotate_secret(made.id)
    sdk.webhooks.test(made.id, event_type="realtime.call.incoming")
    call_sample = hook.wait(3)[2]
    assert sdk.webhooks.unwrap(call_sample.body, call_sample.headers, secret=again.signing_secret).data.call_id == "rtc_test"
    with pytest.raises(openai.InvalidWebhookSignatureError):
        sdk.webhooks.unwrap(call_sample.body, call_sample.headers, secret=rotated.signing_secret)

    assert sdk.webhooks.delete(made.id).deleted is True
    with pytest.raises(openai.NotFoundError):
        sdk.webhooks.retrieve(made.id)
    assert list(sdk.webhooks.list()) == []


def test_an_endpoint_a_program_makes_off_this_machine_is_kept_and_sent_nothing(base_client, fake, use_profile):
    use_profile(batch_profile())
    elsewhere = base_client.webhooks.create(url="https://hooks.example.com/openai", name="prod", event_types=["batch.completed"])
    listed, = control(fake, "GET", "/_fake/webhooks").json()["data"]
    assert (listed["id"], listed["source"]) == (elsewhere.id, "api")
    run_batch(base_client)
    time.sleep(0.5)
    assert [e for e in fake.journal.entries(kind="webhook") if "example.com" in e.path] == []
    with pytest.raises(openai.BadRequestError) as bad:
        base_client.webhooks.create(url="http://hooks.example.com/x", name="plain", event_types=["batch.completed"])
    assert bad.value.body["param"] == "url"
    with pytest.raises(openai.BadRequestError) as bad:
        base_client.webhooks.create(url="https://hooks.example.com/x", name="typo", event_types=["batch.complete"])
    assert bad.value.body["param"].startswith("event_types")
    with pytest.raises(openai.NotFoundError):
        base_client.webhooks.retrieve("we_nope")


# -- the pure parts ----------------------------------------------------------------------


def _emitting(profile: Profile) -> SimpleNamespace:
    return SimpleNamespace(profile=profile, state=State())


def test_emit_keeps_an_event_only_when_some_endpoint_wants_it():
    nobody = _emitting(Profile())
    lifecycle.emit(nobody, "batch.completed", "batch_1")
    assert nobody.state.all(lifecycle.OUTBOX) == []

    profile = Profile()
    profile.webhook("http://127.0.0.1:9/hook", events=["response.*"])
    elsewhere = _emitting(profile)
    lifecycle.emit(elsewhere, "batch.completed", "batch_1")
    assert elsewhere.state.all(lifecycle.OUTBOX) == []
    lifecycle.emit(elsewhere, "response.completed", "resp_1")
    event, = elsewhere.state.all(lifecycle.OUTBOX)
    assert (event["type"], event["data"]) == ("response.completed", {"id": "resp_1"})

    registered = _emitting(Profile())
    registered.state.put(hooks.STORE, hooks.make("http://localhost:9/", events=["batch.*"], id="we_1", source="control").record())
    lifecycle.emit(registered, "batch.completed", "batch_1")
    lifecycle.emit(registered, "realtime.call.incoming", None, data={"call_id": "rtc_1", "sip_headers": []})
    assert [e["type"] for e in registered.state.all(lifecycle.OUTBOX)] == ["batch.completed"]

    taken = hooks.take(registered.profile, registered.state)
    assert [(event["type"], [e.id for e in endpoints]) for event, endpoints in taken] == [("batch.completed", ["we_1"])]
    assert registered.state.all(lifecycle.OUTBOX) == []

    with pytest.raises(ValueError, match="not a webhook event type"):
        lifecycle.emit(registered, "batch.complete", "batch_1")


def _about_an_object(model) -> bool:
    """Whether an event model's data is an object's id alone (batch.*, response.*, fine_tuning.job.*, ...)."""
    return model is not None and set(model.model_fields["data"].annotation.model_fields) == {"id"}


@pytest.mark.parametrize("event_type", [t for t, m in hooks.event_models().items() if _about_an_object(m)])
def test_the_body_of_every_event_about_an_object_is_its_sdk_model(event_type):
    from openai._models import construct_type
    from openai.types.webhooks.unwrap_webhook_event import UnwrapWebhookEvent

    model = hooks.event_models()[event_type]
    body = body_of({"id": "evt_1", "type": event_type, "created_at": 1750287018, "data": {"id": "obj_1"}})
    assert model.model_validate_json(body).data.id == "obj_1"
    parsed = construct_type(type_=UnwrapWebhookEvent, value=json.loads(body))  # what `unwrap` answers
    if event_type != "safety_identifier.blocked":  # an event model the SDK's union leaves out
        assert type(parsed) is model


SPEC_PATH = Path(__file__).resolve().parent.parent.parent / "shared" / "reference" / "openai-openapi.json"


def _described_webhooks() -> dict[str, dict]:
    """The OpenAPI description's webhook events ("webhooks": {name: {"post": ...}}), by event type."""
    if not SPEC_PATH.exists():
        return {}
    spec = json.loads(SPEC_PATH.read_text())
    found = {}
    for hook in spec.get("webhooks", {}).values():
        ref = hook["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        schema = spec["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        found[schema["properties"]["type"]["enum"][0]] = {"$ref": ref, "components": spec["components"], "_schema": schema}
    return found


@pytest.mark.skipif(not SPEC_PATH.exists(), reason="the OpenAPI description is not beside the project")
def test_the_bodies_the_fake_sends_conform_to_the_openapi_descriptions_webhooks():
    import jsonschema

    described = _described_webhooks()
    about_an_object = [t for t, d in described.items() if set(d["_schema"]["properties"]["data"]["properties"]) == {"id"}]
    assert {"batch.completed", "response.completed", "fine_tuning.job.succeeded", "eval.run.failed"} <= set(about_an_object)
    for event_type in about_an_object:
        body = body_of({"id": "evt_1", "type": event_type, "created_at": 1750287018, "data": {"id": "obj_1"}})
        schema = {k: v for k, v in described[event_type].items() if k != "_schema"}
        jsonschema.Draft202012Validator(schema).validate(json.loads(body))
        assert event_type in hooks.event_types()


def test_an_event_body_is_the_api_shape_and_signed_as_standard_webhooks_say():
    from standardwebhooks.webhooks import Webhook

    event = {"id": "evt_1", "type": "batch.completed", "created_at": 1750287018, "data": {"id": "batch_1"}}
    body = body_of(event)
    assert json.loads(body) == {"id": "evt_1", "object": "event", "created_at": 1750287018, "type": "batch.completed",
                                "data": {"id": "batch_1"}}
    BatchCompletedWebhookEvent.model_validate_json(body)
    now = int(time.time())
    headers = {"webhook-id": "wh_1", "webhook-timestamp": str(now), "webhook-signature": signature(SECRET, "wh_1", now, body)}
    assert Webhook(SECRET).verify(body, headers) == json.loads(body)  # an independent verifier agrees
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(OTHER_SECRET).verify(body, headers)


@pytest.mark.parametrize("call, message", [
    ('profile.webhook("http://hooks.example.com/x")', "plain http:// is accepted only on this machine"),
    ('profile.webhook("http://127.0.0.1:9/x", secret="s3cret")', "webhook secret must be 'whsec_'"),
    ('profile.webhook("http://127.0.0.1:9/x", events=["batch.complete"])', "did you mean batch.completed"),
    ('profile.webhook("http://127.0.0.1:9/x", events=[])', "an empty list would send nothing"),
    ('profile.webhook(8123)', "webhook url must be a URL string"),
])
def test_a_bad_webhook_in_a_profile_is_an_error_at_its_line(tmp_path, call, message):
    path = tmp_path / "hooked.py"
    path.write_text(f"from openai_fake import Profile\n\nprofile = Profile()\n{call}\n")
    with pytest.raises(ProfileError) as raised:
        load(str(path))
    assert f"{path}:4:" in str(raised.value) and message in str(raised.value)


@pytest.mark.parametrize("kwargs, message", [
    ({"webhook_backoff": "0.1"}, "webhook_backoff must be a list of seconds"),
    ({"webhook_backoff": [0.1, -1]}, "must be a number of seconds >= 0"),
    ({"webhook_timeout": 0}, "webhook_timeout must be a number of seconds > 0"),
])
def test_the_profiles_webhook_settings_are_checked(kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        Profile(**kwargs)


def test_a_profile_endpoint_without_a_secret_gets_a_fresh_one():
    profile = Profile()
    first = profile.webhook("https://hooks.example.com/a")
    second = profile.webhook("http://[::1]:8123/b", events=["batch.*", "response.completed"])
    assert first.secret != second.secret and hooks.check_secret(first.secret)
    assert (first.id, second.id) == ("we_profile_1", "we_profile_2")
    assert second.wants("batch.expired") and second.wants("response.completed") and not second.wants("response.failed")
    assert first.wants("video.completed")
    assert first.secret not in repr(first)


def test_a_webhook_record_survives_the_journal_file_and_tail_shows_it():
    from openai_fake_cli.calls import call_line

    entry = Entry(time=time.mktime((2026, 12, 1, 12, 0, 2, 0, 0, -1)), kind="webhook", request_id="wh_1", method="POST",
                  host="127.0.0.1:8123", path="http://127.0.0.1:8123/hook", status=500, duration_ms=3.2,
                  event="batch.completed", attempt=1, outcome="retrying in 0.1 s", note="batch_abc", error="answered 500")
    assert Entry.from_dict(json.loads(json.dumps(entry.to_dict()))) == entry
    with pytest.raises(ValueError, match="attempt"):
        Entry.from_dict({**entry.to_dict(), "attempt": "1"})
    assert Entry.from_dict({"time": 1.0}).event is None  # a record written before webhooks reads as before

    def shown(e: Entry) -> str:
        console = Console(width=200, record=True)
        console.print(call_line(e))
        return console.export_text().strip()

    assert shown(entry) == "12:00:02  ↗ 500  webhook batch.completed batch_abc → http://127.0.0.1:8123/hook  " \
                           "attempt 1  3 ms  retrying in 0.1 s"
    silent = Entry(**{**entry.to_dict(), "status": 0, "attempt": 3, "outcome": "gave up", "error": "no answer within 5 s"})
    assert shown(silent).endswith("attempt 3  3 ms  gave up  no answer within 5 s") and "↗ ---" in shown(silent)


def test_a_fake_listening_beyond_loopback_sends_nothing_to_endpoints_programs_made(tmp_path):
    from proxy_addon.engine import Engine
    from proxy_addon.journal import Journal
    from proxy_addon.runner import Runner
    from proxy_addon.webhooks import Sender

    profile = Profile()
    profile.webhook("http://127.0.0.1:9/user", events=["batch.*"])
    engine = Engine(profile)
    engine.state.put(hooks.STORE, {**hooks.make("http://127.0.0.1:9/program", id="we_1", source="api").record(), "name": "x"})

    def sent_to(program_endpoints: bool) -> list[str]:
        lifecycle.emit(SimpleNamespace(profile=profile, state=engine.state), "batch.completed", "batch_1")
        return sorted(d.endpoint.url for d in Sender(engine, Journal(), program_endpoints=program_endpoints).take())

    assert sent_to(True) == ["http://127.0.0.1:9/program", "http://127.0.0.1:9/user"]
    assert sent_to(False) == ["http://127.0.0.1:9/user"]
    assert Runner(Profile(), host="0.0.0.0", port=0, confdir=tmp_path, warm=False).webhooks.program_endpoints is False
    assert Runner(Profile(), host="127.0.0.1", port=0, confdir=tmp_path, warm=False).webhooks.program_endpoints is True
