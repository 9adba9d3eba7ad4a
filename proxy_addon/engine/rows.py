"""`Row`: one endpoint of the API, as the generated route table (`table.py`) describes it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Row:
    """One endpoint the SDK calls.

    method, path: `"GET"`, `"/v1/threads/{thread_id}/runs/{run_id}"`.
    name: the SDK's method path (`"beta.threads.runs.retrieve"`); calls are counted under it.
    returns: the type its body is (`"openai.types.beta.threads:Run"`), None for a list or no body.
    page, item: for a list, the page kind (`"cursor"`, `"page"`, `"conversation"`, `"next"`, `"token"`)
        and the type of its items.
    streams: the method can ask for a stream. binary: it answers raw bytes (file contents, audio).
    body: how its request body is sent: `"json"`, `"multipart"` or `"none"`.
    params: the SDK's TypedDict of its body (`"openai.types:BatchCreateParams"`), where it has one.
    public: served without an API key and never failed by a profile's `failures` (not the API itself:
        the URLs the fake hands out, as the real API's signed blob URLs need no key).
    """

    method: str
    path: str
    name: str
    returns: str | None = None
    page: str | None = None
    item: str | None = None
    params: str | None = None
    streams: bool = False
    binary: bool = False
    deprecated: bool = False
    body: str = "none"
    aliases: tuple[str, ...] = ()
    public: bool = False

    @property
    def group(self) -> str:
        """The resource the method belongs to: `"beta.threads.runs"`."""
        return self.name.rsplit(".", 1)[0]
