"""The SDK's own types, which every reply is built from and checked against, imported on first use.

Importing them is most of the fake's start-up: openai's package, then its
beta, responses and vector-store types, about 0.8 s (bench/startup.py). A
resource names a type as `sdk.Assistant`; its module is imported the first
time one is needed, so `openai-fake exec -- true` imports none, and a fake
that only answers chat never imports the Assistants types.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Types the engine uses that no row of the route table returns (or that it needs warm at start), and the
#: SDK module that defines each; any other type a row names is found in the table.
_WHERE = {
    "Completion": "openai.types",
    "CreateEmbeddingResponse": "openai.types",
    "FileObject": "openai.types",
    "ImageEditCompletedEvent": "openai.types",
    "ImageEditPartialImageEvent": "openai.types",
    "ImageGenCompletedEvent": "openai.types",
    "ImageGenPartialImageEvent": "openai.types",
    "Model": "openai.types",
    "ModerationCreateResponse": "openai.types",
    "Upload": "openai.types",
    "VectorStore": "openai.types",
    "VectorStoreDeleted": "openai.types",
    "VectorStoreSearchResponse": "openai.types",
    "Assistant": "openai.types.beta",
    "Thread": "openai.types.beta",
    "Message": "openai.types.beta.threads",
    "MessageDeltaEvent": "openai.types.beta.threads",
    "Run": "openai.types.beta.threads",
    "RunStep": "openai.types.beta.threads.runs",
    "RunStepDeltaEvent": "openai.types.beta.threads.runs",
    "ChatCompletion": "openai.types.chat",
    "ChatCompletionDeleted": "openai.types.chat",
    "ChatCompletionStoreMessage": "openai.types.chat",
    "Conversation": "openai.types.conversations",
    "ConversationDeletedResource": "openai.types.conversations",
    "ConversationItem": "openai.types.conversations",
    "Response": "openai.types.responses",
    "ResponseItem": "openai.types.responses",
    "ResponseTextConfig": "openai.types.responses",
    "Tool": "openai.types.responses",
    "InputTokenCountResponse": "openai.types.responses.input_token_count_response",
    "ToolChoice": "openai.types.responses.response",
    "Reasoning": "openai.types.shared",
    "UploadPart": "openai.types.uploads",
    "FileContentResponse": "openai.types.vector_stores",
    "VectorStoreFile": "openai.types.vector_stores",
    "VectorStoreFileBatch": "openai.types.vector_stores",
    "VectorStoreFileDeleted": "openai.types.vector_stores",
}


def warm() -> None:
    """Import every module above now (the fake does it in a thread once it listens), so that the first
    call to each resource does not pause the fake while it imports."""
    for module in dict.fromkeys(sorted(_WHERE.values(), key=lambda m: (m.count("."), m))):
        importlib.import_module(module)


def _from_the_table(name: str) -> str | None:
    """The module of a type the route table names once (`Batch` -> `openai.types.batch`): a module with
    behaviour needs no `_WHERE` entry for the types its rows return."""
    from .table import ROWS

    found = {t.split(":")[0] for row in ROWS for t in (row.returns, row.item) if t and t.split(":")[1] == name}
    return found.pop() if len(found) == 1 else None


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name) or _from_the_table(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}; add it to _WHERE")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups are plain module attributes
    return value
