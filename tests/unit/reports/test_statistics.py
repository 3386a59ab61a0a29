"""Cohort statistics: the study's Table 4 numbers, and agreement with scipy."""

import math
import random
import xml.etree.ElementTree as ET

import pytest
import scipy.stats as st
from hypothesis import given, settings
from hypothesis import strategies as hs

from reports import statistics as s

STUDY = [("1", 1)] * 30 + [("1", 2)] * 6 + [("2", 1)] * 27 + [("2", 2)] * 29 + [("3", 3)]


# ---------------------------------------------------------------- the study


def test_table4_reproduces_the_study():
    out = s.table4(STUDY)
    assert out["table4"] == {
        "type1": {"single": 30, "multiple": 6},
        "type2": {"single": 27, "multiple": 29},
        "type3": {"single": 0, "multiple": 1},
    }
    assert out["n"] == 92
    assert round(out["chi2"], 3) == 11.466
    assert f"{out['chi2_p']:.2g}" == "0.00071"
    assert round(out["chi2_yates"], 3) == 10.025
    assert f"{out['chi2_yates_p']:.2g}" == "0.0015"
    assert f"{out['fisher_p']:.2g}" == "0.00087"
    assert round(out["odds_ratio"], 2) == 5.37
    assert out["type1_single"]["k"] == 30 and out["type1_single"]["n"] == 36
    assert out["type1_single"]["proportion"] == pytest.approx(30 / 36)
    assert out["type2_double"]["k"] == 29 and out["type2_double"]["n"] == 56


def test_study_chi_square_by_hand():
    # N (ad - bc)^2 / (r1 r2 c1 c2) = 92 x (870 - 162)^2 / (36 x 56 x 57 x 35)
    #   = 92 x 501264 / 4021920 = 46116288 / 4021920 = 11.46623...
    chi2, _ = s.chi2_2x2([[30, 6], [27, 29]])
    assert chi2 == pytest.approx(11.466237, rel=1e-6)
    # Yates: 92 x (708 - 46)^2 / 4021920 = 92 x 438244 / 4021920 = 10.02467...
    chi2_yates, _ = s.chi2_2x2([[30, 6], [27, 29]], yates=True)
    assert chi2_yates == pytest.approx(10.024677, rel=1e-6)


def test_table4_undefined_statistics_are_none():
    only_type1 = s.table4([("1", 1), ("1", 2)])
    assert only_type1["chi2"] is None and only_type1["chi2_p"] is None
    assert only_type1["chi2_yates"] is None and only_type1["odds_ratio"] is None
    assert only_type1["fisher_p"] == 1.0  # only one table is possible
    assert only_type1["type2_double"] == {"k": 0, "n": 0, "proportion": None, "ci95": None}
    empty = s.table4([])
    assert empty["chi2"] is None and empty["fisher_p"] is None and empty["odds_ratio"] is None
    assert empty["type1_single"]["ci95"] is None


@pytest.mark.parametrize("bad", [[("4", 1)], [("1", 0)], [("2", 1.5)]])
def test_table4_rejects_bad_rows(bad):
    with pytest.raises(ValueError):
        s.table4(bad)


def test_table4_counts_three_as_multiple():
    out = s.table4([("2", 3), (2, 1)])
    assert out["table4"]["type2"] == {"single": 1, "multiple": 1}


# ---------------------------------------------------------------- against scipy


def _check_against_scipy(a: int, b: int, c: int, d: int) -> None:
    table = [[a, b], [c, d]]
    zero_margin = 0 in (a + b, c + d, a + c, b + d)
    for yates in (False, True):
        ours = s.chi2_2x2(table, yates=yates)
        if zero_margin:
            assert ours is None
            continue
        ref = st.chi2_contingency(table, correction=yates)
        assert ours[0] == pytest.approx(ref.statistic, rel=1e-9, abs=1e-12)
        assert ours[1] == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-15)
    ref_fisher = st.fisher_exact(table)
    assert s.fisher_exact_p(table) == pytest.approx(ref_fisher.pvalue, rel=1e-6, abs=1e-14)
    ratio = s.odds_ratio(table)
    if b * c == 0:
        assert ratio is None
    else:
        assert ratio == pytest.approx(ref_fisher.statistic, rel=1e-12)


def test_seeded_random_tables_match_scipy():
    rng = random.Random(20240330)
    for _ in range(300):
        _check_against_scipy(*(rng.randint(0, 40) for _ in range(4)))


@settings(max_examples=200, deadline=None)
@given(hs.integers(0, 120), hs.integers(0, 120), hs.integers(0, 120), hs.integers(0, 120))
def test_hypothesis_tables_match_scipy(a, b, c, d):
    _check_against_scipy(a, b, c, d)


@pytest.mark.parametrize(
    "table", [[[0, 0], [0, 0]], [[3, 0], [0, 3]], [[0, 5], [5, 0]], [[1, 1], [1, 1]], [[500, 3], [2, 450]]]
)
def test_edge_tables(table):
    if sum(map(sum, table)) == 0:
        assert s.chi2_2x2(table) is None and s.fisher_exact_p(table) == 1.0
    else:
        _check_against_scipy(*table[0], *table[1])


def test_chi2_p_value_matches_distribution():
    for x in (0.0, 0.5, 3.841458820694124, 10.0, 40.0):
        assert s.chi2_p_value(x) == pytest.approx(st.chi2.sf(x, 1), rel=1e-12, abs=1e-300)


# ---------------------------------------------------------------- intervals


def test_wilson_by_hand():
    # k 30, n 36, z^2 = 3.841459: centre = (0.833333 + 0.053354) / 1.106707 = 0.801193
    # half = 1.959964 / 1.106707 x sqrt(0.833333 x 0.166667 / 36 + 3.841459 / 5184)
    #      = 1.770988 x sqrt(0.0038580 + 0.00074102) = 1.770988 x 0.067816 = 0.120101
    low, high = s.wilson_interval(30, 36)
    assert low == pytest.approx(0.681092, abs=2e-6)
    assert high == pytest.approx(0.921295, abs=2e-6)


@pytest.mark.parametrize("k,n", [(0, 1), (0, 10), (3, 10), (10, 10), (29, 56), (1, 200), (57, 92)])
def test_wilson_solves_the_score_equation(k, n):
    # The Wilson bounds are the roots pi of (k/n - pi)^2 = z^2 pi (1 - pi) / n, i.e.
    # (1 + z^2/n) pi^2 - (2 k/n + z^2/n) pi + (k/n)^2 = 0.
    z2 = 1.959963984540054**2
    p = k / n
    qa, qb, qc = 1 + z2 / n, -(2 * p + z2 / n), p * p
    root = math.sqrt(qb * qb - 4 * qa * qc)
    expected = ((-qb - root) / (2 * qa), (-qb + root) / (2 * qa))
    assert s.wilson_interval(k, n) == pytest.approx(expected, abs=1e-12)


def test_wilson_empty():
    assert s.wilson_interval(0, 0) is None


@pytest.mark.parametrize("k,n", [(0, 5), (1, 5), (30, 36), (29, 56), (56, 56), (1, 1), (7, 201)])
def test_clopper_pearson_matches_scipy(k, n):
    low, high = s.clopper_pearson_interval(k, n)
    ref_low = 0.0 if k == 0 else st.beta.ppf(0.025, k, n - k + 1)
    ref_high = 1.0 if k == n else st.beta.ppf(0.975, k + 1, n - k)
    assert low == pytest.approx(ref_low, abs=1e-9)
    assert high == pytest.approx(ref_high, abs=1e-9)


def test_beta_cdf_matches_scipy():
    rng = random.Random(7)
    for _ in range(200):
        a, b, x = rng.uniform(0.5, 60), rng.uniform(0.5, 60), rng.random()
        assert s.beta_cdf(x, a, b) == pytest.approx(st.beta.cdf(x, a, b), abs=1e-10)


# ---------------------------------------------------------------- agreement and charts


def test_prediction_agreement():
    pairs = [(1, 1), (1, 1), (2, 1), (2, 2), (3, 3)]
    out = s.prediction_agreement(pairs)
    assert (out["n"], out["agree"]) == (5, 4)
    assert out["rate"] == pytest.approx(0.8)
    assert out["ci95"] == pytest.approx(list(s.wilson_interval(4, 5)))
    assert out["labels"] == ["1", "2", "3"]
    assert out["confusion"]["2"] == {"1": 1, "2": 1, "3": 0}
    assert out["confusion"]["1"]["1"] == 2
    empty = s.prediction_agreement([])
    assert empty["rate"] is None and empty["ci95"] is None and empty["confusion"] == {}


def test_svg_bar_chart_is_self_contained_and_escaped():
    svg = s.svg_bar_chart([("type 1", 58), ("type <2> & more", 136), ("type 3", 7)], title='Proposed types "all" <201>')
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == ns + "svg"
    assert root.get("width") and root.get("height") and root.get("viewBox")
    assert root.find(ns + "title").text == 'Proposed types "all" <201>'
    texts = [t.text for t in root.iter(ns + "text")]
    assert "type <2> & more" in texts and "136" in texts
    assert "<script" not in svg and "href" not in svg and "url(" not in svg
    bars = [r for r in root.iter(ns + "rect")]
    widths = [float(r.get("width")) for r in bars]
    assert widths[1] == max(widths)  # the largest count has the longest bar


def test_svg_bar_chart_empty_and_zero():
    ET.fromstring(s.svg_bar_chart([], title="nothing"))
    ET.fromstring(s.svg_bar_chart([("a", 0), ("b", 0.5)], title="zeros"))
