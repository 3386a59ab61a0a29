"""What the proposed type predicts for surgery: suitability, the number of bile
duct anastomoses, the technique, and how likely that count is.

The table is the paper's (Figure 5, Table 4). The count is fixed by the anatomy;
only the technique depends on the recipient, and the surgeon may override it.

Probability that surgery needs exactly the predicted count: a Beta-binomial model.
A uniform Beta(1, 1) prior is updated with the study's Table 4 for the same type
and count, then with the centre's own operated donors of that type and count
(`OutcomeTally`, counted by the caller). The posterior mean is reported with an
equal-tailed 95% credible interval. For a single next donor, the posterior
predictive probability of a match is exactly this posterior mean.

Choices: a type 3 donor predicted to need four or more anastomoses has no study
evidence (the one type 3 donor needed three), so only the uniform prior and local
outcomes inform it. Three or more ducts are always joined to a Roux-en-Y limb.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from classification.anatomy import GRAFT_SEGMENTS
from classification.beta import beta_quantile
from classification.results import SystemResult

SUITABILITY = {
    "1": "suitable",
    "2": "suitable_may_need_additional_anastomosis",
    "3": "not_suitable",
}
# (proposed type, predicted count) -> (donors whose count matched, donors), Table 4.
STUDY_TABLE_4: dict[tuple[str, int], tuple[int, int]] = {
    ("1", 1): (30, 36),
    ("2", 2): (29, 56),
    ("2", 1): (27, 56),
    ("3", 3): (1, 1),
}
MULTIPLES = {2: "double", 3: "triple", 4: "quadruple", 5: "quintuple", 6: "sextuple", 7: "septuple", 8: "octuple"}
DUCT_TO_DUCT = "end-to-end"
ROUX_EN_Y = "Roux-en-Y"


@dataclass(frozen=True)
class RecipientContext:
    """What the recipient allows: duct-to-duct needs a usable recipient duct."""

    own_duct_usable: bool = True
    paediatric: bool = False


@dataclass(frozen=True)
class OutcomeTally:
    """The centre's operated donors of one proposed type and predicted count;
    `matched` of them needed exactly the predicted number of anastomoses."""

    matched: int
    total: int

    def __post_init__(self) -> None:
        for value in (self.matched, self.total):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError("matched and total are whole numbers of donors")
        if not 0 <= self.matched <= self.total:
            raise ValueError("need 0 <= matched <= total")


@dataclass(frozen=True)
class Prediction:
    anastomoses: int
    suitability: str
    technique: str
    technique_basis: str
    probability: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "anastomoses": self.anastomoses,
            "suitability": self.suitability,
            "technique": self.technique,
            "technique_basis": self.technique_basis,
            "probability": {**self.probability, "ci95": list(self.probability["ci95"])},
        }


def predict(
    proposed: SystemResult,
    *,
    graft: str,
    recipient: RecipientContext | None = None,
    local: OutcomeTally | None = None,
) -> Prediction:
    """The prediction for a donor from the proposed system's result."""
    if proposed.type not in SUITABILITY or not proposed.exits:
        raise ValueError(f"no prediction for proposed type {proposed.type!r}")
    if graft not in GRAFT_SEGMENTS:
        raise ValueError(f"unknown graft {graft!r}")
    count = predicted_anastomoses(proposed)
    technique, basis = choose_technique(count, graft=graft, recipient=recipient)
    return Prediction(
        anastomoses=count,
        suitability=SUITABILITY[proposed.type],
        technique=technique,
        technique_basis=basis,
        probability=match_probability(proposed.type, count, local),
    )


def predicted_anastomoses(proposed: SystemResult) -> int:
    """One per exit; a single short duct (type 2) still needs one."""
    if proposed.exits is None:
        raise ValueError(f"{proposed.system} reports no exits: only the proposed system's result has them")
    return len(proposed.exits)


def choose_technique(count: int, *, graft: str, recipient: RecipientContext | None) -> tuple[str, str]:
    """The technique's name as in the study's Table 1, and why it was chosen."""
    if count >= 3:
        return technique_name(count, ROUX_EN_Y), "three or more graft ducts are always joined to a Roux-en-Y limb"
    if recipient is None:
        return technique_name(count, DUCT_TO_DUCT), "no recipient recorded: duct-to-duct (end-to-end) assumed"
    if not recipient.own_duct_usable:
        return technique_name(count, ROUX_EN_Y), "the recipient's own bile duct cannot be used: Roux-en-Y"
    if recipient.paediatric and graft == "left_lateral_segment":
        return technique_name(count, ROUX_EN_Y), "a child receiving a left lateral segment: Roux-en-Y"
    return technique_name(count, DUCT_TO_DUCT), "the recipient's own bile duct is usable: duct-to-duct (end-to-end)"


def technique_name(count: int, kind: str) -> str:
    if count == 1:
        return kind
    return f"{MULTIPLES.get(count, f'{count}-fold')} {kind}"


def match_probability(graft_type: str, count: int, local: OutcomeTally | None = None) -> dict[str, Any]:
    """Posterior mean and 95% credible interval that surgery needs exactly `count`."""
    prior_matched, prior_cases = STUDY_TABLE_4.get((graft_type, count), (0, 0))
    local_matched, local_cases = (local.matched, local.total) if local else (0, 0)
    a = 1 + prior_matched + local_matched
    b = 1 + (prior_cases - prior_matched) + (local_cases - local_matched)
    return {
        "value": a / (a + b),
        "ci95": [beta_quantile(0.025, float(a), float(b)), beta_quantile(0.975, float(a), float(b))],
        "prior_cases": prior_cases,
        "prior_matched": prior_matched,
        "local_cases": local_cases,
        "local_matched": local_matched,
        "model": "beta-binomial",
    }
