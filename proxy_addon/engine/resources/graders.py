"""Graders, shared by eval runs (`resources/evals.py`) and `POST /v1/fine_tuning/alpha/graders/{run,validate}`.

A grader is checked as the API checks it (`check`: its type's fields, labels, ranges, templates, a Python
grader's source, a multi grader's formula: the API's 400 with `param`), and graded (`grade`) against one
item and one sample:

- `string_check`: `eq`, `ne`, `like` (contains), `ilike` (contains, ignoring case): 1 or 0.
- `text_similarity`: a score in 0..1. `fuzzy_match` is rapidfuzz's `WRatio` (the API's docs name rapidfuzz);
  `bleu`, `gleu` and `meteor` are NLTK's sentence scores over whitespace tokens (`bleu` with NLTK's
  smoothing method 1, so that a short sentence does not score 0; `meteor` matches exact words and Porter
  stems only: WordNet's synonyms are a corpus downloaded at run time); `rouge_1`..`rouge_5` and `rouge_l`
  are the F-measures of rouge-score's defaults (its tokenizer, no stemming), written here, as that package
  would bring numpy and absl for forty lines; `cosine` is the cosine of the two texts' word counts (the
  API embeds them with text-embedding-3-large).
- `label_model`, `score_model`: the profile's `labels` / `scores` knob for the grader's name, else the
  grader's model asked through the engine (`POST /v1/chat/completions` with the grader's prompt and a JSON
  schema for `{"steps", "result"}`), so the active profile answers it, a `chat.completions` handler
  included; the default answer is the schema's first example (the first label, a score of 0).
- `python`: its source is compiled and must define `grade(sample, item)`, but it is **not run**: the
  profile's `scores` knob for its name gives the score, else 1.0.
- `multi` (graders.run only): its graders (a map of name to grader, as the API takes it) each graded, and
  `calculate_output` evaluated over their scores (`+ - * / ^`, `min max abs floor ceil exp sqrt log`).

Templates (`{{ item.answer }}`, `{{sample.output_text}}`, `{{ sample.output_tools[0].function.name }}`)
are rendered against the item and the sample; a variable that is not there renders as "".
"""

from __future__ import annotations

import ast
import collections
import functools
import math
import re
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

from .. import errors, knobs, params, tokens
from ...codec import from_json, to_json
from ..bodies import check as check_body, merge
from ..instances import resolve
from ..wire import Reply, Request

RULE = "fine_tuning.alpha.graders"
#: `labels`: grader name -> the label a label_model grader gives; `scores`: grader name -> the score a
#: score_model or python grader gives. Without them a model grader's model answers through the profile.
KNOBS: dict[str, Any] = {"labels": dict[str, str], "scores": dict[str, float]}
DOCS = {
    "labels": knobs.Doc("a `label_model` grader asks its model, through the profile's `chat.completions`",
                        'Grader name → the label a `label_model` grader of that name gives, without asking its model, '
                        'e.g. `{"tone": "polite"}`; it passes when the label is one of its `passing_labels`.'),
    "scores": knobs.Doc("a `score_model` grader asks its model; a `python` grader scores 1.0",
                        'Grader name → the score a `score_model` grader (clamped to its `range`) or a `python` grader '
                        'of that name gives, without asking a model or running code, e.g. `{"accuracy": 0.7}`.'),
}

_EVAL = "openai.types.eval_create_params:"
_GRADERS = "openai.types.graders."
#: The SDK's params type of each grader, where it is a criterion of an eval, a grader of graders.run, or one
#: of a multi grader's graders.
IN_EVAL = {"label_model": _EVAL + "TestingCriterionLabelModel", "string_check": _GRADERS + "string_check_grader_param:StringCheckGraderParam",
           "text_similarity": _EVAL + "TestingCriterionTextSimilarity", "python": _EVAL + "TestingCriterionPython",
           "score_model": _EVAL + "TestingCriterionScoreModel"}
IN_RUN = {"string_check": IN_EVAL["string_check"], "text_similarity": _GRADERS + "text_similarity_grader_param:TextSimilarityGraderParam",
          "python": _GRADERS + "python_grader_param:PythonGraderParam", "score_model": _GRADERS + "score_model_grader_param:ScoreModelGraderParam",
          "multi": None}
IN_MULTI = {**{k: v for k, v in IN_RUN.items() if k != "multi"}, "label_model": _GRADERS + "label_model_grader_param:LabelModelGraderParam"}

_VARIABLE = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_STEP = re.compile(r"\[(\d+)\]|([^.\[\]]+)")
_FUNCTIONS = {"min": min, "max": max, "abs": abs, "floor": math.floor, "ceil": math.ceil, "exp": math.exp,
              "sqrt": math.sqrt, "log": math.log}
_OPERATORS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
              ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: a ** b}
#: The flags of graders.run's `metadata.errors`, all false unless a grading met one.
ERROR_FLAGS = ("formula_parse_error", "sample_parse_error", "truncated_observation_error", "unresponsive_reward_error",
               "invalid_variable_error", "other_error", "python_grader_server_error", "python_grader_runtime_error",
               "model_grader_server_error", "model_grader_refusal_error", "model_grader_parse_error")


# -- checking a grader, as the API does --------------------------------------------------------


def check(grader: Any, param: str, kinds: dict[str, str | None], namespaces: frozenset[str] = frozenset({"item", "sample"})) -> str:
    """The API's 400 for a grader it would refuse (`param` names where it is: `testing_criteria[0]`, `grader`);
    `kinds`: the grader types allowed there and their SDK params types. Its type, when it is fine."""
    if not isinstance(grader, dict):
        raise errors.invalid_type(param, "an object", grader)
    kind = params.kind(grader, param, tuple(kinds))
    if kind == "multi":
        _check_multi(grader, param)
        return kind
    params.conforms(resolve(kinds[kind]), grader, param)
    check_templates(_templates(grader, param), namespaces)
    if kind == "label_model":
        if not grader["labels"]:
            raise errors.invalid_value(f"{param}.labels", f"Invalid '{param}.labels': expected at least one label.")
        stray = [label for label in grader["passing_labels"] if label not in grader["labels"]]
        if stray:
            raise errors.invalid_value(f"{param}.passing_labels", f"Invalid '{param}.passing_labels': {stray[0]!r} is not one of the "
                                                                   f"grader's labels {list(grader['labels'])}.")
    elif kind == "score_model" and grader.get("range") is not None:
        low_high = grader["range"]
        if len(low_high) != 2 or not low_high[0] < low_high[1]:
            raise errors.invalid_value(f"{param}.range", f"Invalid '{param}.range': expected [min, max] with min < max, got {low_high}.")
    elif kind == "python":
        _check_source(grader["source"], f"{param}.source")
    return kind


def _templates(grader: dict, param: str):
    """(param, text) of every string of a grader that is rendered: its input and reference, its messages' text."""
    for key in ("input", "reference"):
        if isinstance(grader.get(key), str):
            yield f"{param}.{key}", grader[key]
    if isinstance(grader.get("input"), list):
        yield from message_texts(grader["input"], f"{param}.input")


def message_texts(messages: list, param: str):
    """(param, text) of every text of a list of messages (`param[i].content`, `param[i].content[j].text`)."""
    for i, message in enumerate(messages):
        content = message.get("content") if isinstance(message, dict) else None
        for j, part in enumerate(content if isinstance(content, list) else [content]):
            where = f"{param}[{i}].content" + (f"[{j}]" if isinstance(content, list) else "")
            if isinstance(part, str):
                yield where, part
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                yield f"{where}.text", part["text"]


def check_templates(texts, namespaces: frozenset[str]) -> None:
    """The API's 400 for a template variable (`{{ x.y }}`) outside the namespaces allowed there; `texts` are
    (param, text) pairs."""
    for where, text in texts:
        _check_template(text, where, namespaces)


def _check_template(text: str, param: str, namespaces: frozenset[str]) -> None:
    for variable in _VARIABLE.findall(text):
        namespace = variable.split(".", 1)[0].split("[", 1)[0]
        if namespace not in namespaces:
            allowed = " and ".join(f"'{n}'" for n in sorted(namespaces))
            raise errors.invalid_value(param, f"Invalid template variable {{{{{variable}}}}} in '{param}': the namespaces a "
                                              f"grader may use here are {allowed}.")


def _check_source(source: str, param: str) -> None:
    """A Python grader's source must compile and define `grade(sample, item)`; it is never run."""
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        raise errors.invalid_value(param, f"Invalid '{param}': the Python source does not compile: {e.msg} (line {e.lineno}).") from None
    grade_fns = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "grade"]
    if not grade_fns or len(grade_fns[0].args.args) != 2:
        raise errors.invalid_value(param, f"Invalid '{param}': the Python source must define a function "
                                          "`grade(sample, item)` that takes exactly two arguments.")


def sub_graders(grader: dict) -> dict[str, Any]:
    """A multi grader's graders by the names its formula uses: a map as the API takes it, or one grader (as the
    SDK types it), named by its own name."""
    graders = grader.get("graders")
    if isinstance(graders, dict) and isinstance(graders.get("type"), str):
        return {str(graders.get("name") or graders["type"]): graders}
    return graders if isinstance(graders, dict) else {}


def _check_multi(grader: dict, param: str) -> None:
    for key in ("name", "calculate_output", "graders"):
        if key not in grader:
            raise errors.missing_param(f"{param}.{key}")
    for key in ("name", "calculate_output"):
        if not isinstance(grader[key], str):
            raise errors.invalid_type(f"{param}.{key}", "a string", grader[key])
    if not isinstance(grader["graders"], dict):
        raise errors.invalid_type(f"{param}.graders", "an object", grader["graders"])
    named = sub_graders(grader)
    if not named:
        raise errors.invalid_value(f"{param}.graders", f"Invalid '{param}.graders': expected at least one grader.")
    single = named is not grader["graders"]
    for key, sub in named.items():
        check(sub, f"{param}.graders" if single else f"{param}.graders.{key}", IN_MULTI)
    try:
        _formula(grader["calculate_output"], set(named))
    except ValueError as e:
        raise errors.invalid_value(f"{param}.calculate_output", f"Invalid '{param}.calculate_output': {e}") from None


@functools.lru_cache(maxsize=256)
def _parsed(formula: str) -> ast.Expression:
    # The API's `^` is a power, binding tighter than `*`: Python's `**`, not its (looser) `^`.
    return ast.parse(formula.strip().replace("^", "**"), mode="eval")


def _formula(formula: str, names: set[str], values: dict[str, float] | None = None) -> float:
    """`formula` evaluated over `values` (or, without values, only checked): numbers, the graders' names, the
    API's operators and functions; ValueError saying what is wrong."""
    try:
        tree = _parsed(formula)
    except SyntaxError as e:
        raise ValueError(f"the formula does not parse: {e.msg}.") from None

    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in names:
                raise ValueError(f"{node.id!r} is not one of the graders ({', '.join(sorted(names))}).")
            return 1.0 if values is None else float(values[node.id])
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            left, right = ev(node.left), ev(node.right)
            return _OPERATORS[type(node.op)](left, right) if values is not None else 1.0
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = ev(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS and not node.keywords \
                and node.args:
            args = [ev(arg) for arg in node.args]
            most = {"min": None, "max": None, "log": 2}.get(node.func.id, 1)
            if most is not None and len(args) > most:
                raise ValueError(f"{node.func.id}() takes {'one argument' if most == 1 else 'one or two arguments'}.")
            return float(_FUNCTIONS[node.func.id](*args)) if values is not None else 1.0
        raise ValueError(f"{ast.unparse(node)!r} is not a number, a grader's name, an operator (+ - * / ^) or a function "
                         f"({', '.join(_FUNCTIONS)}).")

    return ev(tree)


# -- templates ---------------------------------------------------------------------------


def lookup(variable: str, namespaces: dict[str, Any]) -> tuple[bool, Any]:
    """(found, value) of a template variable (`item.answer`, `sample.output_tools[0].function.name`)."""
    node: Any = namespaces
    for index, key in _STEP.findall(variable):
        if key:
            if not isinstance(node, dict) or key not in node:
                return False, None
            node = node[key]
        else:
            if not isinstance(node, list) or int(index) >= len(node):
                return False, None
            node = node[int(index)]
    return True, node


def render(text: str, namespaces: dict[str, Any], missing: list[str] | None = None) -> str:
    """`text` with each `{{ variable }}` replaced by its value (a string as it is, anything else as JSON); a
    variable that is not there renders as "" and is added to `missing`."""
    if "{{" not in text:
        return text

    def one(match: re.Match) -> str:
        found, value = lookup(match.group(1), namespaces)
        if not found or value is None:
            if missing is not None:
                missing.append(match.group(1))
            return ""
        return value if isinstance(value, str) else to_json(value).decode()

    return _VARIABLE.sub(one, text)


def sample_namespace(output_text: str, *, choices: list | None = None, tools: list | None = None, model: str | None = None,
                     json_output: bool = True) -> dict:
    """The `sample` namespace: `output_text`, `output_json` (when the text is JSON), `output_tools`, `choices`."""
    sample: dict[str, Any] = {"output_text": output_text, "output_tools": tools or [], "choices": choices or []}
    if model:
        sample["model"] = model
    if json_output:
        try:
            parsed = from_json(output_text) if output_text else None
        except ValueError:
            parsed = None
        if isinstance(parsed, (dict, list)):
            sample["output_json"] = parsed
    return sample


# -- grading ------------------------------------------------------------------------------


@dataclass
class Grade:
    """One grader's verdict on one item: its score, whether it passed, and what it met on the way."""

    score: float
    passed: bool
    error: str | None = None  # the flag of graders.run's `metadata.errors` it met: "model_grader_server_error", ...
    detail: str | None = None  # what went wrong, in words
    sample: dict | None = None  # a model grader's own exchange with its model
    usage: dict[str, dict] = field(default_factory=dict)  # model -> token counts, of the model graders' calls
    sub: dict[str, float] = field(default_factory=dict)  # a multi grader's graders' scores
    model: str | None = None  # the model a model grader asked
    missing: list[str] = field(default_factory=list)  # template variables that were not there


class Judge:
    """How the graders a model (or code) would answer are answered, for one call: the rule's `labels` and
    `scores` knobs, else the grader's model through the engine, with the active profile."""

    def __init__(self, call, auth: str | None = None) -> None:
        self.call = call
        self.labels: dict[str, str] = call.knob("labels") or {}
        self.scores: dict[str, float] = call.knob("scores") or {}
        self.auth = auth or call.request.headers.get("authorization") or "Bearer sk-grader"

    def ask(self, grader: dict, messages: list[dict], result: dict) -> tuple[Any, dict, str | None]:
        """The grader's model asked for `{"steps", "result"}` (`result`: the result's JSON schema): (the result,
        its exchange as a grade's sample, an error flag or None)."""
        sampling = grader.get("sampling_params") or {}
        body: dict[str, Any] = {"model": grader["model"], "messages": messages, "response_format": {"type": "json_schema", "json_schema": {
            "name": "grader_result", "strict": True, "schema": {
                "type": "object", "additionalProperties": False, "required": ["steps", "result"],
                "properties": {"steps": {"type": "array", "items": {"type": "object", "additionalProperties": False,
                                                                    "required": ["description", "conclusion"],
                                                                    "properties": {"description": {"type": "string"},
                                                                                   "conclusion": {"type": "string"}}}},
                               "result": result}}}}}
        for key in ("temperature", "top_p", "seed", "reasoning_effort"):
            if sampling.get(key) is not None:
                body[key] = sampling[key]
        if sampling.get("max_completions_tokens") is not None:  # the grader's spelling, chat's is max_completion_tokens
            body["max_completion_tokens"] = sampling["max_completions_tokens"]
        reply = self.call.engine.handle(Request("POST", "/v1/chat/completions", {"content-type": "application/json",
                                                                                 "authorization": self.auth}, to_json(body)))
        payload = reply.payload if reply.payload is not None else _decoded(reply.body)
        exchange = {"input": [{"role": m["role"], "content": tokens.text_of(m["content"])} for m in messages], "output": [],
                    "model": grader["model"], "usage": None}
        if reply.status >= 400 or not isinstance(payload, dict):
            error = payload.get("error") if isinstance(payload, dict) else None
            exchange["error"] = {"code": str((error or {}).get("code") or reply.status),
                                 "message": str((error or {}).get("message") or "The grader's model did not answer.")}
            return None, exchange, "model_grader_server_error"
        message = (payload.get("choices") or [{}])[0].get("message") or {}
        content = message.get("content") or ""
        exchange["output"] = [{"role": "assistant", "content": content}]
        exchange["model"] = payload.get("model") or grader["model"]
        exchange["usage"] = _chat_usage(payload.get("usage"))
        if message.get("refusal"):
            return None, exchange, "model_grader_refusal_error"
        try:
            said = from_json(content)
        except ValueError:
            said = content.strip()  # a handler's bare answer: "positive", "0.8"
        return (said.get("result") if isinstance(said, dict) else said), exchange, None


def _decoded(body: bytes) -> Any:
    try:
        return from_json(body) if body else None
    except ValueError:
        return None


def _chat_usage(usage: Any) -> dict:
    usage = usage if isinstance(usage, dict) else {}
    details = usage.get("prompt_tokens_details") or {}
    return {"prompt_tokens": usage.get("prompt_tokens") or 0, "completion_tokens": usage.get("completion_tokens") or 0,
            "total_tokens": usage.get("total_tokens") or 0, "cached_tokens": details.get("cached_tokens") or 0}


def grade(grader: dict, namespaces: dict[str, Any], judge: Judge) -> Grade:
    """`grader`'s verdict on the item and sample of `namespaces` (`{"item": {...}, "sample": {...}}`)."""
    kind = grader["type"]
    missing: list[str] = []
    if kind == "string_check":
        given, reference = render(grader["input"], namespaces, missing), render(grader["reference"], namespaces, missing)
        operation = grader["operation"]
        hit = {"eq": given == reference, "ne": given != reference, "like": reference in given,
               "ilike": reference.lower() in given.lower()}[operation]
        found = Grade(1.0 if hit else 0.0, hit)
    elif kind == "text_similarity":
        score = similarity(grader["evaluation_metric"], render(grader["input"], namespaces, missing),
                           render(grader["reference"], namespaces, missing))
        found = Grade(score, score >= float(grader.get("pass_threshold", 1.0)))
    elif kind == "python":
        score = float(judge.scores.get(grader["name"], 1.0))  # its source is not run
        found = Grade(score, score >= float(grader.get("pass_threshold", 0.5)))
    elif kind in ("label_model", "score_model"):
        found = _model_grade(grader, namespaces, judge, missing)
    elif kind == "multi":
        found = _multi_grade(grader, namespaces, judge)
    else:  # pragma: no cover - check() let only these through
        raise AssertionError(f"unknown grader type {kind!r}")
    found.missing += missing
    if found.missing and found.error is None:
        found.error = "invalid_variable_error"
    return found


def _messages(grader: dict, namespaces: dict[str, Any], missing: list[str]) -> list[dict]:
    """A model grader's prompt rendered as chat messages."""
    out = []
    for message in grader["input"]:
        content = message["content"]
        parts = content if isinstance(content, list) else [content]
        rendered: list[dict] = []
        for part in parts:
            if isinstance(part, str):
                rendered.append({"type": "text", "text": render(part, namespaces, missing)})
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                rendered.append({"type": "text", "text": render(part["text"], namespaces, missing)})
            elif isinstance(part, dict) and part.get("type") == "input_image":
                rendered.append({"type": "image_url", "image_url": {"url": render(part.get("image_url", ""), namespaces, missing)}})
        texts = [p["text"] for p in rendered if p["type"] == "text"]
        out.append({"role": message["role"], "content": "".join(texts) if len(texts) == len(rendered) else rendered})
    return out


def _model_grade(grader: dict, namespaces: dict[str, Any], judge: Judge, missing: list[str]) -> Grade:
    name, labels = grader["name"], grader.get("labels")
    if grader["type"] == "label_model" and name in judge.labels:
        label = judge.labels[name]
        passed = label in grader["passing_labels"]
        return Grade(1.0 if passed else 0.0, passed, sample={"label": label})
    low, high = (grader.get("range") or [0.0, 1.0])[:2]
    threshold = float(grader["pass_threshold"]) if grader.get("pass_threshold") is not None else (low + high) / 2
    if grader["type"] == "score_model" and name in judge.scores:
        score = min(max(float(judge.scores[name]), low), high)
        return Grade(score, score >= threshold)
    messages = _messages(grader, namespaces, missing)
    schema = {"type": "string", "enum": list(labels)} if grader["type"] == "label_model" else {"type": "number"}
    said, exchange, error = judge.ask(grader, messages, schema)
    usage = {exchange["model"]: exchange["usage"]} if exchange.get("usage") else {}
    if error is not None:
        return Grade(0.0, False, error, exchange.get("error", {}).get("message"), exchange, usage, exchange["model"])
    if grader["type"] == "label_model":
        label = said if isinstance(said, str) else None
        if label not in labels:
            return Grade(0.0, False, "model_grader_parse_error", f"The grader's model answered {said!r}, not one of its labels {labels}.",
                         exchange, usage, exchange["model"])
        passed = label in grader["passing_labels"]
        return Grade(1.0 if passed else 0.0, passed, sample={**exchange, "label": label}, usage=usage, model=exchange["model"])
    try:
        score = float(said)
    except (TypeError, ValueError):
        score = 0.0  # a non-numeric answer scores 0, as the API's docs say
    if math.isnan(score):
        score = 0.0
    score = min(max(score, low), high)
    return Grade(score, score >= threshold, sample=exchange, usage=usage, model=exchange["model"])


def _multi_grade(grader: dict, namespaces: dict[str, Any], judge: Judge) -> Grade:
    subs = {key: grade(sub, namespaces, judge) for key, sub in sub_graders(grader).items()}
    usage: dict[str, dict] = {}
    for found in subs.values():
        for model, counts in found.usage.items():
            usage[model] = {k: usage.get(model, {}).get(k, 0) + v for k, v in counts.items()}
    error = next((s.error for s in subs.values() if s.error), None)
    missing = [m for s in subs.values() for m in s.missing]
    scores = {key: found.score for key, found in subs.items()}
    model = next((s.model for s in subs.values() if s.model), None)
    try:
        reward = _formula(grader["calculate_output"], set(scores), scores)
    except (ValueError, ArithmeticError) as e:  # a division by zero, a log of 0
        return Grade(0.0, False, error or "other_error", str(e), None, usage, scores, model, missing)
    return Grade(reward, reward >= 1.0, error, None, None, usage, scores, model, missing)


# -- text similarity ---------------------------------------------------------------------


def similarity(metric: str, given: str, reference: str) -> float:
    """The `text_similarity` score of `given` against `reference`, 0..1."""
    if metric == "fuzzy_match":
        from rapidfuzz import fuzz, utils

        return float(fuzz.WRatio(given, reference, processor=utils.default_process)) / 100.0
    if metric.startswith("rouge_"):
        return _rouge(metric[6:], given, reference)
    if metric == "cosine":
        a, b = collections.Counter(_rouge_tokens(given)), collections.Counter(_rouge_tokens(reference))
        norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
        return sum(a[w] * b[w] for w in a) / norm if norm else 0.0
    hypothesis, references = given.split(), [reference.split()]
    if not hypothesis or not references[0]:
        return 0.0
    nltk = _nltk()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NLTK warns of n-gram orders with no overlap; the score says it
        if metric == "bleu":
            return float(nltk.sentence_bleu(references, hypothesis, smoothing_function=nltk.smoothing.method1))
        if metric == "gleu":
            return float(nltk.sentence_gleu(references, hypothesis))
        return float(nltk.meteor_score(references, hypothesis, wordnet=_NoSynonyms()))


class _NoSynonyms:
    """WordNet as METEOR asks it, with no synonyms: the corpus is a run-time download."""

    @staticmethod
    def synsets(*_args, **_kwargs) -> list:
        return []


@functools.lru_cache(maxsize=1)
def _nltk() -> Any:
    """NLTK's sentence scores, imported at first use (NLTK takes a fifth of a second to import)."""
    from types import SimpleNamespace

    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
    from nltk.translate.gleu_score import sentence_gleu
    from nltk.translate.meteor_score import meteor_score

    return SimpleNamespace(sentence_bleu=sentence_bleu, sentence_gleu=sentence_gleu, meteor_score=meteor_score,
                           smoothing=SmoothingFunction())


_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def _rouge_tokens(text: str) -> list[str]:
    """rouge-score's default tokenizer: lower case, every run of other characters a space."""
    return _NON_ALNUM.sub(" ", text.lower()).split()


def _fmeasure(overlap: int, given: int, reference: int) -> float:
    precision = overlap / given if given else 0.0
    recall = overlap / reference if reference else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _rouge(which: str, given: str, reference: str) -> float:
    """ROUGE-N (`which` "1".."5") or ROUGE-L ("l") F-measure, as rouge-score computes them."""
    hyp, ref = _rouge_tokens(given), _rouge_tokens(reference)
    if which == "l":
        previous = [0] * (len(hyp) + 1)
        for r in ref:  # the longest common subsequence, one row at a time
            row = [0]
            for j, h in enumerate(hyp):
                row.append(previous[j] + 1 if r == h else max(previous[j + 1], row[j]))
            previous = row
        return _fmeasure(previous[-1], len(hyp), len(ref))
    n = int(which)
    grams = lambda words: collections.Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))  # noqa: E731
    hyp_grams, ref_grams = grams(hyp), grams(ref)
    overlap = sum(min(count, ref_grams[gram]) for gram, count in hyp_grams.items())
    return _fmeasure(overlap, sum(hyp_grams.values()), sum(ref_grams.values()))


# -- the endpoints ------------------------------------------------------------------------


def _body(call) -> dict:
    body = params.json_body(call.request)
    if "grader" not in body:
        raise errors.missing_param("grader")
    return body


def run(call) -> Any:
    """POST /v1/fine_tuning/alpha/graders/run: the grader's reward for `model_sample` and `item`."""
    body = _body(call)
    check(body["grader"], "grader", IN_RUN)
    sample_text = body.get("model_sample")
    if sample_text is None:
        raise errors.missing_param("model_sample")
    if not isinstance(sample_text, str):
        raise errors.invalid_type("model_sample", "a string", sample_text)
    item = body.get("item")
    if item is not None and not isinstance(item, dict):
        raise errors.invalid_type("item", "an object", item)
    grader = body["grader"]
    started = time.perf_counter()
    found = grade(grader, {"item": item or {}, "sample": sample_namespace(sample_text)}, Judge(call))
    flags: dict[str, Any] = {flag: found.error == flag for flag in ERROR_FLAGS}
    flags.update(python_grader_server_error_type=None, python_grader_runtime_error_details=None,
                 model_grader_server_error_details=found.detail if found.error == "model_grader_server_error" else None)
    total_tokens = sum(u.get("total_tokens", 0) for u in found.usage.values())
    answer = {
        "reward": found.score,
        "metadata": {"name": grader["name"], "type": grader["type"], "errors": flags,
                     "execution_time": time.perf_counter() - started, "scores": dict(found.sub),
                     "token_usage": total_tokens if found.usage else None, "sampled_model_name": found.model},
        "sub_rewards": dict(found.sub),
        "model_grader_token_usage_per_model": found.usage,
    }
    custom = call.custom()
    if custom is not None and not isinstance(custom, dict):
        raise call.unfit(custom)
    answer = merge(answer, custom or {})
    check_body(resolve("openai.types.fine_tuning.alpha:GraderRunResponse"), answer, call.where)
    return Reply.json(200, answer)


def validate(call) -> Any:
    """POST /v1/fine_tuning/alpha/graders/validate: the grader back, or the API's 400 for one it would refuse."""
    body = _body(call)
    kind = check(body["grader"], "grader", IN_RUN)
    answer = {"grader": body["grader"]}
    if kind != "multi":  # the SDK types a multi grader's `graders` as one grader, where the API takes a map of them
        check_body(resolve("openai.types.fine_tuning.alpha:GraderValidateResponse"), answer, call.where)
    return Reply.json(200, answer)


#: The SDK methods this module serves (their method and path are the route table's), and how.
HANDLES = {
    "fine_tuning.alpha.graders.run": run,
    "fine_tuning.alpha.graders.validate": validate,
}
