"""JSON from outside, checked once at the transport level for every API body and the anatomy editor.

Two things a body must not carry, whatever the endpoint:
- nesting deeper than MAX_JSON_DEPTH (a 1,000-deep `[[[...]]]` exhausts Python's recursion while
  parsing or walking it; no document of this app is deeper than a handful of levels);
- NUL characters in a string or key (PostgreSQL refuses them in text and JSON, so they would fail
  on save after everything else was checked).
Both are refused with InvalidInput naming where in the body the problem is.
"""

from __future__ import annotations

import codecs
import json
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from .errors import InvalidInput

MAX_JSON_DEPTH = 64
NUL_REASON = "must not contain NUL characters (\\u0000)"


def _strict_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _join(path: str, key) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def check_value(value: Any, *, name: str) -> None:
    """Refuse nesting deeper than MAX_JSON_DEPTH and NUL characters, naming the place (`name` is
    what the whole value is called: `body`, `document`)."""
    # Iterative on purpose: a recursive walk would itself hit the recursion limit.
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                reason = f"nested deeper than {MAX_JSON_DEPTH} levels"
                raise InvalidInput(f"{name}: {reason}", fields={name: [reason]})
            children = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in children:
                if isinstance(key, str) and "\x00" in key:
                    place = path or name
                    raise InvalidInput(f"{place}: a key {NUL_REASON}", fields={place: [f"a key {NUL_REASON}"]})
                stack.append((child, _join(path, key), depth + 1))
        elif isinstance(item, str) and "\x00" in item:
            place = path or name
            raise InvalidInput(f"{place}: {NUL_REASON}", fields={place: [NUL_REASON]})


def load_checked(text: str, *, name: str) -> Any:
    """json.loads without NaN/Infinity, refusing deep nesting and NUL characters (InvalidInput).
    A syntax error is raised as json.JSONDecodeError, as json.loads does."""
    try:
        value = json.loads(text, parse_constant=_strict_constant)
    except RecursionError:
        reason = f"nested deeper than {MAX_JSON_DEPTH} levels"
        raise InvalidInput(f"{name}: {reason}", fields={name: [reason]}) from None
    check_value(value, name=name)
    return value


class CheckedJSONParser(JSONParser):
    """DRF's JSON parser with the checks above; the body is named `body` in errors."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.getreader(encoding)(stream).read()
            return load_checked(text, name="body")
        except InvalidInput:
            raise
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, NaN/Infinity
            raise ParseError(f"JSON parse error - {exc}") from None
