"""What the five older systems share: an ordered list of rules, the first that
holds gives the label, and each label shows some variants and not others."""

from __future__ import annotations

from dataclasses import dataclass

from classification.anatomy import Anatomy
from classification.results import UNCLASSIFIED, SystemResult
from classification.variants import Variants, find_variants


@dataclass(frozen=True)
class Rule:
    """`label` applies when `predicate` holds; the label shows the variants of
    the kinds in `shows` (by default, its own predicate)."""

    label: str
    predicate: str
    shows: frozenset[str] = frozenset()

    def shown_kinds(self) -> frozenset[str]:
        return self.shows | {self.predicate}


def first_rule(rules: tuple[Rule, ...], variants: Variants) -> Rule | None:
    return next((r for r in rules if variants.holds(r.predicate)), None)


def unrepresented(variants: Variants, shown: frozenset[str], display: str) -> tuple[str, ...]:
    """This donor's variants that the chosen label does not show."""
    return tuple(f"{f.text} not represented in {display}" for f in variants.features if f.kind not in shown)


def classify_by_rules(
    anatomy: Anatomy,
    *,
    system: str,
    display: str,
    rules: tuple[Rule, ...],
    looks_for: str,
    provisional: bool = False,
) -> SystemResult:
    """The first matching rule's label, or `unclassified` naming what was looked for."""
    variants = find_variants(anatomy)
    rule = first_rule(rules, variants)
    if rule is None:
        return unclassified(anatomy, system=system, display=display, looks_for=looks_for, provisional=provisional)
    return SystemResult(
        system=system,
        type=rule.label,
        rule=f"{variants.evidence[rule.predicate]} -> {display} {rule.label}",
        unrepresented=unrepresented(variants, rule.shown_kinds(), display),
        provisional=provisional,
    )


def unclassified(
    anatomy: Anatomy, *, system: str, display: str, looks_for: str, provisional: bool = False
) -> SystemResult:
    missing = [d for d in ("RAHD", "RPHD") if d not in anatomy]
    hint = f"; {' and '.join(missing)} not recorded" if missing else ""
    return SystemResult(
        system=system,
        type=UNCLASSIFIED,
        rule=f"no {display} rule matches (it looks for {looks_for}){hint} -> {UNCLASSIFIED}",
        unrepresented=unrepresented(find_variants(anatomy), frozenset(), display),
        provisional=provisional,
    )
