"""JSON on the wire without the `json` package.

`import json` loads `re` (and with it `enum`, `functools`, `collections`...), which
costs a CLI call more than everything else it does. The package's own C accelerator,
`_json`, needs none of that: its encoder and scanner are what `json.dumps` and
`json.loads` run underneath. It is loaded on first use (a call that only prints what
the daemon sent never needs it). Anything unusual (a malformed document, an interpreter
without the accelerator) is handed to the `json` package, so errors are exactly its.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing would slow every CLI call
    from collections.abc import Callable
    from typing import Any

    Encode = Callable[[object, int], list[str]]
    Scan = Callable[[str, int], tuple[Any, int]]

_WHITESPACE = " \t\n\r"
_MARKERS: dict[int, object] = {}  # the encoder's guard against circular references
_codec: tuple[Encode, Scan] | None = None


def dumps(value: object) -> str:
    """`json.dumps(value, separators=(",", ":"))`."""
    codec = _accelerator()
    if codec is None:  # pragma: no cover
        import json

        return json.dumps(value, separators=(",", ":"))
    _MARKERS.clear()  # what a failed call may have left
    return "".join(codec[0](value, 0))


def loads(data: str | bytes) -> Any:
    """`json.loads(data)` for UTF-8 text."""
    text = data.decode() if isinstance(data, bytes) else data
    codec = _accelerator()
    if codec is not None:
        start = len(text) - len(text.lstrip(_WHITESPACE))
        try:
            value, end = codec[1](text, start)
        except Exception:  # malformed: let json say why, below
            pass
        else:
            if not text[end:].strip(_WHITESPACE):
                return value
    import json  # a malformed document (or no accelerator): json's own verdict

    return json.loads(text)


def _accelerator() -> tuple[Encode, Scan] | None:
    global _codec
    if _codec is None:
        try:
            import _json
        except ImportError:  # pragma: no cover - not CPython
            return None
        encode = _json.make_encoder(
            _MARKERS,
            _not_serializable,
            _json.encode_basestring_ascii,
            None,
            ":",
            ",",
            False,
            False,
            True,
        )
        _codec = (encode, _json.make_scanner(_Context()))  # type: ignore[arg-type]
    return _codec


def _not_serializable(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


class _Context:
    """What the C scanner reads from a decoder: the defaults of `json.loads`."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {
        "NaN": float("nan"),
        "Infinity": float("inf"),
        "-Infinity": float("-inf"),
    }.__getitem__
