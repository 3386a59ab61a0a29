"""Small exact statistics for the cohort page, in plain Python.

The cohort page reproduces the study's Table 4 test (type 1 vs type 2 against
one vs several anastomoses) and updates it with a centre's own outcomes.  Only
`math` is used so the numbers can be checked by hand and the module runs
anywhere; the tests compare it with scipy.  A statistic that is undefined for
the data (a zero margin, an empty group) is None rather than an exception.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from typing import Any
from xml.sax.saxutils import escape

Table = Sequence[Sequence[int]]
Z95 = 1.959963984540054  # two-sided 95 % normal quantile


def _cells(table: Table) -> tuple[int, int, int, int]:
    (a, b), (c, d) = table
    cells = (int(a), int(b), int(c), int(d))
    if any(x < 0 for x in cells):
        raise ValueError("counts must not be negative")
    return cells


def chi2_p_value(x: float) -> float:
    """Upper tail of chi-square with one degree of freedom: erfc(sqrt(x / 2))."""
    return math.erfc(math.sqrt(x / 2))


def chi2_2x2(table: Table, yates: bool = False) -> tuple[float, float] | None:
    """Pearson chi-square of a 2x2 table and its p-value; None when a margin is 0.

    Yates' correction shrinks |ad - bc| by N/2 but never below zero (as scipy does).
    """
    a, b, c, d = _cells(table)
    n = a + b + c + d
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    if margins == 0:
        return None
    diff: float = abs(a * d - b * c)
    if yates:
        diff = max(0.0, diff - n / 2)
    x = n * diff * diff / margins
    return x, chi2_p_value(x)


def _log_hypergeom(k: int, row1: int, col1: int, n: int) -> float:
    """log P(top-left cell = k) with fixed margins."""

    def log_choose(m: int, r: int) -> float:
        return math.lgamma(m + 1) - math.lgamma(r + 1) - math.lgamma(m - r + 1)

    return log_choose(col1, k) + log_choose(n - col1, row1 - k) - log_choose(n, row1)


def fisher_exact_p(table: Table, tolerance: float = 1e-7) -> float:
    """Two-sided Fisher exact p: all tables at most as likely as the observed one.

    The relative tolerance keeps tables of equal probability that differ only by
    rounding.  With a zero margin only one table is possible and p is 1.
    """
    a, b, c, d = _cells(table)
    n = a + b + c + d
    row1, col1 = a + b, a + c
    low, high = max(0, row1 + col1 - n), min(row1, col1)
    observed = _log_hypergeom(a, row1, col1, n)
    cutoff = observed + math.log1p(tolerance)
    total = sum(math.exp(lp) for k in range(low, high + 1) if (lp := _log_hypergeom(k, row1, col1, n)) <= cutoff)
    return min(1.0, total)


def odds_ratio(table: Table) -> float | None:
    """Sample odds ratio ad / bc; None when bc is 0 (infinite or undefined)."""
    a, b, c, d = _cells(table)
    return None if b * c == 0 else a * d / (b * c)


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for k successes in n; None for n = 0."""
    if n <= 0:
        return None
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction for the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1 + num * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + num / c
            c = c if abs(c) > tiny else tiny
            delta = c * d
            h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return h


def beta_cdf(x: float, a: float, b: float) -> float:
    """Regularised incomplete beta I_x(a, b)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1 - math.exp(log_front) * _betacf(b, a, 1 - x) / b


def beta_quantile(q: float, a: float, b: float) -> float:
    """Inverse of beta_cdf by bisection (monotone, so always converges)."""
    low, high = 0.0, 1.0
    for _ in range(200):
        mid = (low + high) / 2
        if beta_cdf(mid, a, b) < q:
            low = mid
        else:
            high = mid
        if high - low < 1e-15:
            break
    return (low + high) / 2


def clopper_pearson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float] | None:
    """Exact (Clopper-Pearson) interval from Beta quantiles; None for n = 0."""
    if n <= 0:
        return None
    alpha = 1 - level
    low = 0.0 if k == 0 else beta_quantile(alpha / 2, k, n - k + 1)
    high = 1.0 if k == n else beta_quantile(1 - alpha / 2, k + 1, n - k)
    return low, high


def proportion(k: int, n: int) -> dict[str, Any]:
    """k of n with its Wilson 95 % interval, as plain JSON values."""
    ci = wilson_interval(k, n)
    return {"k": k, "n": n, "proportion": k / n if n else None, "ci95": list(ci) if ci else None}


def table4(outcomes: Iterable[tuple[str, int]]) -> dict[str, Any]:
    """Anastomoses by proposed type, tested as the study's Table 4.

    The 2x2 test compares types 1 and 2 (rows) against one vs two-or-more
    anastomoses (columns); type 3 is counted beside it.  "type2_double" counts
    type 2 donors with two or more anastomoses, the paper's "two".
    """
    counts: Counter[tuple[str, str]] = Counter()
    for proposed_type, anastomoses in outcomes:
        kind = str(proposed_type).strip()
        if kind not in ("1", "2", "3"):
            raise ValueError(f"unknown proposed type {proposed_type!r}")
        if isinstance(anastomoses, bool) or int(anastomoses) != anastomoses or anastomoses < 1:
            raise ValueError(f"anastomoses must be a whole number >= 1, got {anastomoses!r}")
        counts[kind, "single" if anastomoses == 1 else "multiple"] += 1
    rows = {f"type{k}": {"single": counts[k, "single"], "multiple": counts[k, "multiple"]} for k in ("1", "2", "3")}
    grid = [[rows["type1"]["single"], rows["type1"]["multiple"]], [rows["type2"]["single"], rows["type2"]["multiple"]]]
    plain = chi2_2x2(grid)
    corrected = chi2_2x2(grid, yates=True)
    n = sum(map(sum, grid))
    return {
        "table4": rows,
        "n": n,
        "chi2": plain[0] if plain else None,
        "chi2_p": plain[1] if plain else None,
        "chi2_yates": corrected[0] if corrected else None,
        "chi2_yates_p": corrected[1] if corrected else None,
        "fisher_p": fisher_exact_p(grid) if n else None,
        "odds_ratio": odds_ratio(grid),
        "type1_single": proportion(grid[0][0], sum(grid[0])),
        "type2_double": proportion(grid[1][1], sum(grid[1])),
    }


def prediction_agreement(pairs: Iterable[tuple[Hashable, Hashable]]) -> dict[str, Any]:
    """How often the predicted value (e.g. anastomoses) matched what happened.

    The confusion table is keyed by str(predicted) then str(actual), with every
    seen label in both, so it renders as a full square table.
    """
    pairs = list(pairs)
    agree = sum(1 for predicted, actual in pairs if predicted == actual)
    labels = sorted({str(v) for pair in pairs for v in pair}, key=lambda s: (len(s), s))
    confusion = {p: {a: 0 for a in labels} for p in labels}
    for predicted, actual in pairs:
        confusion[str(predicted)][str(actual)] += 1
    result = proportion(agree, len(pairs))
    return {
        "n": len(pairs),
        "agree": agree,
        "rate": result["proportion"],
        "ci95": result["ci95"],
        "labels": labels,
        "confusion": confusion,
    }


def svg_bar_chart(categories: Sequence[tuple[str, int | float]], *, title: str) -> str:
    """A horizontal bar chart as self-contained SVG, readable without colour.

    Each bar carries its own text label and value; the <title>/<desc> pair
    lets a screen reader read the whole chart.
    """
    bar_h, gap, top, chart_w = 22, 8, 40, 320
    label_w = max([len(str(label)) for label, _ in categories] + [4]) * 7 + 16
    value_w = max([len(_number(v)) for _, v in categories] + [1]) * 7 + 16
    width = label_w + chart_w + value_w
    height = top + len(categories) * (bar_h + gap) + 16
    biggest = max([v for _, v in categories if v > 0] + [1])
    summary = "; ".join(f"{label}: {_number(v)}" for label, v in categories) or "no data"
    # Ids derived from the content stay unique when a page holds several charts.
    uid = "chart-" + hashlib.sha1(f"{title}|{summary}".encode()).hexdigest()[:8]
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-labelledby="{uid}-title {uid}-desc" '
        'font-family="DejaVu Sans, Arial, Helvetica, sans-serif" font-size="12">',
        f'<title id="{uid}-title">{escape(title)}</title>',
        f'<desc id="{uid}-desc">{escape(summary)}</desc>',
        f'<text x="8" y="22" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(categories):
        y = top + i * (bar_h + gap)
        w = max(0.0, value) / biggest * chart_w
        out += [
            f"<g><title>{escape(f'{label}: {_number(value)}')}</title>",
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{escape(str(label))}</text>',
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="#3b6e8f" stroke="#1b3a4b"/>',
            f'<text x="{label_w + w + 6:.1f}" y="{y + 15}">{escape(_number(value))}</text></g>',
        ]
    out.append("</svg>")
    return "\n".join(out)


def _number(value: int | float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


__all__ = [
    "chi2_2x2",
    "chi2_p_value",
    "fisher_exact_p",
    "odds_ratio",
    "wilson_interval",
    "clopper_pearson_interval",
    "beta_cdf",
    "beta_quantile",
    "proportion",
    "table4",
    "prediction_agreement",
    "svg_bar_chart",
]
