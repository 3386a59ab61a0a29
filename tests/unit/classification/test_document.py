"""The result document: its shape, options and raw-bytes entry point."""

import json

from classification.document import RULES_VERSION, classify_document, classify_json_bytes
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
    nan = classify_json_bytes(b'{"format": "biliary-anatomy/1", "graft": "right_lobe", "ducts": '
                              b'[{"id": "RHD", "drains_into": "CHD", "segments": [5], "length_mm": NaN}]}')
    assert nan["errors"] == ["RHD.length_mm: must be a finite number of mm (got nan)"]


def test_rules_version():
    assert isinstance(RULES_VERSION, str) and RULES_VERSION
