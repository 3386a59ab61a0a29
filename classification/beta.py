"""The Beta distribution's cumulative distribution and quantile, in pure Python.

The classification core must not depend on SciPy (it runs inside request
handlers and a management command), and only two quantiles of a handful of
Beta posteriors are ever needed, so a small, cached implementation is enough.

- `regularized_incomplete_beta` is I_x(a, b), evaluated with the continued
  fraction of Numerical Recipes (modified Lentz), using the symmetry
  I_x(a, b) = 1 - I_{1-x}(b, a) where the fraction converges slowly.
- `beta_quantile` inverts it with Newton steps kept inside a shrinking
  bisection bracket, so it always converges, to about 1e-13.
"""

from __future__ import annotations

import math
from functools import lru_cache

_TINY = 1e-300
_EPSILON = 1e-16
_MAX_TERMS = 500


def log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _continued_fraction(x: float, a: float, b: float) -> float:
    total, plus_one, minus_one = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - total * x / plus_one
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_TERMS):
        twice = 2 * m
        for numerator in (
            m * (b - m) * x / ((minus_one + twice) * (a + twice)),
            -(a + m) * (total + m) * x / ((a + twice) * (plus_one + twice)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            step = d * c
            h *= step
        if abs(step - 1.0) < _EPSILON:
            break
    return h


def regularized_incomplete_beta(x: float, a: float, b: float) -> float:
    """P(X <= x) for X ~ Beta(a, b)."""
    if a <= 0 or b <= 0:
        raise ValueError("Beta parameters must be positive")
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = a * math.log(x) + b * math.log1p(-x) - log_beta(a, b)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _continued_fraction(x, a, b) / a
    return 1.0 - math.exp(log_front) * _continued_fraction(1.0 - x, b, a) / b


def beta_density(x: float, a: float, b: float) -> float:
    if x <= 0.0 or x >= 1.0:
        return 0.0
    return math.exp((a - 1.0) * math.log(x) + (b - 1.0) * math.log1p(-x) - log_beta(a, b))


@lru_cache(maxsize=4096)
def beta_quantile(p: float, a: float, b: float) -> float:
    """The x with P(X <= x) = p for X ~ Beta(a, b) (SciPy's `beta.ppf`)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError("p must lie in [0, 1]")
    if a <= 0 or b <= 0:
        raise ValueError("Beta parameters must be positive")
    if p == 0.0:
        return 0.0
    if p == 1.0:
        return 1.0
    low, high = 0.0, 1.0
    x = a / (a + b)
    for _ in range(400):
        error = regularized_incomplete_beta(x, a, b) - p
        if error == 0.0:
            return x
        if error < 0.0:
            low = x
        else:
            high = x
        density = beta_density(x, a, b)
        following = x - error / density if density > 0.0 else math.nan
        if not low < following < high:
            following = 0.5 * (low + high)
        if abs(following - x) <= 1e-14 * x or high - low <= 1e-15 * high:
            return following
        x = following
    return x
