"""Azure OpenAI's face of the engine: its paths, its key header and its own error shapes, as a pure rewrite.

An Azure request is rewritten onto the engine's `/v1/...` route and then answered like any other:

    /openai/deployments/{deployment}/chat/completions?api-version=V   ->  /v1/chat/completions, model = deployment
    /openai/assistants?api-version=V (threads, files, batches, ...)   ->  /v1/assistants
    /openai/v1/chat/completions (the v1 API, api-version optional)    ->  /v1/chat/completions

A request is Azure's when its host is an Azure OpenAI host (`*.openai.azure.com`,
`*.cognitiveservices.azure.com`), or when its path is under `/openai/` and its host is not
OpenAI's (the base-URL face, where `AzureOpenAI(azure_endpoint="http://127.0.0.1:PORT")` sends
`/openai/...`). Azure takes the key as `api-key: KEY` (or an Entra ID token as `Authorization:
Bearer ...`).

Where Azure's answers differ from OpenAI's, they take Azure's shape, `{"error": {"code", "message"}}`
(read from Azure's answers quoted in public issue threads: the SDKs' and Microsoft's own):

- a path Azure does not serve, a deployment path or an `/openai/...` path without `api-version`:
  404 `{"error": {"code": "404", "message": "Resource not found"}}`;
- an `api-version` that is not a version: 400 `{"error": {"code": "BadRequest", "message":
  "API version not supported"}}`;
- no key: 401 `{"error": {"code": "401", "message": "Access denied due to invalid subscription key
  or wrong API endpoint. ..."}}`;
- a simulated rate limit (`failure_status=429`): Azure's "Requests to the ChatCompletions_Create
  Operation under Azure OpenAI API version V have exceeded call rate limit ..." with code "429".

Everything else (a body's 400s, a missing object's 404) is the engine's OpenAI-shaped error, which
Azure passes on as it is.
"""

from __future__ import annotations

import re

from ..access import AZURE_HOST, is_azure
from ..codec import to_json
from .errors import OpenAIError
from .wire import Request

__all__ = ["AZURE_HOST", "is_azure", "applies", "translate", "AzureError", "not_found", "access_denied",
           "rate_limited", "DEPLOYMENT_ENDPOINTS"]

#: The endpoints Azure serves under a deployment (the SDK's own list, `openai/lib/azure.py`).
DEPLOYMENT_ENDPOINTS = frozenset({
    "completions", "chat/completions", "embeddings", "audio/transcriptions", "audio/translations",
    "audio/speech", "images/generations", "images/edits",
})

#: An `api-version` Azure takes: a date, a dated preview, or the v1 API's `preview` / `latest`.
_VERSION = re.compile(r"^(?:\d{4}-\d{2}-\d{2}(?:-preview)?|preview|latest)$")

_DENIED = ("Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
           "for an active subscription and use a correct regional API endpoint for your resource.")

# Azure names an operation in its rate-limit message; other routes are named by their SDK method.
_OPERATIONS = {
    "chat.completions.create": "ChatCompletions_Create", "completions.create": "Completions_Create",
    "embeddings.create": "Embeddings_Create", "images.generate": "ImageGenerations_Create",
    "images.edit": "ImageEdits_Create", "audio.speech.create": "AudioSpeech_Create",
    "audio.transcriptions.create": "AudioTranscriptions_Create",
    "audio.translations.create": "AudioTranslations_Create",
}


class AzureError(OpenAIError):
    """An error in Azure's own shape, `{"error": {"code": "...", "message": "..."}}`."""

    def payload(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


def applies(request: Request) -> bool:
    """Whether `request` speaks Azure: an Azure host, or an `/openai/...` path to a host that is not OpenAI's."""
    if is_azure(request.host):
        return True
    path = request.path
    if not (path == "/openai" or path.startswith("/openai/")):
        return False
    host = (request.host or "").lower().rstrip(".")
    return not (host == "api.openai.com" or host.endswith(".api.openai.com"))


def not_found() -> AzureError:
    return AzureError(404, "Resource not found", code="404")


def access_denied() -> AzureError:
    return AzureError(401, _DENIED, code="401", headers={"x-should-retry": "false"})


def rate_limited(route: str, api_version: str | None, wait: float, note: str) -> AzureError:
    """Azure's 429 for a simulated rate limit on `route` (an SDK method name)."""
    operation = _OPERATIONS.get(route, route)
    version = api_version or "v1"
    return AzureError(
        429, f"Requests to the {operation} Operation under Azure OpenAI API version {version} have exceeded call "
             f"rate limit of your current OpenAI S0 pricing tier. Please retry after {max(1, round(wait))} seconds. "
             f"{note}", code="429", retry_after=wait)


def translate(request: Request) -> None:
    """Rewrite an Azure request (see `applies`) in place onto the engine's route; raise the `AzureError` Azure
    answers a path it does not serve with.

    Sets `request.api = "azure"`, `request.api_version` (and drops it from the query), and, on a deployment path,
    `request.deployment`, which becomes the body's `model`: what the answer and the journal report."""
    request.api = "azure"
    path = request.path.rstrip("/")
    query = dict(request.query)
    version = query.pop("api-version", None)
    request.query = query
    request.api_version = version
    if version is not None and not _VERSION.match(version):
        raise AzureError(400, "API version not supported", code="BadRequest")
    if path == "/openai/v1" or path.startswith("/openai/v1/"):  # the v1 API: OpenAI's paths, no version needed
        request.path = path[len("/openai"):]
        return
    if not path.startswith("/openai/") or version is None:
        raise not_found()
    rest = path[len("/openai/"):]
    if rest.startswith("deployments/"):
        deployment, _, endpoint = rest[len("deployments/"):].partition("/")
        if not deployment or endpoint not in DEPLOYMENT_ENDPOINTS:
            raise not_found()
        request.deployment = deployment
        request.path = f"/v1/{endpoint}"
        _model_is(request, deployment)
        return
    if rest in DEPLOYMENT_ENDPOINTS:  # these exist only under a deployment (or in the v1 API)
        raise not_found()
    request.path = f"/v1/{rest}"


def _model_is(request: Request, deployment: str) -> None:
    """A JSON body's `model` becomes the deployment's name (a multipart form's, in `forms.parse`); a body that
    does not parse is left for the route's own 400."""
    if not request.body or "multipart/" in request.headers.get("content-type", ""):
        return
    try:
        body = request.json
    except ValueError:
        return
    if isinstance(body, dict) and body.get("model") != deployment:
        body = {**body, "model": deployment}
        request.body = to_json(body)
        request._json = body
