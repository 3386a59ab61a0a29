"""Ready-made anatomy documents for the annotation page: a radiologist starts
from the nearest one and edits it. Each is a valid `biliary-anatomy/1` document.

`PRESETS[name]` is `{"label": ..., "document": ...}`; use `preset_document(name)`
for a copy that is safe to edit.
"""

from __future__ import annotations

import copy
from typing import Any

FORMAT = "biliary-anatomy/1"


def left_lobe_ducts(lhd_mm: float = 15.0) -> list[dict[str, Any]]:
    """B2 and B3 forming B23, which joins B4 to form the LHD."""
    return [
        {"id": "B2", "drains_into": "B23", "segments": [2]},
        {"id": "B3", "drains_into": "B23", "segments": [3]},
        {"id": "B23", "drains_into": "LHD", "length_mm": 8.0},
        {"id": "B4", "drains_into": "LHD", "segments": [4]},
        {"id": "LHD", "drains_into": "CHD", "length_mm": lhd_mm},
    ]


def right_lobe_ducts(rhd_mm: float) -> list[dict[str, Any]]:
    """RAHD and RPHD forming the RHD."""
    return [
        {"id": "RAHD", "drains_into": "RHD", "segments": [5, 8], "length_mm": 14.0},
        {"id": "RPHD", "drains_into": "RHD", "segments": [6, 7], "length_mm": 18.0, "course": "supraportal"},
        {"id": "RHD", "drains_into": "CHD", "length_mm": rhd_mm},
    ]


def cystic_duct() -> dict[str, Any]:
    return {"id": "CYSTIC", "drains_into": "CHD", "junction_mm": 25.0}


def document(graft: str, ducts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"format": FORMAT, "graft": graft, "ducts": ducts}


PRESETS: dict[str, dict[str, Any]] = {
    "typical_right_lobe": {
        "label": "Typical anatomy, right lobe graft (RHD 7 mm)",
        "document": document("right_lobe", right_lobe_ducts(7.0) + left_lobe_ducts() + [cystic_duct()]),
    },
    "trifurcation": {
        "label": "Trifurcation: RAHD, RPHD and LHD join at one point",
        "document": document(
            "right_lobe",
            [
                {"id": "RAHD", "drains_into": "CHD", "segments": [5, 8], "length_mm": 14.0},
                {"id": "RPHD", "drains_into": "CHD", "segments": [6, 7], "length_mm": 18.0, "course": "supraportal"},
                *left_lobe_ducts(),
                cystic_duct(),
            ],
        ),
    },
    "rphd_into_lhd": {
        "label": "RPHD drains into the LHD",
        "document": document(
            "right_lobe",
            [
                {"id": "RAHD", "drains_into": "CHD", "segments": [5, 8], "length_mm": 14.0},
                {
                    "id": "RPHD",
                    "drains_into": "LHD",
                    "segments": [6, 7],
                    "length_mm": 30.0,
                    "junction_mm": 4.0,
                    "course": "supraportal",
                },
                *left_lobe_ducts(12.0),
                cystic_duct(),
            ],
        ),
    },
    "rphd_into_chd": {
        "label": "RPHD drains into the CHD below the confluence",
        "document": document(
            "right_lobe",
            [
                {"id": "RAHD", "drains_into": "CHD", "segments": [5, 8], "length_mm": 14.0},
                {
                    "id": "RPHD",
                    "drains_into": "CHD",
                    "segments": [6, 7],
                    "length_mm": 20.0,
                    "junction_mm": 9.0,
                    "course": "infraportal",
                },
                *left_lobe_ducts(),
                cystic_duct(),
            ],
        ),
    },
    "rahd_into_chd": {
        "label": "RAHD drains into the CHD below the confluence",
        "document": document(
            "right_lobe",
            [
                {"id": "RPHD", "drains_into": "CHD", "segments": [6, 7], "length_mm": 20.0},
                {"id": "RAHD", "drains_into": "CHD", "segments": [5, 8], "length_mm": 16.0, "junction_mm": 6.0},
                *left_lobe_ducts(),
                cystic_duct(),
            ],
        ),
    },
    "rphd_into_cystic": {
        "label": "RPHD drains into the cystic duct (cystohepatic duct)",
        "document": document(
            "right_lobe",
            [
                {"id": "RAHD", "drains_into": "CHD", "segments": [5, 8], "length_mm": 14.0},
                {"id": "RPHD", "drains_into": "CYSTIC", "segments": [6, 7], "length_mm": 25.0, "junction_mm": 4.0},
                *left_lobe_ducts(),
                cystic_duct(),
            ],
        ),
    },
    "rhd_into_cystic": {
        "label": "RHD drains into the cystic duct (cystohepatic duct)",
        "document": document(
            "right_lobe",
            [
                {"id": "RAHD", "drains_into": "RHD", "segments": [5, 8], "length_mm": 14.0},
                {"id": "RPHD", "drains_into": "RHD", "segments": [6, 7], "length_mm": 18.0},
                {"id": "RHD", "drains_into": "CYSTIC", "length_mm": 10.0, "junction_mm": 5.0},
                *left_lobe_ducts(),
                cystic_duct(),
            ],
        ),
    },
    "accessory_duct": {
        "label": "Accessory duct from segment 6 into the CHD",
        "document": document(
            "right_lobe",
            right_lobe_ducts(12.0)
            + [{"id": "ACC1", "drains_into": "CHD", "segments": [6], "length_mm": 10.0, "junction_mm": 7.0}]
            + left_lobe_ducts()
            + [cystic_duct()],
        ),
    },
    "lls_typical_trunk": {
        "label": "Left lateral segment graft, common B2-B3 trunk (B23 8 mm)",
        "document": document("left_lateral_segment", right_lobe_ducts(12.0) + left_lobe_ducts() + [cystic_duct()]),
    },
    "lls_b2_separate": {
        "label": "Left lateral segment graft, B2 joins the LHD separately",
        "document": document(
            "left_lateral_segment",
            right_lobe_ducts(12.0)
            + [
                {"id": "B3", "drains_into": "B34", "segments": [3], "length_mm": 6.0},
                {"id": "B4", "drains_into": "B34", "segments": [4]},
                {"id": "B34", "drains_into": "LHD", "length_mm": 5.0},
                {"id": "B2", "drains_into": "LHD", "segments": [2], "length_mm": 9.0},
                {"id": "LHD", "drains_into": "CHD", "length_mm": 14.0},
                cystic_duct(),
            ],
        ),
    },
}


def preset_document(name: str) -> dict[str, Any]:
    """A fresh copy of one preset's document, safe to edit."""
    return copy.deepcopy(PRESETS[name]["document"])
