"""The six classification systems, in the order the result document lists them.

Each module exposes `classify(anatomy) -> SystemResult`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from classification.anatomy import Anatomy
from classification.results import SystemResult
from classification.systems import choi, couinaud, huang, karakas, ohkubo, proposed

Classifier = Callable[[Anatomy], SystemResult]

SYSTEMS: Mapping[str, Classifier] = MappingProxyType(
    {
        "proposed": proposed.classify,
        "couinaud": couinaud.classify,
        "huang": huang.classify,
        "choi": choi.classify,
        "karakas": karakas.classify,
        "ohkubo": ohkubo.classify,
    }
)


def classify_all(anatomy: Anatomy) -> dict[str, SystemResult]:
    """Every system's result for one donor, in registry order."""
    return {name: classify(anatomy) for name, classify in SYSTEMS.items()}
