"""JSON from the other end of a connection, bounded before it is parsed: its size and its nesting.

Python's json module recurses once per level of nesting: 10 KB of ``[`` (5,000 levels) raised
RecursionError, which no caller expected (docs/security.md, finding 5). Every JSON a peer, viewer,
publisher or HTTP client sends goes through :func:`loads_bounded`, which refuses it with a
``ValueError`` first. No message of docs/protocol.md nests deeper than 4.
"""
from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

MAX_DEPTH = 32
"""Levels of arrays and objects inside one another that any JSON we accept may have."""
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def nesting_depth(text: str) -> int:
    """How deep arrays and objects nest in ``text`` (0 for a scalar), counting brackets outside strings.
    Linear in the length, and no recursion: safe on any input."""
    brackets = _NOT_BRACKETS.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def loads_bounded(text: str | bytes, max_chars: int, what: str = "message", max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads(text)`` once ``text`` is known to be at most ``max_chars`` long and ``max_depth`` deep;
    ``ValueError`` saying what is wrong otherwise, or when it is not JSON."""
    if len(text) > max_chars:
        raise ValueError(f"{what} of {len(text)} characters is too long (at most {max_chars})")
    if isinstance(text, bytes):
        try:
            text = text.decode()
        except UnicodeDecodeError:
            raise ValueError(f"{what} is not UTF-8 text") from None
    if (depth := nesting_depth(text)) > max_depth:
        raise ValueError(f"{what} nests {depth} levels deep (at most {max_depth})")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} is not JSON: {exc.msg}") from None
