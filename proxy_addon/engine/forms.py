"""multipart/form-data bodies (file uploads), parsed with Werkzeug's sans-I/O multipart decoder.

Werkzeug comes with mitmproxy (through Flask). Its decoder takes bytes and
gives events, so the engine stays free of sockets; it is about twenty times
faster than the standard library's email parser, which builds a whole MIME
message with header objects (issue 6's benchmark: `files.create`).
"""

from __future__ import annotations

from dataclasses import dataclass

from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field as FieldEvent, File, MultipartDecoder, NeedData

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
    """The form's fields by name; a body that is not multipart/form-data is a 400."""
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get("boundary")
    if kind.lower() != "multipart/form-data" or not boundary:
        raise _invalid("Expected a multipart/form-data body with a boundary.")
    decoder = MultipartDecoder(boundary.encode("latin-1"), max_form_memory_size=None)
    try:
        decoder.receive_data(request.body)
        decoder.receive_data(None)  # the whole body is here: an unfinished part is an error, not a wait
        fields: dict[str, Field] = {}
        part, chunks = None, []
        while not isinstance(event := decoder.next_event(), (Epilogue, NeedData)):
            if isinstance(event, (FieldEvent, File)):
                if not event.name:
                    raise _invalid("A multipart part has no name.")
                part, chunks = event, []
            elif isinstance(event, Data):
                chunks.append(event.data)
                if not event.more_data:
                    fields[part.name] = Field(b"".join(chunks), getattr(part, "filename", None) or None,
                                              part.headers.get("content-type") or "text/plain")
    except ValueError:  # the decoder's word for a malformed body
        raise _invalid(UNPARSABLE) from None
    if not isinstance(event, Epilogue):  # it ends before its closing boundary
        raise _invalid(UNPARSABLE)
    return fields
