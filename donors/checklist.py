"""The workup steps of donor-workup.md, who owns each, and whether it is recorded yet."""
from __future__ import annotations

from dataclasses import dataclass

from .roles import Role


@dataclass(frozen=True)
class Step:
    title: str
    owner: Role
    state: str  # "done" or "missing"
    detail: str = ""


def workup_steps(*, donor) -> list[Step]:
    """Coarse progress of the workup; the detailed checks live in donors.criteria."""
    return [
        Step("Contact, questionnaire, ABO group, consent", Role.COORDINATOR,
             "done" if donor.abo else "missing", f"ABO {donor.abo}" if donor.abo else ""),
        Step("Recipient linked", Role.COORDINATOR,
             "done" if donor.recipient_id else "missing", donor.recipient.code if donor.recipient_id else ""),
        Step("History, examination, labs, serology", Role.HEPATOLOGIST, "missing"),
        Step("CT volumetry, vascular anatomy, steatosis", Role.RADIOLOGIST, "missing"),
        Step("MRCP biliary anatomy", Role.RADIOLOGIST, "missing"),
        Step("Psychosocial evaluation and donor advocate", Role.COORDINATOR, "missing"),
        Step("Graft plan and multidisciplinary decision", Role.SURGEON, "missing"),
    ]
