"""The centre's cohort statistics: types per classification system, the study's Table 4 on the
centre's own outcomes, and how often the predicted number of anastomoses matched.

Types come from final annotations' current classification runs only. Outcomes are the centre's
imported historical outcomes together with the ones surgeons recorded for donors whose anatomy is
final. Three queries, whatever the size of the centre.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from typing import TypedDict

from django.db.models import Count, F, Q

from classification.document import RULES_VERSION
from classification.models import Annotation, ClassificationResult, SurgicalOutcome
from classification.outcomes import TECHNIQUE_COUNTS

from . import statistics
from .content import SYSTEMS

# Labels as printed in the study's Tables 2-3, in their order.
TYPE_ORDER: dict[str, list[str]] = {
    "proposed": ["1", "2", "3"],
    "couinaud": ["A", "B", "C1", "C2", "D1", "D2", "E", "F"],
    "huang": ["1", "2", "3", "4", "5"],
    "choi": ["1", "2", "3A", "3B", "3C", "4", "5", "6"],
    "karakas": ["K1", "K2a", "K2b", "K3a", "K3b", "K4"],
    "ohkubo": ["A", "B", "C", "D", "E", "F", "G"],
}
UNCLASSIFIED = "unclassified"
NOT_DETERMINED = "not determined"  # a length the rule needs is missing

STUDY_TABLE4 = {
    "type1": {"single": 30, "multiple": 6},
    "type2": {"single": 27, "multiple": 29},
    "type3": {"single": 0, "multiple": 1},
}


def _type_counts(centre_id: int) -> tuple[dict[str, list[dict]], int]:
    rows = (
        ClassificationResult.objects.filter(
            run__annotation__donor__centre_id=centre_id,
            run__annotation__state=Annotation.State.FINAL,
            run__rules_version=RULES_VERSION,
            run__document_sha256=F("run__annotation__document_sha256"),
        )
        .values("system", "type")
        .annotate(n=Count("run__annotation", distinct=True))
    )
    found: dict[str, Counter] = {system: Counter() for system in SYSTEMS}
    for row in rows:
        label = row["type"] if row["type"] else NOT_DETERMINED
        found.setdefault(row["system"], Counter())[label] += row["n"]
    systems = {}
    annotated = 0
    for system, counter in found.items():
        labels = list(TYPE_ORDER.get(system, []))
        labels += sorted(k for k in counter if k not in labels and k not in (UNCLASSIFIED, NOT_DETERMINED))
        labels.append(UNCLASSIFIED)
        if counter.get(NOT_DETERMINED):
            labels.append(NOT_DETERMINED)
        total = sum(counter.values())
        annotated = max(annotated, total)
        systems[system] = [
            {"type": label, "count": counter.get(label, 0), "share": counter.get(label, 0) / total if total else None}
            for label in labels
        ]
    return systems, annotated


class OutcomeRow(TypedDict):
    """One outcome as `_outcomes` reads it."""

    proposed_type: str
    anastomoses: int
    predicted_anastomoses: int | None
    technique: str
    source: str


def _outcomes(centre_id: int) -> list[OutcomeRow]:
    return list(
        SurgicalOutcome.objects.filter(donor__centre_id=centre_id)
        .filter(
            Q(source=SurgicalOutcome.Source.IMPORTED)
            | Q(source=SurgicalOutcome.Source.RECORDED, donor__annotation__state=Annotation.State.FINAL)
        )
        .exclude(proposed_type="")
        .values("proposed_type", "anastomoses", "predicted_anastomoses", "technique", "source")
    )


def cohort_statistics(centre) -> dict:
    """Plain JSON numbers for the page, the API, the CSV and the command."""
    systems, annotated = _type_counts(centre.pk)
    outcomes = [o for o in _outcomes(centre.pk) if o["proposed_type"] in ("1", "2", "3")]
    table = statistics.table4((o["proposed_type"], o["anastomoses"]) for o in outcomes)
    agreement = statistics.prediction_agreement(
        (o["predicted_anastomoses"], o["anastomoses"]) for o in outcomes if o["predicted_anastomoses"] is not None
    )
    techniques = Counter(o["technique"] or "not given" for o in outcomes)
    type3 = table["table4"]["type3"]
    return {
        "centre": {"name": centre.name, "code": centre.code},
        "rules_version": RULES_VERSION,
        **table,
        "type3": statistics.proportion(type3["multiple"], type3["single"] + type3["multiple"]),
        "outcomes": {
            "total": len(outcomes),
            "recorded": sum(1 for o in outcomes if o["source"] == SurgicalOutcome.Source.RECORDED),
            "imported": sum(1 for o in outcomes if o["source"] == SurgicalOutcome.Source.IMPORTED),
        },
        "prediction_agreement": agreement,
        "techniques": [
            {"technique": name, "count": techniques.get(name, 0)}
            for name in [*TECHNIQUE_COUNTS, "not given"]
            if techniques.get(name, 0) or name in TECHNIQUE_COUNTS
        ],
        "annotated_donors": annotated,
        "systems": {
            system: {"label": SYSTEMS[system]["label"] if system in SYSTEMS else system, "types": rows}
            for system, rows in systems.items()
        },
        "study_table4": STUDY_TABLE4,
    }


def charts(stats: dict) -> dict[str, str]:
    """One server-side SVG bar chart per system, and one for Table 4."""
    out = {}
    for system, info in stats["systems"].items():
        out[system] = statistics.svg_bar_chart(
            [(row["type"], row["count"]) for row in info["types"]], title=f"{info['label']}: donors per type"
        )
    t = stats["table4"]
    out["table4"] = statistics.svg_bar_chart(
        [
            ("type 1, one", t["type1"]["single"]),
            ("type 1, two or more", t["type1"]["multiple"]),
            ("type 2, one", t["type2"]["single"]),
            ("type 2, two or more", t["type2"]["multiple"]),
            ("type 3, one", t["type3"]["single"]),
            ("type 3, two or more", t["type3"]["multiple"]),
        ],
        title="Anastomoses done by proposed type",
    )
    return out


def cohort_csv(stats: dict) -> str:
    """The numbers of the page as one long table: section, group, category, value."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "group", "category", "value"])
    writer.writerow(["centre", stats["centre"]["code"], "name", stats["centre"]["name"]])
    writer.writerow(["centre", stats["centre"]["code"], "rules_version", stats["rules_version"]])
    for system, info in stats["systems"].items():
        for row in info["types"]:
            writer.writerow(["types", system, row["type"], row["count"]])
    for kind, row in stats["table4"].items():
        for column, value in row.items():
            writer.writerow(["table4", kind, column, value])
    for key in ("n", "chi2", "chi2_p", "chi2_yates", "chi2_yates_p", "fisher_p", "odds_ratio"):
        writer.writerow(["test", "table4", key, _csv_number(stats[key])])
    for key in ("type1_single", "type2_double", "type3"):
        share = stats[key]
        ci = share["ci95"] or [None, None]
        writer.writerow(["proportion", key, "k", share["k"]])
        writer.writerow(["proportion", key, "n", share["n"]])
        writer.writerow(["proportion", key, "proportion", _csv_number(share["proportion"])])
        writer.writerow(["proportion", key, "ci95_low", _csv_number(ci[0])])
        writer.writerow(["proportion", key, "ci95_high", _csv_number(ci[1])])
    agreement = stats["prediction_agreement"]
    for key in ("n", "agree", "rate"):
        writer.writerow(["prediction", "anastomoses", key, _csv_number(agreement[key])])
    ci = agreement["ci95"] or [None, None]
    writer.writerow(["prediction", "anastomoses", "ci95_low", _csv_number(ci[0])])
    writer.writerow(["prediction", "anastomoses", "ci95_high", _csv_number(ci[1])])
    for predicted, row in agreement["confusion"].items():
        for actual, value in row.items():
            writer.writerow(["prediction_confusion", f"predicted {predicted}", f"actual {actual}", value])
    for row in stats["techniques"]:
        writer.writerow(["techniques", "outcomes", row["technique"], row["count"]])
    for key, value in stats["outcomes"].items():
        writer.writerow(["outcomes", "source", key, value])
    return out.getvalue()


def _csv_number(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
