"""Token log probabilities consistent with an answer's text (`logprobs`, `top_logprobs`).

The text is cut into the same tokens `tokens.count` counts (a run of up to six word characters,
or one punctuation mark), each carrying the whitespace before it, as BPE tokens do (" world"),
so the tokens joined give the text back exactly. A token's log probability is a fixed function
of the token (the same answer gives the same numbers), between -0.25 and 0; `top_logprobs`
lists the chosen token first and then alternatives, each less likely than the one before.

One shape per API: chat's `{"content": [...], "refusal": None}` (`chat`), legacy completions'
`{"tokens", "token_logprobs", "top_logprobs", "text_offset"}` (`legacy`), and Responses'
list of `{token, bytes, logprob, top_logprobs}` (`entries`, which chat uses too).
"""

from __future__ import annotations

import re
import zlib

# Leading whitespace joins the token after it; whitespace at the very end is a token of its own.
_PIECE = re.compile(r"\s*(?:\w{1,6}|[^\w\s])|\s+$", re.UNICODE)
#: Alternatives offered in `top_logprobs` after the chosen token: common English tokens.
_ALTERNATIVES = (" the", ",", " and", ".", " a", " of", " to", " is", " in", " that", " it", " for", " you",
                 " with", " on", " as", " this", " be", " are", " was", " not")


def split(text: str) -> list[str]:
    """`text` as tokens; `"".join(split(text)) == text`."""
    return _PIECE.findall(text) if text else []


def _logprob(token: str) -> float:
    return -round((zlib.crc32(token.encode("utf-8", "surrogatepass")) % 10_000) / 40_000, 6)


def _one(token: str, logprob: float) -> dict:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8", "surrogatepass"))}


def _top(token: str, logprob: float, n: int) -> list[dict]:
    if n <= 0:
        return []
    out = [_one(token, logprob)]
    start = zlib.crc32(token.encode("utf-8", "surrogatepass")) % len(_ALTERNATIVES)
    for k in range(len(_ALTERNATIVES)):
        if len(out) == n:
            break
        alternative = _ALTERNATIVES[(start + k) % len(_ALTERNATIVES)]
        if alternative != token:
            out.append(_one(alternative, round(logprob - 1.5 * len(out) - 0.5, 6)))
    return out


def entries(text: str, top: int = 0) -> list[dict]:
    """One `{token, logprob, bytes, top_logprobs}` per token of `text` (chat's content items, Responses')."""
    out = []
    for token in split(text):
        lp = _logprob(token)
        out.append({**_one(token, lp), "top_logprobs": _top(token, lp, top)})
    return out


def chat(content: str | None, refusal: str | None, top: int = 0) -> dict:
    """A chat choice's (or chunk's) `logprobs`."""
    return {"content": entries(content, top) if content is not None else None,
            "refusal": entries(refusal, top) if refusal is not None else None}


def legacy(text: str, top: int, offset: int = 0) -> dict:
    """A legacy completion choice's `logprobs` (`logprobs: N` asks for N alternatives per token)."""
    tokens_, token_logprobs, tops, offsets = [], [], [], []
    at = offset
    for token in split(text):
        lp = _logprob(token)
        tokens_.append(token)
        token_logprobs.append(lp)
        tops.append({t["token"]: t["logprob"] for t in _top(token, lp, top)})
        offsets.append(at)
        at += len(token)
    return {"tokens": tokens_, "token_logprobs": token_logprobs, "top_logprobs": tops, "text_offset": offsets}
