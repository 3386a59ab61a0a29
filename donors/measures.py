"""Body measures derived from a donor's record. Pure."""

from __future__ import annotations


def bmi(weight_kg: float, height_cm: float) -> float:
    """Body mass index, kg/m²."""
    metres = height_cm / 100
    return weight_kg / (metres * metres)
