"""The prediction table, technique names and the Beta-binomial probability."""

import pytest
from scipy import stats

from classification.beta import beta_quantile, regularized_incomplete_beta
from classification.prediction import (
    OutcomeTally,
    Prediction,
    RecipientContext,
    choose_technique,
    match_probability,
    predict,
)
from classification.results import SystemResult


def proposed(graft_type, *exits):
    return SystemResult(
        system="proposed",
        type=graft_type,
        rule="",
        graft_ducts=len(exits),
        exits=tuple(exits),
        exit_lengths={e: 10.0 for e in exits},
        flags=(),
    )


@pytest.mark.parametrize(
    "result, count, suitability",
    [
        (proposed("1", "RHD"), 1, "suitable"),
        (proposed("2", "RHD"), 1, "suitable_may_need_additional_anastomosis"),
        (proposed("2", "RAHD", "RPHD"), 2, "suitable_may_need_additional_anastomosis"),
        (proposed("3", "ACC1", "RAHD", "RPHD"), 3, "not_suitable"),
        (proposed("3", "A", "B", "C", "D"), 4, "not_suitable"),
    ],
)
def test_table(result, count, suitability):
    prediction = predict(result, graft="right_lobe")
    assert isinstance(prediction, Prediction)
    assert (prediction.anastomoses, prediction.suitability) == (count, suitability)


@pytest.mark.parametrize(
    "count, recipient, graft, technique",
    [
        (1, None, "right_lobe", "end-to-end"),
        (2, None, "right_lobe", "double end-to-end"),
        (1, RecipientContext(own_duct_usable=True, paediatric=False), "right_lobe", "end-to-end"),
        (1, RecipientContext(own_duct_usable=False, paediatric=False), "right_lobe", "Roux-en-Y"),
        (2, RecipientContext(own_duct_usable=False, paediatric=False), "right_lobe", "double Roux-en-Y"),
        (1, RecipientContext(own_duct_usable=True, paediatric=True), "left_lateral_segment", "Roux-en-Y"),
        (2, RecipientContext(own_duct_usable=True, paediatric=True), "left_lateral_segment", "double Roux-en-Y"),
        (1, RecipientContext(own_duct_usable=True, paediatric=True), "left_lobe", "end-to-end"),
        (1, RecipientContext(own_duct_usable=True, paediatric=False), "left_lateral_segment", "end-to-end"),
        (3, None, "right_lobe", "triple Roux-en-Y"),
        (3, RecipientContext(own_duct_usable=True, paediatric=False), "right_lobe", "triple Roux-en-Y"),
        (4, None, "right_lobe", "quadruple Roux-en-Y"),
        (5, None, "right_lobe", "quintuple Roux-en-Y"),
    ],
)
def test_technique(count, recipient, graft, technique):
    assert choose_technique(count, graft=graft, recipient=recipient)[0] == technique


def test_technique_basis_says_when_duct_to_duct_is_assumed():
    prediction = predict(proposed("1", "RHD"), graft="right_lobe")
    assert prediction.technique == "end-to-end"
    assert "assumed" in prediction.technique_basis and "no recipient" in prediction.technique_basis
    with_recipient = predict(proposed("1", "RHD"), graft="right_lobe", recipient=RecipientContext(False, False))
    assert with_recipient.technique_basis == "the recipient's own bile duct cannot be used: Roux-en-Y"


@pytest.mark.parametrize(
    "graft_type, count, prior",
    [("1", 1, (30, 36)), ("2", 2, (29, 56)), ("2", 1, (27, 56)), ("3", 3, (1, 1)), ("3", 4, (0, 0))],
)
def test_probability_from_the_study(graft_type, count, prior):
    probability = match_probability(graft_type, count)
    matched, cases = prior
    a, b = 1 + matched, 1 + cases - matched
    assert probability["value"] == pytest.approx(a / (a + b))
    assert probability["ci95"] == pytest.approx(list(stats.beta.ppf([0.025, 0.975], a, b)), rel=1e-9)
    assert probability["model"] == "beta-binomial"
    assert (probability["prior_matched"], probability["prior_cases"]) == prior
    assert (probability["local_matched"], probability["local_cases"]) == (0, 0)


def test_type_1_probability_is_near_the_papers_83_percent():
    assert match_probability("1", 1)["value"] == pytest.approx(31 / 38)


def test_local_outcomes_update_the_probability():
    study_only = predict(proposed("2", "RAHD", "RPHD"), graft="right_lobe").probability
    local = predict(proposed("2", "RAHD", "RPHD"), graft="right_lobe", local=OutcomeTally(matched=18, total=20))
    updated = local.probability
    assert updated["value"] == pytest.approx(48 / 78)
    assert updated["value"] > study_only["value"]
    assert (updated["local_matched"], updated["local_cases"]) == (18, 20)
    assert updated["ci95"][1] - updated["ci95"][0] < study_only["ci95"][1] - study_only["ci95"][0]
    assert updated["ci95"] == pytest.approx(list(stats.beta.ppf([0.025, 0.975], 48, 30)), rel=1e-9)


def test_outcome_tally_is_checked():
    with pytest.raises(ValueError):
        OutcomeTally(matched=3, total=2)
    with pytest.raises(ValueError):
        OutcomeTally(matched=-1, total=2)
    with pytest.raises(TypeError):
        OutcomeTally(matched=True, total=2)


def test_predict_refuses_what_it_cannot_predict():
    with pytest.raises(ValueError):
        predict(proposed(None, "RHD"), graft="right_lobe")
    with pytest.raises(ValueError):
        predict(proposed("1", "RHD"), graft="whole_liver")


def test_prediction_as_dict():
    entry = predict(proposed("1", "RHD"), graft="right_lobe").as_dict()
    assert set(entry) == {"anastomoses", "suitability", "technique", "technique_basis", "probability"}
    assert set(entry["probability"]) == {
        "value",
        "ci95",
        "prior_cases",
        "prior_matched",
        "local_cases",
        "local_matched",
        "model",
    }


# --- the Beta distribution, against SciPy ----------------------------------------------
SHAPES = [(1, 1), (2, 1), (31, 7), (30, 28), (28, 30), (2, 2), (0.5, 0.5), (0.3, 4), (5, 0.7), (300, 150), (1, 60)]
PROBABILITIES = [1e-6, 0.001, 0.025, 0.1, 0.5, 0.9, 0.975, 0.999]


@pytest.mark.parametrize("a, b", SHAPES)
def test_beta_quantile_matches_scipy(a, b):
    for p in PROBABILITIES:
        expected = stats.beta.ppf(p, a, b)
        assert beta_quantile(p, a, b) == pytest.approx(expected, rel=1e-9, abs=1e-13), (p, a, b)


@pytest.mark.parametrize("a, b", SHAPES)
def test_incomplete_beta_matches_scipy(a, b):
    for x in (1e-5, 0.01, 0.2, 0.5, 0.7, 0.99, 0.99999):
        assert regularized_incomplete_beta(x, a, b) == pytest.approx(stats.beta.cdf(x, a, b), rel=1e-10, abs=1e-14)


def test_beta_quantile_edges():
    assert beta_quantile(0.0, 3, 4) == 0.0
    assert beta_quantile(1.0, 3, 4) == 1.0
    assert regularized_incomplete_beta(0.0, 3, 4) == 0.0
    assert regularized_incomplete_beta(1.0, 3, 4) == 1.0
    with pytest.raises(ValueError):
        beta_quantile(1.5, 3, 4)
    with pytest.raises(ValueError):
        beta_quantile(0.5, 0, 4)
