"""The result document: its shape, options and raw-bytes entry point."""

import json

import pytest

from classification.anatomy import AnatomyInvalid
from classification.document import (
    MAX_DOCUMENT_BYTES,
    RULES_VERSION,
    TOO_LARGE,
    classify_document,
    classify_json_bytes,
    invalid_result,
    load_json_document,
)
from classification.prediction import OutcomeTally, RecipientContext
from classification.presets import preset_document


def test_valid_document_shape():
    result = classify_document(preset_document("typical_right_lobe"))
    assert list(result) == ["valid", "errors", "results", "prediction"]
    assert result["valid"] is True and result["errors"] == []
    assert list(result["results"]) == ["proposed", "couinaud", "huang", "choi", "karakas", "ohkubo"]
    for entry in result["results"].values():
        assert {"type", "rule", "unrepresented", "provisional"} <= set(entry)
        assert ("reason" in entry) == (entry["type"] is None)
    assert {"graft_ducts", "exits", "exit_lengths", "flags"} <= set(result["results"]["proposed"])
    assert result["prediction"]["technique"] == "end-to-end"
    json.dumps(result, allow_nan=False)


def test_invalid_document_shape():
    result = classify_document({"format": "x"})
    assert result["valid"] is False and result["errors"]
    assert result["results"] is None and result["prediction"] is None


def test_recipient_changes_only_the_technique():
    document = preset_document("typical_right_lobe")
    plain = classify_document(document)
    roux = classify_document(document, recipient=RecipientContext(own_duct_usable=False, paediatric=False))
    assert roux["prediction"]["technique"] == "Roux-en-Y"
    assert roux["prediction"]["anastomoses"] == plain["prediction"]["anastomoses"]
    assert roux["results"] == plain["results"]


def test_local_tallies_mapping_and_callable():
    document = preset_document("trifurcation")
    tally = OutcomeTally(matched=5, total=10)
    by_mapping = classify_document(document, local_tallies={("2", 2): tally})
    asked = []

    def lookup(graft_type, count):
        asked.append((graft_type, count))
        return tally

    by_callable = classify_document(document, local_tallies=lookup)
    assert asked == [("2", 2)]
    assert by_mapping["prediction"] == by_callable["prediction"]
    assert by_mapping["prediction"]["probability"]["local_cases"] == 10
    other = classify_document(document, local_tallies={("1", 1): tally})
    assert other["prediction"]["probability"]["local_cases"] == 0


def test_json_bytes():
    good = classify_json_bytes(json.dumps(preset_document("typical_right_lobe")).encode())
    assert good["valid"] is True
    assert classify_json_bytes(b"\xef\xbb\xbf" + json.dumps(preset_document("trifurcation")).encode())["valid"]
    bad_json = classify_json_bytes(b"{,}")
    assert bad_json["valid"] is False
    assert bad_json["errors"][0].startswith("document: not valid JSON (line 1 column 2: ")
    assert classify_json_bytes(b"\xff\xfe")["errors"] == ["document: not UTF-8 text (byte 0)"]
    assert classify_json_bytes(b"[" * 100000)["valid"] is False
    nan = classify_json_bytes(
        b'{"format": "biliary-anatomy/1", "graft": "right_lobe", "ducts": '
        b'[{"id": "RHD", "drains_into": "CHD", "segments": [5], "length_mm": NaN}]}'
    )
    assert nan["errors"] == ["RHD.length_mm: must be a finite number of mm (got nan)"]


def test_rules_version():
    assert isinstance(RULES_VERSION, str) and RULES_VERSION


def typical_json(**rhd):
    document = preset_document("typical_right_lobe")
    next(d for d in document["ducts"] if d["id"] == "RHD").update(rhd)
    return json.dumps(document)


def test_number_with_thousands_of_digits_is_refused_by_its_field():
    # Never converted to a number (bench/bounds.py times it).
    digits = "1" + "0" * 5000
    result = classify_json_bytes(typical_json(length_mm=0).replace('"length_mm": 0', f'"length_mm": {digits}').encode())
    assert result == invalid_result(["RHD.length_mm: must be between 0 and 200 mm (got a number 5001 characters long)"])


@pytest.mark.parametrize(
    "literal, error",
    [
        ("-" + "9" * 100_000, "RHD.junction_mm: must be between 0 and 200 mm (got a number 100001 characters long)"),
        ("1." + "0" * 50_000, "RHD.junction_mm: must be between 0 and 200 mm (got a number 50002 characters long)"),
        ("1" * 40, f"RHD.junction_mm: must be between 0 and 200 mm (got {'1' * 40})"),
    ],
    ids=["long_int", "long_float", "longest_kept"],
)
def test_long_numbers_in_any_form(literal, error):
    text = typical_json(junction_mm=0).replace('"junction_mm": 0', f'"junction_mm": {literal}')
    assert classify_json_bytes(text.encode())["errors"] == [error]


def test_long_numbers_in_other_fields_and_as_the_whole_document():
    long = "7" * 5000
    document = {
        "format": "biliary-anatomy/1",
        "graft": "right_lobe",
        "ducts": [{"id": "RHD", "drains_into": "CHD", "segments": [5, 0], "length_mm": 5}],
    }
    text = json.dumps(document).replace("[5, 0]", f"[5, {long}]").replace('"graft": "right_lobe"', f'"graft": {long}')
    assert classify_json_bytes(text.encode())["errors"] == [
        "document.graft: must be one of left_lateral_segment, left_lobe, right_lobe"
        " (got a number 5000 characters long)",
        "RHD.segments: must list Couinaud segments as whole numbers 1-8 (got a number 5000 characters long)",
    ]
    assert classify_json_bytes(long.encode())["errors"] == [
        "document: must be a JSON object (got a number 5000 characters long)"
    ]


def test_load_json_document_never_returns_an_unconverted_number():
    assert load_json_document(typical_json(length_mm=12.5)) == json.loads(typical_json(length_mm=12.5))
    with pytest.raises(AnatomyInvalid) as caught:
        load_json_document(typical_json(length_mm=0).replace('"length_mm": 0', '"length_mm": ' + "5" * 41))
    assert caught.value.errors == ["RHD.length_mm: must be between 0 and 200 mm (got a number 41 characters long)"]
    with pytest.raises(AnatomyInvalid) as caught:
        load_json_document("[" * 100_000)
    assert caught.value.errors[0].startswith("document: not valid JSON")


def test_long_segments_list_is_refused_by_its_length():
    text = typical_json().replace('"segments": [5, 8]', '"segments": [' + ", ".join(["5"] * 64_000) + "]")
    result = classify_json_bytes(text.encode())
    assert result["errors"] == ["RAHD.segments: lists 64000 entries; there are only 8 Couinaud segments"]


def test_document_larger_than_the_limit_is_refused_unread():
    assert classify_json_bytes(b" " * (MAX_DOCUMENT_BYTES + 1))["errors"] == [TOO_LARGE]
    with pytest.raises(AnatomyInvalid) as caught:
        load_json_document(" " * (MAX_DOCUMENT_BYTES + 1))
    assert caught.value.errors == [TOO_LARGE]
    assert classify_json_bytes(typical_json().ljust(MAX_DOCUMENT_BYTES).encode())["valid"] is True
