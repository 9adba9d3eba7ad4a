"""OpenAI-shaped errors. Every error the fake sends leaves through `OpenAIError.reply()`."""

from __future__ import annotations

from typing import Mapping

from .wire import Reply

# The `type` the real API gives each status, when the caller names none.
_TYPE_FOR_STATUS = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}

_DEFAULT_MESSAGE = {
    400: "Bad request.",
    401: "Incorrect API key provided.",
    403: "You are not allowed to perform this request.",
    404: "Not found.",
    408: "Request timed out.",
    409: "Conflict.",
    429: "Rate limit reached. Please try again later.",
    500: "The server had an error while processing your request. Sorry about that!",
    502: "Bad gateway.",
    503: "The engine is currently overloaded, please try again later.",
}


class OpenAIError(Exception):
    """An error answer, shaped `{"error": {"message", "type", "param", "code"}}`.

    Raise it from a profile handler, or return it, to answer with any status:

        raise OpenAIError(429, "Slow down", code="rate_limit_exceeded", retry_after=2)

    `headers` are added to the reply; `retry_after` (seconds) sets both
    `retry-after-ms` and `retry-after`, which the SDKs honour before retrying.
    """

    def __init__(
        self,
        status: int,
        message: str | None = None,
        *,
        type: str | None = None,
        param: str | None = None,
        code: str | int | None = None,
        headers: Mapping[str, str] | None = None,
        retry_after: float | None = None,
    ) -> None:
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError(f"an error status must be an int from 400 to 599, not {status!r}")
        self.status = status
        self.message = message or _DEFAULT_MESSAGE.get(status, f"Error {status}.")
        self.type = type or _TYPE_FOR_STATUS.get(status, "server_error" if status >= 500 else "invalid_request_error")
        self.param = param
        self.code = code
        self.headers = dict(headers or {})
        if retry_after is not None:
            self.headers["retry-after-ms"] = str(int(retry_after * 1000))
            self.headers["retry-after"] = str(max(0, round(retry_after)))
        super().__init__(self.message)

    def payload(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def reply(self) -> Reply:
        return Reply.json(self.status, self.payload(), self.headers)


def invalid_url(method: str, path: str) -> OpenAIError:
    """The real API's answer to a path it does not serve."""
    return OpenAIError(404, f"Invalid URL ({method} {path})")


def missing_api_key() -> OpenAIError:
    return OpenAIError(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization header "
        "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank "
        "username) if you're accessing the API from your browser and are prompted for a username and "
        "password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
    )


def unparsable_json() -> OpenAIError:
    return OpenAIError(
        400,
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
        "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not "
        "valid JSON. If you have trouble figuring out how to fix this, please contact us through our "
        "help center at help.openai.com.)",
    )


def missing_param(name: str) -> OpenAIError:
    if name == "model":
        return OpenAIError(400, "you must provide a model parameter", param="model", code="missing_required_parameter")
    return OpenAIError(400, f"Missing required parameter: '{name}'.", param=name, code="missing_required_parameter")


_JSON_TYPE_NAMES = {
    str: "a string", int: "an integer", float: "a number", bool: "a boolean",
    list: "an array", dict: "an object", type(None): "null",
}


def invalid_type(name: str, expected: str, got: object) -> OpenAIError:
    return OpenAIError(
        400,
        f"Invalid type for '{name}': expected {expected}, but got {_JSON_TYPE_NAMES.get(type(got), 'a value')} instead.",
        param=name,
        code="invalid_type",
    )


def invalid_value(name: str, message: str) -> OpenAIError:
    return OpenAIError(400, message, param=name, code="invalid_value")


def no_such(noun: str, oid: str) -> OpenAIError:
    """The real API's 404 for an unknown id of a stored object."""
    return OpenAIError(404, f"No {noun} found with id '{oid}'.")
