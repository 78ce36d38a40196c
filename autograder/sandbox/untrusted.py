"""Parsing data a student controls: bounded in size, depth and digits, so that no input can crash the grader.

Whatever comes from a submission (the files handed in, a Comet archive, what a
sandboxed probe wrote) is parsed here, never with a bare ``json.loads``: a
20,000-deep list would raise ``RecursionError``, a 5,000-digit integer an
``OverflowError`` or ``ValueError`` far from where it was read, and a NaN would
compare false with every threshold. Each of these becomes an
:class:`UntrustedDataError`, a ``ValueError`` that says what was wrong.
"""

from __future__ import annotations

import json
import math
from typing import Any

MAX_JSON_DEPTH = 64
"""Nesting deeper than this is refused before parsing (nothing the grader reads nests past 10)."""

MAX_NUMBER_CHARS = 64
"""A number written with more characters than this is refused (a float64 needs at most 24)."""


class UntrustedDataError(ValueError):
    """Data from a submission that the grader refuses to use; the message says why."""


def json_depth(text: str) -> int:
    """The deepest nesting of ``[`` and ``{`` in ``text``, outside strings: a scan that cannot recurse."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _number(text: str, kind: type) -> int | float:
    if len(text) > MAX_NUMBER_CHARS:
        raise UntrustedDataError(f"a number of {len(text):,} characters (at most {MAX_NUMBER_CHARS} are read)")
    value = kind(text)
    if isinstance(value, float) and not math.isfinite(value):
        raise UntrustedDataError(f"the number {text[:20]} is out of range")
    return value


def _constant(name: str):
    raise UntrustedDataError(f"{name} is not a number the grader accepts")


def loads_json(data: bytes | str, *, max_bytes: int, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``data`` parsed as JSON, or :class:`UntrustedDataError`.

    Refused: more than ``max_bytes``, text that is not UTF-8, nesting deeper
    than ``max_depth``, numbers longer than :data:`MAX_NUMBER_CHARS` characters
    or beyond float range, and ``NaN``/``Infinity``.
    """
    if len(data) > max_bytes:
        raise UntrustedDataError(f"{len(data):,} bytes of JSON, more than the {max_bytes:,} expected")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise UntrustedDataError("the JSON is not UTF-8 text") from None
    if json_depth(text) > max_depth:
        raise UntrustedDataError(f"the JSON nests deeper than {max_depth} levels")
    try:
        return json.loads(text, parse_int=lambda s: _number(s, int), parse_float=lambda s: _number(s, float),
                          parse_constant=_constant)
    except UntrustedDataError:
        raise
    except (ValueError, RecursionError) as error:
        raise UntrustedDataError(f"not valid JSON ({str(error)[:200]})") from None


def finite_float(value: Any, *, low: float = -math.inf, high: float = math.inf) -> float:
    """``value`` as a float when it is a real number within ``[low, high]``; else :class:`UntrustedDataError`.

    ``bool`` is refused (``True`` is an ``int``), and so is any number whose
    conversion would overflow.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UntrustedDataError(f"{str(value)[:40]!r} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise UntrustedDataError("a number too large for a float") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise UntrustedDataError(f"{number:g} is not a number between {low:g} and {high:g}")
    return number
