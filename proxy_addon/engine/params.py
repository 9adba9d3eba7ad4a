"""Reading request parameters the way the real API checks them: one place for the 400s."""

from __future__ import annotations

import functools
import typing
from typing import Any

import pydantic

from . import errors
from .examples import example
from .wire import Request

_MISSING = object()
_EXPECTED = {str: "a string", int: "an integer", float: "a number", bool: "a boolean", list: "an array", dict: "an object"}


def json_body(request: Request) -> dict:
    """The body as a JSON object, or the real API's 400."""
    try:
        body = request.json
    except ValueError:
        raise errors.unparsable_json() from None
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise errors.OpenAIError(400, "The request body must be a JSON object.", code="invalid_type")
    return body


def _check_type(name: str, value: Any, kind: type | tuple[type, ...]) -> None:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds:
        kinds = kinds + (int,)
    # bool is an int in Python but not in JSON.
    if isinstance(value, bool) and bool not in kinds:
        ok = False
    else:
        ok = isinstance(value, kinds)
    if not ok:
        expected = " or ".join(_EXPECTED.get(k, k.__name__) for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise errors.invalid_type(name, expected, value)


def require(body: dict, name: str, kind: type | tuple[type, ...]) -> Any:
    """A required parameter: 400 `missing_required_parameter` or `invalid_type` when wrong."""
    value = body.get(name, _MISSING)
    if value is _MISSING or value is None:
        raise errors.missing_param(name)
    _check_type(name, value, kind)
    return value


def optional(body: dict, name: str, kind: type | tuple[type, ...], default: Any = None,
             minimum: float | None = None, maximum: float | None = None) -> Any:
    """An optional parameter, checked for type and range when present."""
    value = body.get(name)
    if value is None:
        return default
    _check_type(name, value, kind)
    return _in_range(name, value, minimum, maximum, "integer")


def wants_stream(body: dict) -> bool:
    """Whether the request asks for a stream (`"stream": true`)."""
    return bool(optional(body, "stream", bool, False))


def metadata(value: Any) -> dict | None:
    """`metadata` checked as the real API checks it: at most 16 string values, keys <= 64, values <= 512 chars."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise errors.invalid_type("metadata", "an object", value)
    if len(value) > 16:
        raise errors.invalid_value("metadata", f"Invalid 'metadata': too many properties. Expected an object with at most 16 properties, but got an object with {len(value)} properties instead.")
    for key, item in value.items():
        if len(key) > 64:
            raise errors.invalid_value("metadata", f"Invalid 'metadata': key too long. Expected a key with maximum length 64, but got a key with length {len(key)} instead.")
        if not isinstance(item, str):
            raise errors.invalid_type(f"metadata.{key}", "a string", item)
        if len(item) > 512:
            raise errors.invalid_value(f"metadata.{key}", f"Invalid 'metadata.{key}': string too long. Expected a string with maximum length 512, but got a string with length {len(item)} instead.")
    return dict(value)



# -- numbers, arrays, objects: the shapes most parameters share -------------------------------


def _is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float  # never a bool, which JSON does not count as a number


def number(body: dict, name: str, minimum: float | None = None, maximum: float | None = None,
           default: Any = None, param: str | None = None) -> Any:
    """A decimal parameter (`temperature`, `top_p`, ...): the API's 400s for a wrong type or a value out of range.

    `param` names it in the error when it sits inside something else (`tools[0].x`); it defaults to `name`.
    """
    value = body.get(name)
    if value is None:
        return default
    param = param or name
    if not _is_number(value):
        raise errors.invalid_type(param, "a decimal", value)
    return _in_range(param, value, minimum, maximum, "decimal")


def _in_range(param: str, value: Any, minimum: float | None, maximum: float | None, noun: str) -> Any:
    """`value`, or the API's 400 when it is out of [minimum, maximum] (`noun`: "integer" or "decimal")."""
    if minimum is not None and value < minimum:
        raise errors.invalid_value(param, f"Invalid '{param}': {noun} below minimum value. Expected a value >= {minimum}, but got {value} instead.")
    if maximum is not None and value > maximum:
        raise errors.invalid_value(param, f"Invalid '{param}': {noun} above maximum value. Expected a value <= {maximum}, but got {value} instead.")
    return value


def integer(body: dict, name: str, minimum: int | None = None, maximum: int | None = None,
            default: Any = None, param: str | None = None) -> Any:
    """An integer parameter (`n`, `max_tokens`, ...): the API's 400s for a wrong type or a value out of range."""
    value = body.get(name)
    if value is None:
        return default
    param = param or name
    if type(value) is not int:
        raise errors.invalid_type(param, "an integer", value)
    return _in_range(param, value, minimum, maximum, "integer")


#: The sampling parameters and their ranges, as the API states them.
_SAMPLING = (("temperature", 0, 2), ("top_p", 0, 1))
_PENALTIES = (("presence_penalty", -2, 2), ("frequency_penalty", -2, 2))


def sampling(body: dict, penalties: bool = False) -> None:
    """`temperature` (0..2) and `top_p` (0..1), and with `penalties` `presence_penalty` / `frequency_penalty` (-2..2)."""
    for name, low, high in _SAMPLING + _PENALTIES if penalties else _SAMPLING:
        if body.get(name) is not None:  # most requests set none of them: one dict look-up each
            number(body, name, low, high)


def text(value: Any, name: str, max_length: int | None = None) -> Any:
    """A string (or None), at most `max_length` characters long."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise errors.invalid_type(name, "a string", value)
    if max_length is not None and len(value) > max_length:
        raise errors.invalid_value(name, f"Invalid '{name}': string too long. Expected a string with maximum length {max_length}, but got a string with length {len(value)} instead.")
    return value


def obj(value: Any, name: str) -> dict | None:
    """An object (or None), or the API's `invalid_type` naming `name`."""
    if value is not None and not isinstance(value, dict):
        raise errors.invalid_type(name, "an object", value)
    return value


def array(value: Any, name: str, min_items: int | None = None, max_items: int | None = None,
          items: type | tuple[type, ...] | None = None) -> list | None:
    """An array (or None) of `min_items` to `max_items` items, each of type `items` when given (named `name[i]`)."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise errors.invalid_type(name, "an array", value)
    if min_items is not None and len(value) < min_items:
        if not value:
            raise errors.invalid_value(name, f"Invalid '{name}': empty array. Expected an array with minimum length {min_items}, but got an empty array instead.")
        raise errors.invalid_value(name, f"Invalid '{name}': array too short. Expected an array with minimum length {min_items}, but got an array with length {len(value)} instead.")
    if max_items is not None and len(value) > max_items:
        raise errors.invalid_value(name, f"Invalid '{name}': array too long. Expected an array with maximum length {max_items}, but got an array with length {len(value)} instead.")
    if items is not None:
        for i, item in enumerate(value):
            _check_type(f"{name}[{i}]", item, items)
    return value


def kind(value: dict, name: str, allowed: tuple[str, ...] | frozenset[str] | None = None) -> str:
    """The `type` of an object parameter: required, a string, and one of `allowed` (named `name.type`)."""
    found = value.get("type")
    if found is None:
        raise errors.missing_param(f"{name}.type")
    if not isinstance(found, str):
        raise errors.invalid_type(f"{name}.type", "a string", found)
    if allowed is not None and found not in allowed:
        raise errors.invalid_value(f"{name}.type", f"Invalid value: '{found}'. Supported values are: {listed(allowed)}.")
    return found


def choice(value: Any, name: str, allowed: tuple[str, ...] | frozenset[str]) -> Any:
    """A string parameter that must be one of `allowed` (or None): the API's `invalid_type` / `invalid_value`."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise errors.invalid_type(name, "a string", value)
    if value not in allowed:
        raise errors.invalid_value(name, f"Invalid value: '{value}'. Supported values are: {listed(allowed)}.")
    return value


def listed(values) -> str:
    """Values as the API lists them in a message: `'a', 'b', and 'c'`."""
    quoted = [f"'{v}'" for v in values]
    if len(quoted) <= 2:
        return " and ".join(quoted)
    return ", ".join(quoted[:-1]) + ", and " + quoted[-1]


# -- shapes several resources share --------------------------------------------------------------

_FORMATS = ("text", "json_object", "json_schema")


def response_format(body: dict, auto: bool = False, name: str = "response_format") -> Any:
    """`response_format` as chat, assistants, runs and create-and-run take it: `{"type": "text" | "json_object"}`,
    or `{"type": "json_schema", "json_schema": {"name", "schema"?, "strict"?, "description"?}}`; with `auto`,
    also the string "auto" (the Assistants API's default)."""
    value = body.get(name)
    if value is None or (auto and value == "auto"):
        return value
    if not isinstance(value, dict):
        raise errors.invalid_type(name, "'auto' or an object" if auto else "an object", value)
    if kind(value, name, _FORMATS) == "json_schema":
        where = f"{name}.json_schema"
        schema = value.get("json_schema")
        if schema is None:
            raise errors.missing_param(where)
        obj(schema, where)
        if schema.get("name") is None:
            raise errors.missing_param(f"{where}.name")
        text(schema["name"], f"{where}.name", 64)
        obj(schema.get("schema"), f"{where}.schema")
        text(schema.get("description"), f"{where}.description")
        if schema.get("strict") is not None:
            _check_type(f"{where}.strict", schema["strict"], bool)
    return value


#: The tool types each API takes.
CHAT_TOOLS = ("function", "custom")
ASSISTANT_TOOLS = ("code_interpreter", "file_search", "function")


def _function(value: Any, name: str) -> None:
    """A function definition: `{"name", "description"?, "parameters"?, "strict"?}`."""
    if value is None:
        raise errors.missing_param(name)
    obj(value, name)
    if value.get("name") is None:
        raise errors.missing_param(f"{name}.name")
    text(value["name"], f"{name}.name")
    text(value.get("description"), f"{name}.description")
    obj(value.get("parameters"), f"{name}.parameters")
    if value.get("strict") is not None:
        _check_type(f"{name}.strict", value["strict"], bool)


def tools(body: dict, allowed: tuple[str, ...] = CHAT_TOOLS, max_items: int | None = None, name: str = "tools") -> list | None:
    """`tools` as chat (`CHAT_TOOLS`), assistants and runs (`ASSISTANT_TOOLS`) take them: an array of objects
    with a known `type`; a function tool needs a `function` with a string `name`. Errors name `tools[i]...`."""
    value = array(body.get(name), name, max_items=max_items)
    for i, tool in enumerate(value or ()):
        where = f"{name}[{i}]"
        if not isinstance(tool, dict):
            raise errors.invalid_type(where, "an object", tool)
        found = kind(tool, where, allowed)
        if found == "function":
            _function(tool.get("function"), f"{where}.function")
        elif found == "custom":
            custom = tool.get("custom")
            if custom is None:
                raise errors.missing_param(f"{where}.custom")
            obj(custom, f"{where}.custom")
            if custom.get("name") is None:
                raise errors.missing_param(f"{where}.custom.name")
            text(custom["name"], f"{where}.custom.name")
        elif found == "file_search" and tool.get("file_search") is not None:
            options = obj(tool["file_search"], f"{where}.file_search")
            integer(options, "max_num_results", 1, 50, param=f"{where}.file_search.max_num_results")
            obj(options.get("ranking_options"), f"{where}.file_search.ranking_options")
    return value


def tool_resources(value: Any, name: str = "tool_resources") -> dict | None:
    """`tool_resources` of assistants and threads: `code_interpreter.file_ids` (at most 20) and
    `file_search.vector_store_ids` (at most 1), arrays of strings; `file_search.vector_stores` (at most 1)."""
    obj(value, name)
    if not value:
        return value
    code = obj(value.get("code_interpreter"), f"{name}.code_interpreter")
    if code:
        array(code.get("file_ids"), f"{name}.code_interpreter.file_ids", max_items=20, items=str)
    search = obj(value.get("file_search"), f"{name}.file_search")
    if search:
        array(search.get("vector_store_ids"), f"{name}.file_search.vector_store_ids", max_items=1, items=str)
        stores = array(search.get("vector_stores"), f"{name}.file_search.vector_stores", max_items=1, items=dict)
        for i, store in enumerate(stores or ()):
            array(store.get("file_ids"), f"{name}.file_search.vector_stores[{i}].file_ids", items=str)
            obj(store.get("chunking_strategy"), f"{name}.file_search.vector_stores[{i}].chunking_strategy")
    return value


# -- against the SDK's own types --------------------------------------------------------------------

# What a pydantic error type means in the API's words.
_PYDANTIC_EXPECTED = {
    "string_type": "a string", "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "float_type": "a decimal", "float_parsing": "a decimal", "bool_type": "a boolean", "bool_parsing": "a boolean",
    "list_type": "an array", "dict_type": "an object", "model_type": "an object", "model_attributes_type": "an object",
}


def _param_at(param: str, loc: tuple, data: Any) -> str:
    """The API's name (`tools[0].function.name`) for a pydantic error location inside `data`.

    Union members put their tag or class name into the location; those steps are not keys of the
    data and are skipped, except a last one, which names a missing field.
    """
    node = data
    for n, step in enumerate(loc):
        if isinstance(step, int) and isinstance(node, list) and 0 <= step < len(node):
            param, node = f"{param}[{step}]", node[step]
        elif isinstance(step, str) and isinstance(node, dict) and step in node:
            param, node = f"{param}.{step}" if param else step, node[step]
        elif n == len(loc) - 1 and isinstance(step, str) and isinstance(node, dict):
            param = f"{param}.{step}" if param else step
    return param


@functools.lru_cache(maxsize=None)
def _adapter(model: Any, field: str | None) -> pydantic.TypeAdapter:
    return pydantic.TypeAdapter(model if field is None else model.model_fields[field].annotation)


def conforms(model: Any, value: Any, param: str, field: str | None = None) -> Any:
    """`value` checked against an SDK type (`model`, or its `field`): a mismatch is the client's 400, naming
    the offending place in `value` as the API does (`tools[0].vector_store_ids[0]`)."""
    try:
        _adapter(model, field).validate_python(value)
    except pydantic.ValidationError as e:
        first = e.errors()[0]
        where = _param_at(param, tuple(first["loc"]), value)
        if first["type"] == "missing":
            raise errors.missing_param(where) from None
        expected = _PYDANTIC_EXPECTED.get(first["type"])
        if expected is not None:
            raise errors.invalid_type(where, expected, first.get("input")) from None
        raise errors.invalid_value(where, f"Invalid '{where}': {first['msg']}.") from None
    return value


@functools.lru_cache(maxsize=None)
def union_types(union: Any) -> tuple[str, ...]:
    """The `type` values a discriminated SDK union (`openai.types.responses.Tool`) takes, in its order."""
    found: list[str] = []
    stack = [union]
    while stack:
        node = stack.pop(0)
        if isinstance(node, type) and issubclass(node, pydantic.BaseModel):
            annotation = node.model_fields["type"].annotation if "type" in node.model_fields else None
            found += [v for v in typing.get_args(annotation) if isinstance(v, str)]
        else:
            stack += list(typing.get_args(node))
    return tuple(dict.fromkeys(found))


def arguments_for(function: dict) -> Any:
    """Arguments for a forced call of a function tool (`{"name", "parameters"}`): an example of its
    parameters' schema (no schema: `{}`), or the client's 400 on `tools` for a schema that is not one."""
    schema = function.get("parameters") or {"type": "object", "properties": {}}
    return example_of(schema, "tools", f"function '{function.get('name')}'")


def example_of(schema: Any, param: str, what: str) -> Any:
    """An example value of a request's JSON schema (`examples.example`), or the client's 400 when the schema
    is not one (a `properties` that is not an object, a `$ref` that is not a string, ...). `what` names it
    as the API does: "function 'get_weather'", "response_format 'answer'"."""
    try:
        return example(schema)
    except (TypeError, AttributeError, ValueError, KeyError, IndexError) as e:
        raise errors.invalid_value(param, f"Invalid schema for {what}: {type(e).__name__}: {e}.") from None
