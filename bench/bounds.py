"""Hostile anatomy documents are refused in bounded time.

Times, side by side in one run, `classify_json_bytes` on a typical document (the floor: what every
save costs) and on two hostile ones: a `segments` list of 64,000 entries and a `length_mm` of 5,000
digits. Prints medians and each hostile case's ratio to the floor. No database needed.

    .venv/bin/python bench/bounds.py
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from classification.document import classify_json_bytes  # noqa: E402
from classification.presets import preset_document  # noqa: E402

ROUNDS = 21


def typical() -> dict:
    return preset_document("typical_right_lobe")


def documents() -> dict[str, bytes]:
    long_list = typical()
    next(d for d in long_list["ducts"] if d["id"] == "RAHD")["segments"] = [5, 8] * 32_000
    long_number = json.dumps(typical()).replace('"length_mm": 7', '"length_mm": 1' + "0" * 5000, 1)
    return {
        "typical document (floor)": json.dumps(typical()).encode(),
        "segments list of 64,000 entries": json.dumps(long_list).encode(),
        "length_mm of 5,000 digits": long_number.encode(),
    }


def median_ms(data: bytes) -> float:
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        classify_json_bytes(data)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    cases = documents()
    results = {name: median_ms(data) for name, data in cases.items()}
    floor = results["typical document (floor)"]
    print(f"{'case':36} {'median ms':>10} {'x floor':>8}")
    for name, ms in results.items():
        print(f"{name:36} {ms:10.2f} {ms / floor:8.2f}")


if __name__ == "__main__":
    main()
