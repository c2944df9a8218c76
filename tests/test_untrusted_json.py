"""JSON from peers is bounded in size and nesting before it is parsed (stream/untrusted_json.py)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.messages import parse_viewer_message
from stream.untrusted_json import MAX_DEPTH, loads_bounded, nesting_depth


def reference_depth(value: Any) -> int:
    """The nesting depth of a decoded value, by recursion (fine for the small values generated here)."""
    if isinstance(value, list):
        return 1 + max((reference_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((reference_depth(v) for v in value.values()), default=0)
    return 0


values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) |
                      st.text(alphabet='[]{}"\\ab,:\n\u00e9', max_size=8),
                      lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\x', max_size=4), c,
                                                                          max_size=3),
                      max_leaves=40)


@settings(max_examples=1000, derandomize=True, database=None)
@given(values, st.booleans())
def test_the_depth_counted_before_parsing_is_the_depth_of_the_value(value: Any, ascii_only: bool) -> None:
    """Brackets inside strings (escaped quotes and backslashes included) do not count."""
    text = json.dumps(value, ensure_ascii=ascii_only)
    assert nesting_depth(text) == reference_depth(value)
    assert loads_bounded(text, 10**6) == value


GOLDEN = json.loads((Path(__file__).parent / "golden" / "nesting.json").read_text())


@pytest.mark.parametrize("text, depth", GOLDEN["cases"])
def test_nesting_vectors_shared_with_the_client(text: str, depth: int) -> None:
    """tests/golden/nesting.json: the browser client (client/test/control.test.js) counts the same."""
    assert nesting_depth(text) == depth
    assert GOLDEN["maxDepth"] == MAX_DEPTH


@pytest.mark.parametrize("text, message", [
    ("[" * 5000 + "]" * 5000, "nests 5000 levels deep"),
    ('{"a":' * 40 + "1" + "}" * 40, "nests 40 levels deep"),
    ("[" * 5000, "nests 5000 levels deep"),
    ("[1, 2", "not JSON"),
    ('"\\"[[[[', "not JSON"),
    ("x" * 101, "too long"),
])
def test_deep_long_or_broken_json_is_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        loads_bounded(text, 100 if message == "too long" else 100_000)


def test_the_limit_itself_is_accepted() -> None:
    assert loads_bounded("[" * MAX_DEPTH + "]" * MAX_DEPTH, 1000) == eval("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    with pytest.raises(ValueError, match=f"nests {MAX_DEPTH + 1} levels"):
        loads_bounded("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), 1000)


def test_a_deeply_nested_control_message_is_refused_not_a_recursion_error() -> None:
    """Finding 5 of docs/security.md: 10 KB of brackets raised RecursionError out of the control-message parser."""
    with pytest.raises(ValueError, match="control message nests 5001 levels deep"):
        parse_viewer_message('{"type": "ping", "id": ' + "[" * 5000 + "]" * 5000 + "}")
