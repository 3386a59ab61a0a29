"""`manage.py classify_anatomy`: one JSON line per file, no database, exit 0 even for bad files."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted((ROOT / "tests" / "data" / "cases").glob("*.json"))


def run(*files):
    env = os.environ | {
        # An unreachable database proves the command never touches one.
        "DATABASE_URL": "postgres://nobody@127.0.0.1:1/nowhere",
        "CELERY_BROKER_URL": "",
    }
    return subprocess.run(
        [sys.executable, "manage.py", "classify_anatomy", *map(str, files)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def subset_matches(actual, expected):
    if isinstance(expected, dict):
        return all(key in actual and subset_matches(actual[key], value) for key, value in expected.items())
    return actual == expected


def test_every_case_file_gives_its_expected_result(tmp_path):
    paths = []
    for case in CASES:
        path = tmp_path / case.name
        path.write_text(json.dumps(json.loads(case.read_text())["anatomy"]))
        paths.append(path)
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    missing = tmp_path / "missing.json"
    completed = run(*paths, garbage, missing)
    assert completed.returncode == 0, completed.stderr
    lines = [json.loads(line) for line in completed.stdout.splitlines()]
    assert len(lines) == len(CASES) + 2
    for case, path, line in zip(CASES, paths, lines, strict=False):
        assert list(line)[0] == "file" and line["file"] == str(path)
        assert subset_matches(line, json.loads(case.read_text())["expected"]), (case.name, line)
    assert lines[-2]["valid"] is False and "not valid JSON" in lines[-2]["errors"][0]
    assert lines[-1]["valid"] is False and "cannot read" in lines[-1]["errors"][0]
    assert set(lines[0]) == {"file", "valid", "errors", "results", "prediction"}


def test_a_file_with_a_huge_number_or_a_long_segment_list_does_not_stop_the_batch(tmp_path):
    case = json.loads(CASES[0].read_text())
    text = json.dumps(case["anatomy"])
    assert case["anatomy"]["ducts"][0]["id"] == "RAHD" and text.count('"segments": [') > 1
    huge = tmp_path / "huge.json"
    huge.write_text(text.replace('"segments": [', '"segments": [' + "9" * 5000 + ", ", 1))
    long_list = tmp_path / "long_list.json"
    long_list.write_text(text.replace('"segments": [', '"segments": [' + "5, " * 64_000, 1))
    good = tmp_path / "good.json"
    good.write_text(text)
    completed = run(huge, long_list, good)
    assert completed.returncode == 0, completed.stderr
    lines = [json.loads(line) for line in completed.stdout.splitlines()]
    assert [line["file"] for line in lines] == [str(huge), str(long_list), str(good)]
    assert lines[0]["errors"] == [
        "RAHD.segments: must list Couinaud segments as whole numbers 1-8 (got a number 5000 characters long)"
    ]
    assert lines[1]["errors"] == ["RAHD.segments: lists 64002 entries; there are only 8 Couinaud segments"]
    assert subset_matches(lines[2], case["expected"])
