"""The result document (spec section 4): what the REST API returns and the
management command prints.

    {"valid": true, "errors": [], "results": {name: {...}}, "prediction": {...}}
    {"valid": false, "errors": [...], "results": null, "prediction": null}

Invalid documents keep the same four keys (with nulls) so that every consumer
can read one shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Union

from classification.anatomy import AnatomyInvalid, parse_anatomy
from classification.prediction import OutcomeTally, RecipientContext, predict
from classification.systems import classify_all

RULES_VERSION = "2024.1"

LocalTallies = Union[
    Mapping[tuple[str, int], OutcomeTally],
    Callable[[str, int], Union[OutcomeTally, None]],
]


def classify_document(
    document: Any,
    *,
    recipient: RecipientContext | None = None,
    local_tallies: LocalTallies | None = None,
) -> dict[str, Any]:
    """Validate and classify one anatomy document.

    `local_tallies` gives the centre's own outcomes for a (proposed type, predicted
    count) pair, e.g. `("2", 2)`: a mapping with such keys, or a callable taking
    the type and the count. Never raises on bad input; problems come back as
    `errors`.
    """
    try:
        anatomy = parse_anatomy(document)
    except AnatomyInvalid as invalid:
        return invalid_result(invalid.errors)
    results = classify_all(anatomy)
    proposed = results["proposed"]
    count = len(proposed.exits)
    local = find_tally(local_tallies, proposed.type, count)
    prediction = predict(proposed, graft=anatomy.graft, recipient=recipient, local=local)
    return {
        "valid": True,
        "errors": [],
        "results": {name: result.as_dict() for name, result in results.items()},
        "prediction": prediction.as_dict(),
    }


def invalid_result(errors: list[str]) -> dict[str, Any]:
    return {"valid": False, "errors": list(errors), "results": None, "prediction": None}


def find_tally(local_tallies: LocalTallies | None, graft_type: str, count: int) -> OutcomeTally | None:
    if local_tallies is None:
        return None
    if callable(local_tallies):
        return local_tallies(graft_type, count)
    return local_tallies.get((graft_type, count))


def classify_json_bytes(data: bytes, **options: Any) -> dict[str, Any]:
    """Like `classify_document`, for the raw bytes of a JSON file: text that is
    not UTF-8 or not JSON is reported as an error, not raised."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return invalid_result([f"document: not UTF-8 text (byte {error.start})"])
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        return invalid_result(
            [f"document: not valid JSON (line {error.lineno} column {error.colno}: {error.msg})"]
        )
    except RecursionError:
        return invalid_result(["document: not valid JSON (nested too deeply)"])
    return classify_document(document, **options)
