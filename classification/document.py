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
from typing import Any

from classification.anatomy import AnatomyInvalid
from classification.prediction import OutcomeTally, RecipientContext, predict, predicted_anastomoses
from classification.systems import classify_all
from classification.validation import MAX_NUMBER_CHARS, OversizedNumber, check_document, describe, parse_anatomy

# Stored runs carry it; 2024.2: a caudate duct at a duct's upper end stops the shared
# upper stretch, and a junction beyond the receiving duct's length is refused.
RULES_VERSION = "2024.2"
# Far above any real document (100 ducts take about 15 kB); bounds the work on one file.
MAX_DOCUMENT_BYTES = 1_000_000
TOO_LARGE = f"document: too large (more than {MAX_DOCUMENT_BYTES} bytes; an anatomy document takes a few kB)"

LocalTallies = Mapping[tuple[str, int], OutcomeTally] | Callable[[str, int], OutcomeTally | None]


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
    count = predicted_anastomoses(proposed)
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


def find_tally(local_tallies: LocalTallies | None, graft_type: str | None, count: int) -> OutcomeTally | None:
    if local_tallies is None or graft_type is None:  # no tally is kept for an undecided type
        return None
    if callable(local_tallies):
        return local_tallies(graft_type, count)
    return local_tallies.get((graft_type, count))


def classify_json_bytes(data: bytes, **options: Any) -> dict[str, Any]:
    """Like `classify_document`, for the raw bytes of a JSON file: text that is
    not UTF-8 or not JSON is reported as an error, not raised."""
    if len(data) > MAX_DOCUMENT_BYTES:
        return invalid_result([TOO_LARGE])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return invalid_result([f"document: not UTF-8 text (byte {error.start})"])
    try:
        document = load_json_document(text)
    except AnatomyInvalid as invalid:
        return invalid_result(invalid.errors)
    return classify_document(document, **options)


def load_json_document(text: str) -> Any:
    """The JSON value of an anatomy document's text, for every reader of such text
    (the command, the editor).

    Raises `AnatomyInvalid` with one `document: ...` message when the text is not
    JSON, too large or nested too deeply. A number written with more than
    `MAX_NUMBER_CHARS` characters is not converted (Python refuses an int of more
    than 4300 digits, and converting long numbers is slow): the document is refused
    with validation's messages, which name the field that holds it.
    """
    if len(text) > MAX_DOCUMENT_BYTES:
        raise AnatomyInvalid([TOO_LARGE])
    oversized: list[OversizedNumber] = []

    def bounded(convert: Callable[[str], Any]) -> Callable[[str], Any]:
        def parse(token: str) -> Any:
            if len(token) <= MAX_NUMBER_CHARS:
                return convert(token)
            oversized.append(OversizedNumber(token))
            return oversized[-1]

        return parse

    try:
        document = json.loads(text, parse_int=bounded(int), parse_float=bounded(float))
    except json.JSONDecodeError as error:
        raise AnatomyInvalid(
            [f"document: not valid JSON (line {error.lineno} column {error.colno}: {error.msg})"]
        ) from None
    except RecursionError:
        raise AnatomyInvalid(["document: not valid JSON (nested too deeply)"]) from None
    if oversized:
        # Every place a number may stand refuses an OversizedNumber, so none is ever returned.
        raise AnatomyInvalid(check_document(document) or [f"document: has {describe(oversized[0])}"])
    return document
