"""The fake's metrics: `GET /_fake/metrics` in Prometheus's text format, and the same numbers as JSON in
`GET /_fake/state` (so in `openai-fake state`). docs/reference/metrics.md says what each one means.

Each fake keeps its own `CollectorRegistry`, never prometheus_client's global one: several fakes run in one
process (a test's own beside the session's), and each counts only its calls. The counts come from two
places that already see every call, never from increments spread over the faces:

- the journal's record path (`Journal.subscribe`): every call however it came (proxy, base-URL face,
  in-process), refused ones included, with its route, status, face, duration and a stream's outcome;
- `faces.answer`, the one function through which every face asks the engine (`Engine.answer_listeners`):
  what only the reply knows, the tokens it generated (`Reply.usage`), the failure the profile injected
  (`Reply.fault`), the profile's latency (`Reply.delay`) and the engine's own time.

Counters and histograms only go up for the life of the process: `POST /_fake/reset` (and `openai-fake
reset`, a profile switch, the fixture's per-test reset) leaves them as they are, as Prometheus expects of a
counter (a reset would look like a restart to `rate()`). The sizes (the journal's records and bytes, the
state's objects and blobs) are gauges read from the journal and the state when scraped, so they follow a
reset.

A call costs a few dictionary lookups and prometheus_client increments (a few µs); a scrape costs one pass
over the journal's records in memory. Labels are bounded: the model a client names is one of the first
`MAX_MODELS` seen, else "(other)"; the other labels come from the fake's own tables.
"""

from __future__ import annotations

import logging
import os
from collections import Counter as Tally
from typing import Any, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import choose_encoder, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

__all__ = ["Metrics", "MAX_MODELS", "OTHER", "NO_ROUTE"]

logger = logging.getLogger(__name__)

#: Distinct `model` label values kept; past it a model is counted as `OTHER` (a client names any string).
MAX_MODELS = 100
OTHER = "(other)"
#: The route of a call no route matched (an unknown path's 404, a refused call), as `Journal.summary` names it.
NO_ROUTE = "(no route)"
#: The journal's record kinds, given as gauges even when none is kept.
RECORD_KINDS = ("call", "stream", "notice", "webhook")

#: Seconds from a call's arrival to its answer (a stream's end): a few ms for most, up to a slow profile's.
CALL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: The engine's own time per call: tens of µs for most calls, more for images, audio and big embeddings.
ENGINE_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    """The metrics of one fake (one engine and its journal), in a registry of their own (`registry`).

    Made by `control.Control` (so by every Runner); it subscribes itself to the journal and the engine."""

    def __init__(self, engine, journal) -> None:
        self.engine = engine
        self.journal = journal
        self.registry = CollectorRegistry()
        r = self.registry
        self.calls = Counter("openai_fake_calls", "Calls answered, by route (the profile rule), status and face.",
                             ["route", "status", "face"], registry=r)
        self.call_duration = Histogram(
            "openai_fake_call_duration_seconds",
            "Seconds from a call's arrival to its whole answer (a stream: to its end); the profile's latency and "
            "stream pace included.", ["route", "face"], buckets=CALL_BUCKETS, registry=r)
        self.engine_duration = Histogram(
            "openai_fake_engine_seconds", "Seconds the engine took to make each answer: the fake's own work, "
            "no latency, no sending.", ["route"], buckets=ENGINE_BUCKETS, registry=r)
        self.injected_latency = Histogram(
            "openai_fake_injected_latency_seconds", "The profile's latency (`latency=`) added before an answer, "
            "for each call that got some; stream pace not included.", ["route"], buckets=CALL_BUCKETS, registry=r)
        self.streams = Counter("openai_fake_streams", "Streamed answers that ended, by route, face and outcome "
                               "(completed, aborted by the client, error or cut injected by the profile).",
                               ["route", "face", "outcome"], registry=r)
        self.tokens = Counter("openai_fake_tokens", "Tokens in the usage the fake answered, by requested model "
                              "and direction (input: the prompt's, output: the answer's).",
                              ["model", "direction"], registry=r)
        self.failures = Counter("openai_fake_failures_injected", "Failures the profile injected, by route and "
                                "kind (http_<status>: `failures=`; stream_error, stream_cut: the stream pace's).",
                                ["route", "kind"], registry=r)
        r.register(_Sizes(engine, journal))
        self._children: dict[tuple, Any] = {}
        self._models: set[str] = set()
        self._failed = False
        journal.subscribe(self.recorded)
        engine.answer_listeners.append(self.answered)

    # -- counting ------------------------------------------------------------------------------------

    def _child(self, metric, *labels: str):
        """`metric.labels(*labels)`, looked up once: prometheus_client's own lookup validates each time."""
        key = (metric, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def recorded(self, entry) -> None:
        """A journal record (`Journal.subscribe`): count a call, its duration and how its stream ended."""
        if entry.kind != "call":
            return
        try:
            route, face = entry.rule or NO_ROUTE, entry.face or NO_ROUTE
            self._child(self.calls, route, str(entry.status), face).inc()
            self._child(self.call_duration, route, face).observe(entry.duration_ms / 1000)
            outcome = entry.outcome
            if outcome is not None:
                self._child(self.streams, route, face, outcome).inc()
                if outcome in ("error", "cut"):
                    self._child(self.failures, route, f"stream_{outcome}").inc()
        except Exception:  # counting must never break the call it counts
            self._log_once()

    def answered(self, request, reply, seconds: float) -> None:
        """The engine's reply to a call (`Engine.answer_listeners`): its tokens, injected failure and latency."""
        try:
            route = reply.rule or NO_ROUTE
            self._child(self.engine_duration, route).observe(seconds)
            if reply.delay > 0:
                self._child(self.injected_latency, route).observe(reply.delay)
            if reply.fault:
                self._child(self.failures, route, reply.fault).inc()
            usage = reply.usage
            if usage and reply.status < 400:
                model = self._model(request.model)
                # Chat, completions and embeddings say prompt/completion; Responses, images and audio input/output.
                for direction, n in (("input", usage.get("prompt_tokens", usage.get("input_tokens"))),
                                     ("output", usage.get("completion_tokens", usage.get("output_tokens")))):
                    if type(n) is int and n > 0:  # a handler's odd usage (None, "12", True) is not counted
                        self._child(self.tokens, model, direction).inc(n)
        except Exception:
            self._log_once()

    def _model(self, model: str | None) -> str:
        if not model:
            return "(none)"
        if model in self._models:
            return model
        if len(self._models) >= MAX_MODELS:
            return OTHER
        self._models.add(model)
        return model

    def _log_once(self) -> None:
        if not self._failed:
            self._failed = True
            logger.exception("openai-fake: a metric could not be counted (said once)")

    # -- reading -------------------------------------------------------------------------------------

    def exposition(self, accept: str | None = None) -> tuple[bytes, str]:
        """The metrics as a scrape gets them, and their content type: Prometheus's text format, or
        OpenMetrics when `accept` (the request's `Accept`) asks for it."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type

    def text(self) -> str:
        """The metrics in Prometheus's text format."""
        return generate_latest(self.registry).decode()

    def summary(self) -> dict[str, list[dict]]:
        """The same numbers as JSON, read from the registry: per metric (its name without `openai_fake_`),
        one row per label set, with the labels and `value` (counters, gauges) or `count` and `sum` (histograms)."""
        out: dict[str, list[dict]] = {}
        for family in self.registry.collect():
            name = family.name.removeprefix("openai_fake_")
            rows: dict[tuple, dict] = {}
            for sample in family.samples:
                suffix = sample.name[len(family.name):]
                labels = {k: v for k, v in sample.labels.items() if k != "le"}
                if family.type == "histogram":
                    if suffix not in ("_count", "_sum"):
                        continue
                    row = rows.setdefault(tuple(labels.items()), dict(labels))
                    row[suffix[1:]] = _number(sample.value)
                elif suffix in ("", "_total"):  # not a counter's `_created`
                    rows[tuple(labels.items())] = {**labels, "value": _number(sample.value)}
            key = name + ("_total" if family.type == "counter" else "")
            out[key] = list(rows.values())
        return out


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


class _Sizes:
    """The gauges read when scraped: the journal's records and bytes, the state's objects and blobs."""

    def __init__(self, engine, journal) -> None:
        self.engine = engine
        self.journal = journal

    def collect(self) -> Iterator[Metric]:
        kinds = Tally(e.kind for e in self.journal.entries(kind=None))
        records = GaugeMetricFamily("openai_fake_journal_records", "Records the journal keeps in memory (the last "
                                    "10,000), by kind.", labels=["kind"])
        for kind in sorted(set(RECORD_KINDS) | set(kinds)):
            records.add_metric([kind], kinds[kind])
        yield records
        yield GaugeMetricFamily("openai_fake_journal_body_bytes", "Bytes of request bodies the journal keeps in memory.",
                                value=self.journal.body_bytes)
        path = self.journal.path
        if path is not None:
            try:
                size = os.stat(path).st_size
            except OSError:
                size = 0  # not written yet
            yield GaugeMetricFamily("openai_fake_journal_file_bytes", "Bytes of the journal file `tail` reads (the "
                                    "current one, not its rotated copies).", value=size)
        objects, blobs, blob_bytes = self.engine.state.sizes()
        by_kind: Tally[str] = Tally()
        for collection, n in objects.items():
            if not collection.startswith("~"):  # the fake's own bookkeeping, not API objects
                by_kind[object_kind(collection)] += n
        stored = GaugeMetricFamily("openai_fake_state_objects", "API objects stored, by kind (the collection, "
                                   "without its parents' ids: threads/messages).", labels=["kind"])
        for kind in sorted(by_kind):
            stored.add_metric([kind], by_kind[kind])
        yield stored
        yield GaugeMetricFamily("openai_fake_state_blobs", "Contents stored (files' bytes, images, audio...).", value=blobs)
        yield GaugeMetricFamily("openai_fake_state_blob_bytes", "Bytes of the contents stored.", value=blob_bytes)


def object_kind(collection: str) -> str:
    """A state collection's kind: its path without the parents' ids (`threads/thread_abc/messages` ->
    `threads/messages`), so that a label has one value per kind, not one per thread."""
    parts = collection.split("/")
    return "/".join(parts[::2])
