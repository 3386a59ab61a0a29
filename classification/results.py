"""What one classification system says about one donor."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

UNCLASSIFIED = "unclassified"


@dataclass(frozen=True)
class SystemResult:
    """One system's answer.

    `type` is the label as printed in the paper's tables, `"unclassified"` when no
    rule matches, or None when a length the matching rule needs is not recorded
    (`reason` says which). `rule` is the fired rule in words a radiologist can
    check against the images. The proposed system also reports its exits.
    """

    system: str
    type: str | None
    rule: str
    unrepresented: tuple[str, ...] = ()
    provisional: bool = False
    reason: str | None = None
    graft_ducts: int | None = None
    exits: tuple[str, ...] | None = None
    exit_lengths: dict[str, float | None] | None = field(default=None, compare=True)
    flags: tuple[str, ...] | None = None

    @property
    def is_proposed(self) -> bool:
        return self.exits is not None

    def as_dict(self) -> dict[str, Any]:
        """The JSON-safe entry of the result document's `results`."""
        entry: dict[str, Any] = {
            "type": self.type,
            "rule": self.rule,
            "unrepresented": list(self.unrepresented),
            "provisional": self.provisional,
        }
        if self.type is None:
            entry["reason"] = self.reason
        if self.exits is not None:  # the proposed system
            entry["graft_ducts"] = self.graft_ducts
            entry["exits"] = list(self.exits)
            entry["exit_lengths"] = dict(self.exit_lengths or {})
            entry["flags"] = list(self.flags or ())
        return entry
