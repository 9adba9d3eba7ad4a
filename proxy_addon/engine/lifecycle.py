"""One lifecycle for everything that progresses: an object moves through the API's statuses by polls or by
time, on the fake's clock, as the profile's knobs say.

A resource whose objects progress (runs, background responses, vector-store files, batches, fine-tuning
jobs, eval runs, videos) keeps, beside each object, a **record** in a bookkeeping store: the steps still to
come (`"steps"`: names the resource gives meaning to, usually the next statuses) and when the last one
happened. Whenever the object is read, the resource asks `due()` which steps have come due and applies
each. Every such resource takes the same knobs (`KNOBS`, merged into its own):

- `progress="polls"`: one step per read of the object (a retrieve, a list); a number instead: one step
  each that many seconds of real time, whether anybody reads it or not (`Engine.tick` moves objects
  nobody polls, so that their webhooks are sent).
- `time_scale=43200`: the fake's clock runs that much faster for this resource's deadlines and timestamps:
  a 24 h batch window expires after 2 s, and the batch's `completed_at` says it took hours.
- `fail_at="in_progress"`: the object fails (its resource's failure: `failed` with an error) when it would
  reach that step; `fail_message` says why.

A resource registers how to move one of its objects (`register`), so that `Engine.tick` can move every
object whose progress is by time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Literal

from . import knobs, stores

#: The knobs of every resource whose objects progress.
KNOBS: dict[str, Any] = {
    "progress": Literal["polls"] | knobs.Seconds,
    "time_scale": knobs.Scale,
    "fail_at": str,
    "fail_message": str,
}
#: What they do; a resource merges these into its `DOCS`, with its own words where it knows better (its steps).
DOCS: dict[str, knobs.Doc] = {
    "progress": knobs.Doc('`"polls"`', '`"polls"`: one step per read of the object (its retrieve, or a list that '
                          "shows it); a number: one step every that many seconds of real time, read or not, e.g. "
                          "`0.5` (the running fake moves such objects by itself, so that their webhooks are sent)."),
    "time_scale": knobs.Doc("`1` (real time)", "How much faster than real time the resource's clock runs, for its "
                            "deadlines and timestamps, e.g. `3600`: an hour passes in a second."),
    "fail_at": knobs.Doc("none: no step fails", "The step (usually the status it would move to) at which the object "
                         "fails instead, with its resource's error; a name that is none of its steps never fails."),
    "fail_message": knobs.Doc("the resource's own words", "The error message of a `fail_at` failure."),
}
#: `time_scale`'s words for a resource that keeps no deadline or timestamp on the fake's clock.
UNCLOCKED = knobs.Doc("`1` (real time)", "Accepted, as every resource that progresses takes it, but this one keeps no "
                      "deadline or timestamp on the fake's clock: it changes nothing here.")


def start(record: dict, steps: list[str], now: float | None = None) -> dict:
    """Make `record` (an object's bookkeeping, with its "id") the start of a lifecycle through `steps`."""
    now = time.time() if now is None else now
    record.update(steps=list(steps), changed_at=now, started_at=now)
    return record


def due(call, record: dict, polled: bool, default: Any = "polls") -> Iterator[str]:
    """The steps of `record` that have come due, each taken off its steps as it is yielded (so that a step
    the resource adds meanwhile, at the front, comes next). A step the profile's `fail_at` names comes
    out as "failed", and the steps after it are dropped."""
    interval = call.knob("progress", default)
    fail_at = call.knob("fail_at")
    if interval == "polls":
        if polled and record["steps"]:
            yield _take(record, fail_at, time.time())
        return
    interval = float(interval)
    while record["steps"] and time.time() - record["changed_at"] >= interval:
        step = _take(record, fail_at, record["changed_at"] + interval)
        yield step


def _take(record: dict, fail_at: str | None, at: float) -> str:
    step = record["steps"].pop(0)
    record["changed_at"] = at
    if fail_at is not None and step == fail_at:
        record["steps"] = []
        return "failed"
    return step


def fake_time(call, record: dict | None = None, at: float | None = None) -> int:
    """The fake's clock for this resource: real time since the object's start, times `time_scale`."""
    at = time.time() if at is None else at
    scale = float(call.knob("time_scale", 1) or 1)
    if record is None or scale == 1:
        return int(at)
    start_at = record.get("started_at", at)
    return int(start_at + (at - start_at) * scale)


def fail_message(call, default: str) -> str:
    """Why a `fail_at` failure failed: the profile's `fail_message`, else the resource's own words."""
    return call.knob("fail_message") or default


#: Events waiting for the webhook sender: {"id": "evt_...", "type": "batch.completed", "created_at", "data": {"id"}}.
OUTBOX = stores.WEBHOOK_OUTBOX


def emit(call, event_type: str, object_id: str | None, data: dict | None = None) -> None:
    """Announce an event the API sends a webhook for (`batch.completed`, `fine_tuning.job.succeeded`, ...), for
    the webhook sender to deliver; kept only when some endpoint (the profile's `profile.webhook(...)`, or one
    registered at run time) wants events of this type. The event's `data` is `{"id": object_id}`, or `data`
    whole for the events whose payload is not an object's id (`realtime.call.incoming`: `call_id`, ...)."""
    from . import webhook_endpoints

    webhook_endpoints.check_type(event_type)
    if not webhook_endpoints.wanting(call.profile, call.state, event_type):
        return
    call.state.put(OUTBOX, {"id": call.state.new_id("evt_"), "type": event_type, "created_at": int(time.time()),
                            "data": {"id": object_id} if data is None else data})


@dataclass(frozen=True)
class Kind:
    """How `Engine.tick` moves one resource's objects: its bookkeeping store, the route whose rule governs
    them, the path a read of an object takes, and the function that catches an object up."""

    store: str
    route: str
    path: Callable[[dict], str]
    catch_up: Callable[[Any, dict], None]


KINDS: dict[str, Kind] = {}


def register(name: str, kind: Kind) -> None:
    """Let `Engine.tick` move this resource's objects whose progress is by time."""
    KINDS[name] = kind


def register_collection(name: str, *, store: str, collection: str, route: str, path: Callable[[dict], str],
                        catch_up: Callable[[Any, dict, bool], Any]) -> None:
    """`register` for the usual resource: its objects in `collection` by the record's id, moved on by
    `catch_up(call, obj, polled)`; the record of an object that is gone is dropped."""
    def tick(call, record: dict) -> None:
        obj = call.state.get(collection, record["id"])
        if obj is None:
            call.state.delete(store, record["id"])
        else:
            catch_up(call, obj, False)

    register(name, Kind(store=store, route=route, path=path, catch_up=tick))

