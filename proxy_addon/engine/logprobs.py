"""Token log probabilities consistent with an answer's text (`logprobs`, `top_logprobs`).

The text is cut into the model's real tokens, the ones `tokens.count` counts (o200k_base or
cl100k_base: " world" carries its space), so the tokens' bytes joined give the text back exactly.
A token holding part of a character is named as the API names it, `bytes:\xe6\x9d`. A token's log probability is a fixed function
of the token (the same answer gives the same numbers), between -0.25 and 0; `top_logprobs`
lists the chosen token first and then alternatives, each less likely than the one before.

One shape per API: chat's `{"content": [...], "refusal": None}` (`chat`), legacy completions'
`{"tokens", "token_logprobs", "top_logprobs", "text_offset"}` (`legacy`), and Responses'
list of `{token, bytes, logprob, top_logprobs}` (`entries`, which chat uses too).
"""

from __future__ import annotations

import zlib

from . import tokens

#: Alternatives offered in `top_logprobs` after the chosen token: common English tokens.
_ALTERNATIVES = (" the", ",", " and", ".", " a", " of", " to", " is", " in", " that", " it", " for", " you",
                 " with", " on", " as", " this", " be", " are", " was", " not")


def split(text: str, model: str | None = None) -> list[tuple[str, bytes]]:
    """`text` as its tokens in `model`'s vocabulary: each one's name (its text, or `bytes:\\x..` for
    part of a character) and bytes; the bytes joined give `text.encode()` back."""
    return [(_name(piece), piece) for piece in tokens.pieces(text, model)]


def _name(piece: bytes) -> str:
    try:
        return piece.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes:" + "".join(f"\\x{b:02x}" for b in piece)


def _logprob(piece: bytes) -> float:
    return -round((zlib.crc32(piece) % 10_000) / 40_000, 6)


def _one(token: str, piece: bytes, logprob: float) -> dict:
    return {"token": token, "logprob": logprob, "bytes": list(piece)}


def _top(token: str, piece: bytes, logprob: float, n: int) -> list[dict]:
    if n <= 0:
        return []
    out = [_one(token, piece, logprob)]
    start = zlib.crc32(piece) % len(_ALTERNATIVES)
    for k in range(len(_ALTERNATIVES)):
        if len(out) == n:
            break
        alternative = _ALTERNATIVES[(start + k) % len(_ALTERNATIVES)]
        if alternative != token:
            out.append(_one(alternative, alternative.encode(), round(logprob - 1.5 * len(out) - 0.5, 6)))
    return out


def entries(text: str, top: int = 0, model: str | None = None) -> list[dict]:
    """One `{token, logprob, bytes, top_logprobs}` per token of `text` (chat's content items, Responses')."""
    out = []
    for token, piece in split(text, model):
        lp = _logprob(piece)
        out.append({**_one(token, piece, lp), "top_logprobs": _top(token, piece, lp, top)})
    return out


def chat(content: str | None, refusal: str | None, top: int = 0, model: str | None = None) -> dict:
    """A chat choice's (or chunk's) `logprobs`."""
    return {"content": entries(content, top, model) if content is not None else None,
            "refusal": entries(refusal, top, model) if refusal is not None else None}


def legacy(text: str, top: int, offset: int = 0, model: str | None = None) -> dict:
    """A legacy completion choice's `logprobs` (`logprobs: N` asks for N alternatives per token);
    `text_offset` counts characters, a token holding part of one at the character it starts."""
    tokens_, token_logprobs, tops, offsets = [], [], [], []
    at, held = offset, b""
    for token, piece in split(text, model):
        lp = _logprob(piece)
        tokens_.append(token)
        token_logprobs.append(lp)
        tops.append({t["token"]: t["logprob"] for t in _top(token, piece, lp, top)})
        offsets.append(at)
        held += piece
        whole = held.decode("utf-8", "ignore")
        if whole.encode() == held:  # the characters are complete: count them
            at += len(whole)
            held = b""
    return {"tokens": tokens_, "token_logprobs": token_logprobs, "top_logprobs": tops, "text_offset": offsets}
