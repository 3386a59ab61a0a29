"""Laboratory indices: APRI and FIB-4, both flags only."""

from __future__ import annotations

import math

from .common import DEFAULT_THRESHOLDS, SOURCES, CheckResult, State, Thresholds, _fmt, _missing, _near, _uncomputable


def apri(ast: float, ast_uln: float, platelets: float) -> float:
    """AST to platelet ratio index; platelets in 10^9/L."""
    return ast / ast_uln / platelets * 100


def fib4(age: float, ast: float, alt: float, platelets: float) -> float:
    """FIB-4 = age x AST / (platelets x sqrt(ALT)); platelets in 10^9/L."""
    return age * ast / (platelets * math.sqrt(alt))


def check_apri(
    ast: float | None, ast_uln: float | None, platelets: float | None, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> CheckResult:
    """APRI is a flag, never a fail."""
    t = thresholds
    threshold = f"> {_fmt(t.apri_flag_above)} flagged"
    if ast is None or ast_uln is None or platelets is None:
        return _missing("apri", "", threshold, "AST, its upper limit of normal and platelets")
    if ast_uln <= 0 or platelets <= 0:
        return _uncomputable("apri", "", threshold, "upper limit and platelets must be positive")
    value = apri(ast, ast_uln, platelets)
    shown = round(value, 2)
    state: State = "borderline" if _near(value) > t.apri_flag_above else "pass"
    detail = f"APRI {shown} (AST {_fmt(ast)}, upper limit {_fmt(ast_uln)}, platelets {_fmt(platelets)})"
    return CheckResult("apri", state, shown, "", threshold, SOURCES["apri"], detail)


def check_fib4(
    age: float | None,
    ast: float | None,
    alt: float | None,
    platelets: float | None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> CheckResult:
    """FIB-4 is a flag only: it is validated in patients, not in healthy donors."""
    t = thresholds
    threshold = f">= {_fmt(t.fib4_flag)} flagged"
    if age is None or ast is None or alt is None or platelets is None:
        return _missing("fib4", "", threshold, "age, AST, ALT and platelets")
    if alt <= 0 or platelets <= 0:
        return _uncomputable("fib4", "", threshold, "ALT and platelets must be positive")
    value = fib4(age, ast, alt, platelets)
    shown = round(value, 2)
    state: State = "borderline" if _near(value) >= t.fib4_flag else "pass"
    return CheckResult("fib4", state, shown, "", threshold, SOURCES["fib4"], f"FIB-4 {shown} (flag only)")
