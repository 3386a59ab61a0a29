"""Every worked example in tests/data/cases gives exactly the expected fields."""

import json
from pathlib import Path

import pytest

from classification.document import classify_document

CASES = sorted((Path(__file__).parents[2] / "data" / "cases").glob("*.json"))


def mismatches(expected, actual, where="result"):
    """Differences on the keys `expected` lists (recursively); extra keys are fine."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {actual!r}"]
        found = []
        for key, value in expected.items():
            if key not in actual:
                found.append(f"{where}.{key}: missing")
            else:
                found += mismatches(value, actual[key], f"{where}.{key}")
        return found
    return [] if expected == actual else [f"{where}: expected {expected!r}, got {actual!r}"]


def test_there_are_cases():
    assert len(CASES) >= 14


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case(path):
    case = json.loads(path.read_text())
    result = classify_document(case["anatomy"])
    assert mismatches(case["expected"], result) == []


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case_result_is_json(path):
    case = json.loads(path.read_text())
    result = classify_document(case["anatomy"])
    assert json.loads(json.dumps(result, allow_nan=False)) == result
    assert set(result) == {"valid", "errors", "results", "prediction"}
