"""Declared stores: every collection of API objects the fake keeps, named by the API's own path.

    MESSAGES.key(thread_id="thread_abc")   # "threads/thread_abc/messages"

A child store lives under its parent object's path, so deleting an object with
`State.delete_tree` takes every store under it along (a thread's messages, its runs and
their steps), and the generic resource names its stores the same way (`evals/eval_1/runs`).
The fake's own bookkeeping (a run's pending status changes, a background response's steps)
is kept apart, in stores whose names start with `~`: they are not API objects and no
list endpoint shows them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_IDS = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Store:
    """One collection: `path` is the API's path of the collection under /v1, with its parents' ids as fields."""

    path: str

    def key(self, **ids: str) -> str:
        """The state collection for these parent ids."""
        return self.path.format(**ids)

    @property
    def parents(self) -> tuple[str, ...]:
        """The ids a key needs, outermost first (`("thread_id", "run_id")`)."""
        return tuple(_IDS.findall(self.path))


ASSISTANTS = Store("assistants")
THREADS = Store("threads")
MESSAGES = Store("threads/{thread_id}/messages")
RUNS = Store("threads/{thread_id}/runs")
RUN_STEPS = Store("threads/{thread_id}/runs/{run_id}/steps")
FILES = Store("files")
UPLOADS = Store("uploads")
UPLOAD_PARTS = Store("uploads/{upload_id}/parts")
VECTOR_STORES = Store("vector_stores")
VECTOR_STORE_FILES = Store("vector_stores/{vector_store_id}/files")
FILE_BATCHES = Store("vector_stores/{vector_store_id}/file_batches")
CHAT_COMPLETIONS = Store("chat/completions")
CHAT_MESSAGES = Store("chat/completions/{completion_id}/messages")
RESPONSES = Store("responses")
INPUT_ITEMS = Store("responses/{response_id}/input_items")
CONVERSATIONS = Store("conversations")
CONVERSATION_ITEMS = Store("conversations/{conversation_id}/items")
BATCHES = Store("batches")
FINE_TUNING_JOBS = Store("fine_tuning/jobs")
FINE_TUNING_EVENTS = Store("fine_tuning/jobs/{fine_tuning_job_id}/events")
FINE_TUNING_CHECKPOINTS = Store("fine_tuning/jobs/{fine_tuning_job_id}/checkpoints")
CONTAINERS = Store("containers")
CONTAINER_FILES = Store("containers/{container_id}/files")
VIDEOS = Store("videos")
EVALS = Store("evals")
EVAL_RUNS = Store("evals/{eval_id}/runs")
EVAL_OUTPUT_ITEMS = Store("evals/{eval_id}/runs/{run_id}/output_items")

# Bookkeeping: the fake's own records about API objects, apart from them.
RUN_PROGRESS = "~run_progress"  # {"id": run id, "pending": [...], "outcome": {...}, ...}
RESPONSE_PENDING = "~response_pending"  # {"id": response id, "steps": [...], "final": {...}}
RESPONSE_EVENTS = "~response_events"  # {"id": response id, "events": [str, ...]}: a stored stream, as sent
VECTOR_STORE_PENDING = "~vector_store_pending"  # {"id": store id, "files": {...}, "batches": [...], "cancel": [...]}
BATCH_MEMBERS = "~vector_store_batch_members/{vector_store_id}"  # {"id": batch id, "file_ids": [...]}
BATCH_PENDING = "~batch_pending"  # {"id": batch id, "steps": [...], "lines": [...], "answered": [...]}: its lifecycle
FINE_TUNING_PENDING = "~fine_tuning_pending"  # {"id": job id, "steps": [...], "training": {...}, "plan": {...}}: its lifecycle
EVAL_RUN_PENDING = "~eval_run_pending"  # {"id": run id, "eval_id", "steps", "items": [...], "done", "counts", ...}: its lifecycle
MODELS_DELETED = "~models_deleted"  # {"id": model id}
CONTAINER_ACTIVITY = "~container_activity"  # {"id": container id, "started_at", "active_at"}: its clock, in real time
VIDEO_PROGRESS = "~video_progress"  # {"id": video id, "steps": [...], "changed_at", "started_at", "in_progress": n}
AUDIO_SPOKEN = "~audio_spoken"  # {"id": digest of speech audio the fake answered, "text": what it says}
WEBHOOK_OUTBOX = "~webhook_outbox"  # {"id": event id, "type", "created_at", "data": {...}}: events the sender has yet to take
WEBHOOK_ENDPOINTS = "~webhook_endpoints"  # {"id", "url", "secret", "events", "source", "created_at"}: registered at run time
