"""mlrp.client.wire: the client's JSON, without the `json` package, must read and write
exactly what `json` does, and fail the way it does."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlrp.client import wire

scalars = st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@given(documents)
def test_dumps_and_loads_agree_with_json(value: Any) -> None:
    text = wire.dumps(value)
    assert text == json.dumps(value, separators=(",", ":"))
    assert wire.loads(text) == json.loads(text)
    assert wire.loads(text.encode()) == json.loads(text)
    spaced = json.dumps(value, indent=1)
    assert wire.loads(f" \n{spaced}\n ") == json.loads(spaced)


def test_special_values_as_json_writes_them() -> None:
    assert wire.dumps({1: (1, 2), "x": None}) == '{"1":[1,2],"x":null}'
    assert wire.dumps([math.inf]) == "[Infinity]"
    assert math.isnan(wire.loads("[NaN]")[0])
    assert wire.loads('"\\u00e9\\n"') == "é\n"


@pytest.mark.parametrize("text", ["", "{", '{"a" 1}', "[1] x", "nul", "[1,]", '"\x01"'])
def test_malformed_documents_fail_as_json_does(text: str) -> None:
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as got:
        wire.loads(text)
    assert str(got.value) == str(expected.value)


def test_what_json_cannot_write_is_refused_and_leaves_no_trace() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        wire.dumps({"a": [object()]})
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        wire.dumps(loop)
    assert wire.dumps({"a": [1]}) == '{"a":[1]}'  # the failures left nothing behind
