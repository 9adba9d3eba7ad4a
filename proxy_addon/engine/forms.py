"""multipart/form-data bodies (file uploads), parsed with the standard library's email parser."""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.parser import BytesParser

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


def parse(request: Request) -> dict[str, Field]:
    """The form's fields by name; a body that is not multipart/form-data is a 400."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data") or "boundary=" not in content_type:
        raise errors.OpenAIError(400, "Expected a multipart/form-data body with a boundary.", code="invalid_multipart")
    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + request.body)
    if not message.is_multipart() or message.defects:
        raise errors.OpenAIError(400, "The multipart/form-data body could not be parsed.", code="invalid_multipart")
    fields: dict[str, Field] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            raise errors.OpenAIError(400, "A multipart part has no name.", code="invalid_multipart")
        fields[name] = Field(part.get_payload(decode=True) or b"", part.get_filename(), part.get_content_type())
    return fields
