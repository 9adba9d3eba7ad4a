"""Embeddings: `POST /v1/embeddings`.

Knobs:

- `embedding`: a fixed vector answered for every input. Without it each input
  text gets its own deterministic unit vector, of the model's size or of
  `dimensions`.
- `exact` (False): answer the vectors as JSON numbers, exactly as given, even
  to a request for `encoding_format="base64"`.

`encoding_format` may be `float` (the numbers as given) or `base64`
(little-endian float32, as the API sends them). The Python and Node SDKs ask
for base64 unless the caller names a format, and decode it to float32 values:
`embedding=[0.1, 0.2]` then reads back as `[0.10000000149011612,
0.20000000298023224]`, so `== [0.1, 0.2]` fails, as it would against the real
API for numbers that float32 cannot hold. Three ways out: compare with the
float32 values (`array.array("f", [0.1, 0.2]).tolist()`, or
`pytest.approx(..., rel=1e-6)`); call with `encoding_format="float"`; or set
`exact=True`. The Python SDK hands over as they are the numbers it finds
where it asked for base64 (it decodes only strings), so with `exact=True`
`== [0.1, 0.2]` holds. It departs from the API: a caller that asked for
base64 itself gets numbers, not a string, and openai-node (which decodes
whatever comes as base64) cannot read them; leave it off for those. See
docs/guide/embeddings.md.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import math
from array import array
from typing import Annotated, Any

from annotated_types import MinLen


from .. import errors, knobs, params, tokens
from ..bodies import check, merge
from ..wire import Reply
from .. import sdk

RULE = "embeddings"
KNOBS = {"embedding": Annotated[list[float], MinLen(1)], "exact": bool}

#: Native sizes of the embedding models; any other model gets 1536.
DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
_SHORTENABLE = ("text-embedding-3-",)  # only these accept `dimensions`

DOCS = {
    "embedding": knobs.Doc("a unit vector per input, stable across runs: 1536 numbers (3072 for "
                           "`text-embedding-3-large`), or `dimensions`",
                           "One fixed vector answered for every input, whatever the model and `dimensions` ask, e.g. "
                           "`[0.1, 0.2, 0.3]`; with `encoding_format: \"base64\"` (the SDK's default) it is sent as "
                           "little-endian float32, so it reads back as float32 values (`0.1` as `0.10000000149011612`)."),
    "exact": knobs.Doc("`False`: as the API, base64 float32 when asked for base64",
                       "`True`: answer the vectors as JSON numbers, exactly as given, even to a request for base64 (the "
                       "Python SDK's default), so `== [0.1, 0.2]` holds; openai-node cannot read that answer (see the "
                       "guide's \"Embeddings and ==\")."),
}


def create(call) -> Any:
    body = params.json_body(call.request)
    model = params.require(body, "model", str)
    raw = params.require(body, "input", (str, list))
    inputs, counts = _texts(raw)
    fmt = params.optional(body, "encoding_format", str, "float")
    if fmt not in ("float", "base64"):
        raise errors.invalid_value("encoding_format", f"Invalid value for 'encoding_format': {fmt!r}. Supported values are: 'float' and 'base64'.")
    if call.knob("exact", False):
        fmt = "float"  # the numbers as given, whatever was asked (the module's docstring says when that is wise)
    size = DIMENSIONS.get(model, 1536)
    dims = params.optional(body, "dimensions", int, None, minimum=1, maximum=size)
    if dims is not None:
        if not model.startswith(_SHORTENABLE) and model in DIMENSIONS:
            raise errors.invalid_value("dimensions", "This model does not support specifying dimensions.")
        size = dims

    custom = call.custom()
    fixed = custom.get("embedding") if isinstance(custom, dict) else custom if isinstance(custom, list) else None
    if fixed is None:
        fixed = call.knob("embedding")
    prompt_tokens = sum(counts)
    usage = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
    if fixed is None and not isinstance(custom, dict):
        # The common case: vectors of our own, encoded once per text and reused.
        items = ",".join(
            f'{{"object":"embedding","index":{i},"embedding":{_encoded(text, size, fmt)}}}' for i, text in enumerate(inputs)
        )
        body = f'{{"object":"list","data":[{items}],"model":{json.dumps(model)},"usage":{json.dumps(usage, separators=(",", ":"))}}}'
        return Reply(200, body.encode(), {"content-type": "application/json"}, usage=usage)
    data = [{"object": "embedding", "index": i, "embedding": list(fixed) if fixed is not None else list(_vector(text, size))}
            for i, text in enumerate(inputs)]
    out = {"object": "list", "data": data, "model": model, "usage": usage}
    if isinstance(custom, dict):
        out = merge(out, {k: v for k, v in custom.items() if k != "embedding"})
    check(sdk.CreateEmbeddingResponse, out, call.where)
    if fmt == "base64":
        for item in out["data"]:
            item["embedding"] = _base64(item["embedding"])
    return Reply.json(200, out, usage=out.get("usage"))


#: The API's limits: inputs per request, tokens per input, tokens per request.
MAX_INPUTS = 2048
MAX_INPUT_TOKENS = 8192
MAX_REQUEST_TOKENS = 300_000
_INVALID = "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."


def _texts(raw: Any) -> tuple[list[str], list[int]]:
    """The inputs as texts, with their token counts, or the API's 400s: an empty string or array,
    more than 2048 inputs, an input over 8192 tokens, more than 300,000 tokens in all, mixed item types."""
    if isinstance(raw, str):
        if raw == "":
            raise errors.invalid_value("input", _INVALID)
        counts = [tokens.count(raw, tokens.CL100K)]  # every embedding model's vocabulary
        _limits(counts)
        return [raw], counts
    if not raw:
        raise errors.invalid_value("input", _INVALID)
    if len(raw) > MAX_INPUTS:
        raise errors.invalid_value("input", f"Invalid 'input': maximum input array size is {MAX_INPUTS}.")
    first = raw[0]
    if type(first) is int:  # one array of token ids
        if not all(type(t) is int for t in raw):
            raise errors.invalid_value("input", _INVALID)
        counts = [len(raw)]
        _limits(counts)
        return [" ".join(map(str, raw))], counts
    out, counts = [], []
    if isinstance(first, str):
        for item in raw:
            if not isinstance(item, str) or item == "":
                raise errors.invalid_value("input", _INVALID)
            out.append(item)
            counts.append(tokens.count(item, tokens.CL100K))
    elif isinstance(first, list):  # an array of token-id arrays
        for item in raw:
            if not isinstance(item, list) or not item or not all(type(t) is int for t in item):
                raise errors.invalid_value("input", _INVALID)
            out.append(" ".join(map(str, item)))
            counts.append(len(item))
    else:
        raise errors.invalid_type("input", "a string or an array", first)
    _limits(counts)
    return out, counts


def _limits(counts: list[int]) -> None:
    longest = max(counts)
    if longest > MAX_INPUT_TOKENS:
        raise errors.invalid_value("input", f"This model's maximum context length is {MAX_INPUT_TOKENS} tokens, however you "
                                            f"requested {longest} tokens ({longest} in your prompt; 0 for the completion). "
                                            "Please reduce your prompt; or completion length.")
    total = sum(counts)
    if total > MAX_REQUEST_TOKENS:
        raise errors.OpenAIError(400, f"Requested {total} tokens, max {MAX_REQUEST_TOKENS} tokens per request",
                                 param="input", code="max_tokens_per_request")


@functools.lru_cache(maxsize=1024)
def _vector(text: str, size: int) -> tuple[float, ...]:
    """A unit vector that depends only on the text and the size."""
    raw = array("h", hashlib.shake_256(text.encode()).digest(2 * size))
    scale = 1.0 / (math.sqrt(math.sumprod(raw, raw)) or 1.0)
    return tuple(v * scale for v in raw)


@functools.lru_cache(maxsize=1024)
def _encoded(text: str, size: int, fmt: str) -> str:
    """The JSON text of one text's vector, in `fmt`."""
    vector = _vector(text, size)
    return f'"{_base64(vector)}"' if fmt == "base64" else json.dumps(vector, separators=(",", ":"))


def _base64(vector) -> str:
    return base64.b64encode(array("f", vector).tobytes()).decode()


#: The SDK methods this module serves (their method and path are the route table's), and how.
HANDLES = {
    "embeddings.create": create,
}
