"""Moderations: `POST /v1/moderations`.

Knobs: `flagged`, a list of category names to flag on every input (for
example `["harassment"]`), or `results`, a list of partial results laid over
the default one per input. By default nothing is flagged.

The default result's shape has knobs too, which the openai-responses compatibility layer
sets to that library's defaults (`openai_fake.compat`): `model` (answered when the request
names none; the API's default, `omni-moderation-latest`, otherwise), `per_input=False`
(the answer's results are exactly the `results` given, each laid over an unflagged result:
none unless set), `unflagged_score` (an unflagged category's score, 0.0001) and
`applied_input_types` (each category's, `["text"]`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from annotated_types import Ge, Le


from .. import errors, knobs, params
from ..bodies import merge, reply, stable_id
from .. import sdk

RULE = "moderations"

CATEGORIES = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
    "self-harm", "self-harm/instructions", "self-harm/intent", "sexual", "sexual/minors",
    "violence", "violence/graphic",
)

KNOBS = {"flagged": list[Literal[CATEGORIES]], "results": list[dict], "model": str, "per_input": bool,
         "unflagged_score": Annotated[float, Ge(0), Le(1)], "applied_input_types": list[Literal["text", "image"]]}
DOCS = {
    "flagged": knobs.Doc("nothing flagged", f'Category names to flag on every input (of the API\'s {len(CATEGORIES)}), '
                         'e.g. `["harassment", "violence/graphic"]`: each is `true` with a score of 0.97, and the result '
                         "is `flagged`."),
    "results": knobs.Doc("one unflagged result per input", 'Partial results laid over the default one, e.g. '
                         '`[{"flagged": true, "categories": {"hate": true}}]`: input *i* gets the *i*-th, and inputs past '
                         "the list's end its last. With `per_input=False` the answer's results are exactly these."),
    "model": knobs.Doc('the request\'s `model`, else `"omni-moderation-latest"`',
                       'The model the answer names when the request names none, e.g. `"text-moderation-007"`.'),
    "per_input": knobs.Doc("`True`", "`True`: one result per input, `results` laid over each; `False`: exactly the "
                           "`results` given, none without them (openai-responses' answer, which its compatibility "
                           "layer sets)."),
    "unflagged_score": knobs.Doc("`0.0001`", "The score, 0 to 1, of every category that is not flagged."),
    "applied_input_types": knobs.Doc('`["text"]`', 'Every category\'s `category_applied_input_types`: `"text"`, '
                                     '`"image"`, both, or `[]` (openai-responses\' answer).'),
}


def create(call) -> Any:
    body = params.json_body(call.request)
    raw = params.require(body, "input", (str, list))
    model = params.optional(body, "model", str) or call.knob("model") or "omni-moderation-latest"
    inputs = [raw] if isinstance(raw, str) else raw
    if not inputs:
        raise errors.invalid_value("input", "Invalid 'input': empty array. Expected an array with minimum length 1, but got an empty array instead.")
    if inputs is raw:
        for i, item in enumerate(inputs):
            if type(item) is not str:
                _check_part(item, f"input[{i}]")

    custom = call.custom()
    flagged = call.knob("flagged", ())
    partials = call.knob("results")
    if isinstance(custom, dict):
        flagged = custom.get("flagged", flagged)
        partials = custom.get("results", partials)
    unknown = [c for c in flagged if c not in CATEGORIES]
    if unknown:
        raise errors.OpenAIError(500, f"openai-fake: {call.where}: unknown moderation categories {unknown}; known: {', '.join(CATEGORIES)}", type="server_error", headers={"x-should-retry": "false"})
    unflagged = call.knob("unflagged_score", 0.0001)
    applied = call.knob("applied_input_types", ["text"])
    base = {
        "flagged": bool(flagged),
        "categories": {c: c in flagged for c in CATEGORIES},
        "category_scores": {c: (0.97 if c in flagged else unflagged) for c in CATEGORIES},
        "category_applied_input_types": {c: list(applied) for c in CATEGORIES},
    }
    if call.knob("per_input", True):
        results = [merge(base, partials[min(i, len(partials) - 1)]) if partials else base for i in range(len(inputs))]
    else:  # exactly the results given, none by default (openai-responses' answer)
        results = [merge(base, partial) for partial in partials or ()]
    data = {"id": stable_id("modr-", call.request.body), "model": model, "results": results}
    return reply(sdk.ModerationCreateResponse, data, call.where)


def _check_part(part: Any, where: str) -> None:
    """A multi-modal input: `{"type": "text", "text"}` or `{"type": "image_url", "image_url": {"url"}}`."""
    if not isinstance(part, dict):
        raise errors.invalid_type(where, "a string or an object", part)
    field = params.kind(part, where, ("text", "image_url"))
    if part.get(field) is None:
        raise errors.missing_param(f"{where}.{field}")
    if field == "text":
        params.text(part["text"], f"{where}.text")
    else:
        image = params.obj(part["image_url"], f"{where}.image_url")
        if image.get("url") is None:
            raise errors.missing_param(f"{where}.image_url.url")
        params.text(image["url"], f"{where}.image_url.url")


#: The SDK methods this module serves (their method and path are the route table's), and how.
HANDLES = {
    "moderations.create": create,
}
