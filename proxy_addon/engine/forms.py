"""multipart/form-data bodies (file uploads), parsed with the `multipart` library's push parser.

The parser takes bytes and gives events, so the engine stays free of sockets.
It was chosen by measurement (issue 6's benchmark, `files.create`): on the
SDK's two-part upload it takes about 25 µs, where Werkzeug's sans-I/O decoder
took about 145 µs and the standard library's email parser about 1 ms.
"""

from __future__ import annotations

from dataclasses import dataclass

from multipart import MultipartError, MultipartSegment, PushMultipartParser, parse_options_header

from . import errors
from .wire import Request


@dataclass
class Field:
    value: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        return self.value.decode("utf-8", errors="replace")


UNPARSABLE = "The multipart/form-data body could not be parsed."


def _invalid(message: str) -> errors.OpenAIError:
    return errors.OpenAIError(400, message, code="invalid_multipart")


def parse(request: Request) -> dict[str, Field]:
    """The form's fields by name (a name sent twice: its last part); a body that is not multipart/form-data is a 400."""
    return {name: field for name, field in parts(request)}


def parts(request: Request) -> list[tuple[str, Field]]:
    """The form's parts in the order sent, as (name, field); a body that is not multipart/form-data is a 400."""
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get("boundary")
    if kind != "multipart/form-data" or not boundary:
        raise _invalid("Expected a multipart/form-data body with a boundary.")
    fields: list[tuple[str, Field]] = []
    try:
        parser = PushMultipartParser(boundary, content_length=len(request.body))
        part, chunks = None, []
        for event in parser.parse(request.body):
            if isinstance(event, MultipartSegment):
                if not event.name:
                    raise _invalid("A multipart part has no name.")
                part, chunks = event, []
            elif event is None:  # the part ended
                fields.append((part.name, Field(b"".join(chunks), part.filename or None, part.content_type or "text/plain")))
            else:
                chunks.append(event)
        parser.close()  # the whole body is here: an unfinished stream is an error, not a wait
    except MultipartError:
        raise _invalid(UNPARSABLE) from None
    if request.deployment is not None:  # an Azure deployment path: the deployment is the model (engine/azure.py)
        fields = [(name, field) for name, field in fields if name != "model"]
        fields.append(("model", Field(request.deployment.encode())))
    return fields
