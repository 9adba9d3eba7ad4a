"""Structured outputs that validate: the default answer to a JSON schema (`response_format`, `text.format`,
forced tool calls) is accepted by a JSON Schema validator and by pydantic itself.

A corpus of pydantic models covering every field type pydantic emits and every keyword the issue names is
checked in the engine (the schema as pydantic writes it and as the SDK sends it, strict), and end to end
through the real SDK: `chat.completions.parse`, `responses.parse(text_format=...)` and a forced
`pydantic_function_tool`, over the proxy and the base-URL face. A property test then generates schemas.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import ipaddress
import json
import re
import uuid
from typing import Annotated, Literal, Optional, Union

import jsonschema
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai import pydantic_function_tool
from openai.lib._pydantic import to_strict_json_schema
from pydantic import (AnyUrl, Base64Bytes, EmailStr, Field, HttpUrl, IPvAnyAddress, Json, NameEmail, SecretStr,
                      UUID4, conint, conlist, constr, confloat)

from proxy_addon import Profile
from proxy_addon.engine.examples import example

MESSAGES = [{"role": "user", "content": "Fill the form."}]


def check(schema: dict, value) -> None:
    """`value` is valid for `schema`, formats included (jsonschema's own format checkers)."""
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls(schema, format_checker=cls.FORMAT_CHECKER).validate(value)


# -- the corpus ----------------------------------------------------------------------------------------------

class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Scalars(pydantic.BaseModel):
    text: str
    count: int
    ratio: float
    flag: bool
    nothing: None
    price: decimal.Decimal
    color: Color
    level: Level
    mode: Literal["fast", "slow"]
    fixed: Literal[42]


class Formats(pydantic.BaseModel):
    id: uuid.UUID
    id4: UUID4
    site: HttpUrl
    link: AnyUrl
    email: EmailStr
    contact: NameEmail
    when: datetime.datetime
    day: datetime.date
    at: datetime.time
    took: datetime.timedelta
    ip: IPvAnyAddress
    v4: ipaddress.IPv4Address
    v6: ipaddress.IPv6Address
    net: ipaddress.IPv4Network
    secret: SecretStr
    raw: bytes
    encoded: Base64Bytes
    payload: Json[list[int]]


class Constrained(pydantic.BaseModel):
    code: Annotated[str, Field(pattern=r"^[A-Z]{3}-\d{4}$")]
    slug: Annotated[str, Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", min_length=3, max_length=20)]
    short: constr(max_length=3)
    long: constr(min_length=12)
    over_ten: conint(gt=10)
    under_minus_five: conint(lt=-5)
    at_most: conint(le=-100)
    sevens: conint(multiple_of=7, ge=20)
    quarters: confloat(multiple_of=0.25, gt=1)
    open_range: confloat(gt=0.5, lt=0.75)
    negative: Annotated[float, Field(lt=-3.5)]
    between: Annotated[int, Field(ge=3, le=5)]


class Containers(pydantic.BaseModel):
    tags: list[str]
    three_to_five: conlist(int, min_length=3, max_length=5)
    none_allowed: conlist(int, max_length=0)
    unique: set[int]
    frozen: frozenset[str]
    pair: tuple[int, str]
    many: tuple[float, ...]
    scores: dict[str, float]
    nested: list[list[int]]
    maybe: Optional[int]
    either: Union[int, str]
    default_list: list[int] = [1, 2]


class Address(pydantic.BaseModel):
    street: str
    city: str
    zip: Annotated[str, Field(pattern=r"^\d{5}$")]


class Cat(pydantic.BaseModel):
    kind: Literal["cat"]
    lives: conint(ge=1, le=9)


class Dog(pydantic.BaseModel):
    kind: Literal["dog"]
    good: bool


class Nested(pydantic.BaseModel):
    home: Address
    work: Optional[Address] = None
    others: list[Address]
    pet: Union[Cat, Dog] = Field(discriminator="kind")
    pets: list[Annotated[Union[Cat, Dog], Field(discriminator="kind")]]


class Tree(pydantic.BaseModel):
    value: int
    children: list[Tree]


class LinkedList(pydantic.BaseModel):
    value: str
    next: Optional[LinkedList] = None


class Expression(pydantic.BaseModel):
    op: Literal["+", "-"]
    left: Union[int, Expression]
    right: Union[int, Expression]


class Defaults(pydantic.BaseModel):
    name: str = "anonymous"
    size: conint(ge=1) = 3
    mode: Literal["a", "b"] = "b"


CORPUS = [Scalars, Formats, Constrained, Containers, Nested, Tree, LinkedList, Expression, Defaults]
# What strict mode accepts (every property required, no maps): what the SDK's parse() sends.
STRICT = [Scalars, Formats, Constrained, Nested, Tree, LinkedList, Expression, Defaults]


@pytest.mark.parametrize("model", CORPUS, ids=lambda m: m.__name__)
def test_the_example_validates_as_pydantic_writes_the_schema(model):
    schema = model.model_json_schema()
    value = example(schema)
    check(schema, value)
    model.model_validate_json(json.dumps(value))


@pytest.mark.parametrize("model", STRICT, ids=lambda m: m.__name__)
def test_the_example_validates_as_the_sdk_sends_the_schema(model):
    schema = to_strict_json_schema(model)
    value = example(schema)
    check(schema, value)
    model.model_validate_json(json.dumps(value))


def test_recursion_ends_one_level_down():
    tree = example(Tree.model_json_schema())
    assert tree == {"value": 0, "children": [{"value": 0, "children": []}]}
    chain, links = example(to_strict_json_schema(LinkedList)), 0
    while chain is not None:
        chain, links = chain["next"], links + 1
    assert 2 <= links <= 3  # the schema's own root is not a $ref: one more link before the recursion is seen


# -- the keywords, one at a time --------------------------------------------------------------------------------

KEYWORDS = [
    {"type": "string", "format": "uuid"},
    {"type": "string", "format": "uri"},
    {"type": "string", "format": "time"},
    {"type": "string", "format": "duration"},
    {"type": "string", "format": "email"},
    {"type": "string", "format": "hostname"},
    {"type": "string", "format": "ipv4"},
    {"type": "string", "format": "ipv6"},
    {"type": "string", "pattern": r"^\+?[1-9]\d{7,14}$"},
    {"type": "string", "pattern": r"[^a-z]{4}"},
    {"type": "string", "minLength": 20},
    {"type": "string", "maxLength": 2},
    {"type": "string", "enum": ["b", "a"]},
    {"const": {"x": [1]}},
    {"type": "integer", "exclusiveMinimum": 10},
    {"type": "integer", "exclusiveMaximum": -10},
    {"type": "integer", "maximum": -7},
    {"type": "integer", "minimum": 5, "maximum": 5},
    {"type": "integer", "multipleOf": 6, "minimum": 1},
    {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.001},
    {"type": "number", "multipleOf": 0.1, "minimum": 0.25},
    {"type": "number", "minimum": 10, "exclusiveMinimum": True},  # draft 4's boolean form
    {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string", "format": "date"}], "items": False},
    {"type": "array", "items": {"type": "integer"}, "minItems": 3, "maxItems": 3, "uniqueItems": True},
    {"type": "array", "items": {"type": "string"}, "maxItems": 0},
    {"type": "array", "items": {"type": "string"}, "contains": {"const": "needle"}},
    {"type": "object", "additionalProperties": {"type": "integer", "minimum": 3}, "minProperties": 2},
    {"type": "object", "patternProperties": {"^x-[a-z]+$": {"type": "boolean"}}, "minProperties": 1,
     "additionalProperties": False},
    {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a", "b"]},
    {"type": "object", "propertyNames": {"pattern": "^[A-Z]+$"}, "additionalProperties": {"type": "string"},
     "minProperties": 1},
    {"anyOf": [{"type": "null"}, {"type": "string", "minLength": 3}]},
    {"oneOf": [{"type": "integer"}, {"type": "number"}]},  # 0 is both: the one for `number` alone is 0.5
    {"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
               {"properties": {"b": {"type": "string"}}, "required": ["b"]}, {"minProperties": 2}]},
    {"allOf": [{"type": "integer", "minimum": 3}, {"maximum": 9, "multipleOf": 4}]},
    {"type": "string", "not": {"const": "example"}},
    {"type": ["null", "integer"], "minimum": 2},
    {"$defs": {"Node": {"type": "object", "properties": {"next": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]}},
                        "required": ["next"], "additionalProperties": False}},
     "$ref": "#/$defs/Node"},
    {"$defs": {"A": {"type": "object", "properties": {"b": {"$ref": "#/$defs/B"}}, "required": ["b"]},
               "B": {"type": "object", "properties": {"a": {"type": "array", "items": {"$ref": "#/$defs/A"}}},
                     "required": ["a"]}},
     "$ref": "#/$defs/A"},
    {"definitions": {"Id": {"type": "string", "format": "uuid"}}, "type": "object",
     "properties": {"id": {"$ref": "#/definitions/Id"}}, "required": ["id"]},
    {"type": "string", "contentMediaType": "application/json", "contentSchema": {"type": "array", "minItems": 2}},
]


@pytest.mark.parametrize("schema", KEYWORDS, ids=lambda s: json.dumps(s)[:60])
def test_each_keyword_is_honoured(schema):
    check(schema, example(schema))


def test_the_answer_is_the_same_every_time_and_keeps_the_schemas_order():
    schema = {"type": "object", "properties": {"z": {"type": "string", "pattern": "^[a-f0-9]{8}$"},
                                                "a": {"type": "string", "pattern": "^[A-Z]{2}\\d$"}}}
    first = example(schema)
    assert list(first) == ["z", "a"]
    assert re.fullmatch("[a-f0-9]{8}", first["z"]) and re.fullmatch("[A-Z]{2}\\d", first["a"])
    assert example(json.loads(json.dumps(schema))) == first
    first["z"] = "changed"  # a copy: the next caller does not see it
    assert example(schema)["z"] != "changed"


def test_a_schema_that_is_not_one_is_refused_with_the_param():
    for bad in ({"type": "object", "properties": []}, {"type": "wat"}, {"type": "string", "pattern": "("},
                {"$ref": 3}):
        with pytest.raises((TypeError, ValueError, AttributeError)):
            example(bad)


# -- end to end: the SDK's parse helpers, both faces ----------------------------------------------------------------

@pytest.fixture(params=["proxy", "base-url"])
def any_client(request, use_profile):
    use_profile(Profile())  # no rules: the default answer follows the schema
    return request.getfixturevalue("client" if request.param == "proxy" else "base_client")


@pytest.mark.parametrize("model", STRICT, ids=lambda m: m.__name__)
def test_chat_parse(any_client, model):
    parsed = any_client.chat.completions.parse(model="gpt-4o", messages=MESSAGES, response_format=model)
    assert isinstance(parsed.choices[0].message.parsed, model)


@pytest.mark.parametrize("model", STRICT, ids=lambda m: m.__name__)
def test_responses_parse(any_client, model):
    parsed = any_client.responses.parse(model="gpt-4o", input="Fill the form.", text_format=model)
    assert isinstance(parsed.output_parsed, model)


@pytest.mark.parametrize("model", STRICT, ids=lambda m: m.__name__)
def test_forced_pydantic_function_tool(any_client, model):
    tool = pydantic_function_tool(model)
    forced = {"type": "function", "function": {"name": model.__name__}}
    parsed = any_client.chat.completions.parse(model="gpt-4o", messages=MESSAGES, tools=[tool], tool_choice=forced)
    call = parsed.choices[0].message.tool_calls[0]
    assert isinstance(call.function.parsed_arguments, model)


def test_a_non_strict_schema_with_maps_and_optionals(any_client):
    """json_schema without strict (maps, optional fields, defaults): what older code and instructor send."""
    schema = Containers.model_json_schema()
    fmt = {"type": "json_schema", "json_schema": {"name": "containers", "schema": schema}}
    answer = any_client.chat.completions.create(model="gpt-4o", messages=MESSAGES, response_format=fmt)
    Containers.model_validate_json(answer.choices[0].message.content)


def test_langchain_with_structured_output(base_client, fake, use_profile):
    langchain_openai = pytest.importorskip("langchain_openai")
    use_profile(Profile())
    llm = langchain_openai.ChatOpenAI(model="gpt-4o", base_url=fake.base_url, api_key="sk-test", max_retries=0)
    for method in ("json_schema", "function_calling"):
        answer = llm.with_structured_output(Nested, method=method).invoke("Fill the form.")
        assert isinstance(answer, Nested)


# -- the property test ---------------------------------------------------------------------------------------------

PATTERNS = [r"^[a-z]+$", r"^\d{3}-\d{2}$", r"^(red|green|blue)$", r"[A-Z]", r"^[A-Za-z0-9_]{1,8}$", r"^v\d+\.\d+$"]
FORMATS = ["date-time", "date", "time", "duration", "email", "uuid", "uri", "ipv4", "ipv6", "hostname"]


@st.composite
def integers(draw, kind: str = "integer"):
    schema: dict = {"type": kind}
    step = draw(st.sampled_from([None, 1, 2, 3, 7] if kind == "integer" else [None, 0.5, 0.25, 2.5, 1]))
    low = draw(st.one_of(st.none(), st.integers(-1000, 1000)))
    if step:
        schema["multipleOf"] = step
    if low is not None:
        schema["exclusiveMinimum" if draw(st.booleans()) else "minimum"] = low
    if draw(st.booleans()):
        span = draw(st.integers(2, 50)) * (step or 1) + 2
        high = (low if low is not None else draw(st.integers(-1000, 1000))) + span
        schema["exclusiveMaximum" if draw(st.booleans()) else "maximum"] = high
    return schema


@st.composite
def strings(draw):
    schema: dict = {"type": "string"}
    choice = draw(st.sampled_from(["plain", "pattern", "format", "length"]))
    if choice == "pattern":
        schema["pattern"] = draw(st.sampled_from(PATTERNS))
    elif choice == "format":
        schema["format"] = draw(st.sampled_from(FORMATS))
    elif choice == "length":
        low = draw(st.integers(0, 30))
        schema["minLength"] = low
        if draw(st.booleans()):
            schema["maxLength"] = low + draw(st.integers(0, 5))
    return schema


LEAVES = st.one_of(
    strings(), integers("integer"), integers("number"),
    st.just({"type": "boolean"}), st.just({"type": "null"}),
    st.lists(st.one_of(st.integers(), st.text(max_size=5), st.booleans()), min_size=1, max_size=4, unique=True)
    .map(lambda members: {"enum": members}),
    st.one_of(st.integers(), st.text(max_size=5)).map(lambda v: {"const": v}),
)

NAMES = st.text(alphabet="abcdefghij_", min_size=1, max_size=6)


def containers(children):
    objects = st.builds(
        lambda props, strict, extra: {
            "type": "object", "properties": props,
            "required": list(props) if strict else list(props)[: len(props) // 2],
            **({"additionalProperties": False} if strict else ({"additionalProperties": extra} if extra else {})),
        },
        st.dictionaries(NAMES, children, max_size=4), st.booleans(), st.one_of(st.none(), LEAVES),
    )
    arrays = st.builds(
        lambda items, low, extra: {"type": "array", "items": items, "minItems": low, "maxItems": low + extra},
        children, st.integers(0, 3), st.integers(0, 2),
    )
    tuples = st.lists(children, min_size=1, max_size=3).map(
        lambda items: {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)})
    unions = st.lists(children, min_size=1, max_size=3).map(lambda options: {"anyOf": options})
    nullable = children.map(lambda c: {"anyOf": [c, {"type": "null"}]})
    tagged = st.lists(st.dictionaries(NAMES, children, max_size=2), min_size=1, max_size=3).map(
        lambda branches: {"oneOf": [
            {"type": "object", "properties": {"tag": {"const": f"t{i}"}, **props}, "required": ["tag", *props]}
            for i, props in enumerate(branches)]})
    return st.one_of(objects, arrays, tuples, unions, nullable, tagged)


SCHEMAS = st.recursive(LEAVES, containers, max_leaves=12)


@st.composite
def documents(draw):
    """A generated schema, sometimes with its parts as `$defs` reached by `$ref`, and a recursive one."""
    body = draw(SCHEMAS)
    if draw(st.booleans()):
        return {"$defs": {"Part": body, "Node": {"type": "object", "properties": {
            "part": {"$ref": "#/$defs/Part"},
            "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}, "required": ["part", "children"]}},
            "$ref": "#/$defs/Node"}
    return body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(documents())
def test_property_every_generated_schema_gets_a_value_it_accepts(schema):
    check(schema, example(schema))


def test_a_schema_whose_unions_all_fail_stops_at_the_step_budget():
    """Nested unions whose branches can never fit would take exponential time; the search stops at its
    budget and answers what it has (the event loop it runs on serves every face)."""
    from proxy_addon.engine import examples
    defs = {f"A{i}": {"anyOf": [{"$ref": f"#/$defs/A{i + 1}"}] * 4} for i in range(12)}
    defs["A12"] = {"type": "integer", "not": {"type": "integer"}}
    schema = {"$defs": defs, "type": "object", "properties": {"x": {"$ref": "#/$defs/A0"}}, "required": ["x"]}
    search = examples._Search(schema)
    assert search.first(schema) == {"x": None}
    assert examples.MAX_STEPS < search.steps <= examples.MAX_STEPS + 1
