"""Workup checks: formulas against hand arithmetic, every threshold at its boundary."""

import dataclasses
from decimal import Decimal

import pytest

from workup import criteria as c
from workup.criteria import Thresholds, WorkupInputs

T = Thresholds()


# ---------------------------------------------------------------- formulas


def test_bmi_by_hand():
    # 70 kg / (1.75 m)^2 = 70 / 3.0625 = 22.857...
    assert c.bmi(70, 175) == pytest.approx(22.857142857, rel=1e-9)
    # 112 / 2.0^2 = 28
    assert c.bmi(112, 200) == pytest.approx(28.0)


def test_bsa_mosteller_by_hand():
    # sqrt(160 x 90 / 3600) = sqrt(4) = 2
    assert c.bsa_mosteller(160, 90) == pytest.approx(2.0)
    # sqrt(180 x 81 / 3600) = sqrt(4.05) = 2.01246...
    assert c.bsa_mosteller(180, 81) == pytest.approx(2.0124612, rel=1e-7)


def test_bsa_dubois_by_hand():
    # 70^0.425 = e^(0.425 x 4.2484952) = e^1.8056105 = 6.049647 x e^0.0056105 = 6.083683
    # 170^0.725 = e^(0.725 x 5.1357984) = e^3.7234539 = 40.447304 x e^0.0234539 = 41.40717
    # 0.007184 x 6.083683 x 41.40717 = 0.0437052 x 41.40717 = 1.80971
    assert c.bsa_dubois(170, 70) == pytest.approx(1.80971, abs=2e-5)


def test_standard_liver_volume_by_hand():
    assert c.standard_liver_volume(2.0, "urata") == pytest.approx(1414.8)  # 1412.4 + 2.4
    assert c.standard_liver_volume(2.0, "vauthey") == pytest.approx(1740.15)  # 2534.56 - 794.41
    with pytest.raises(ValueError):
        c.standard_liver_volume(2.0, "heinemann")


def test_graft_weight_and_grwr_by_hand():
    assert c.graft_weight_g(800, 0.85) == pytest.approx(680.0)  # 800 x 0.85
    assert c.graft_weight_g(800) == pytest.approx(800.0)  # default factor 1.0
    assert c.grwr_percent(680, 85) == pytest.approx(0.8)  # 680 / 85 = 8, / 10
    assert c.grwr_percent(1000, 80) == pytest.approx(1.25)  # 12.5 / 10


def test_remnant_percent_by_hand():
    assert c.remnant_percent(450, 1500) == pytest.approx(30.0)


def test_apri_by_hand():
    # (60 / 40) / 150 x 100 = 1.5 / 150 x 100 = 1.0
    assert c.apri(60, 40, 150) == pytest.approx(1.0)


def test_fib4_by_hand():
    # 50 x 40 / (200 x sqrt(25)) = 2000 / 1000 = 2.0
    assert c.fib4(50, 40, 25, 200) == pytest.approx(2.0)


def test_signal_fat_fraction_by_hand():
    # (200 - 160) / (2 x 200) = 40 / 400 = 0.1
    assert c.signal_fat_fraction(200, 160) == pytest.approx(0.1)
    with pytest.raises(ValueError):
        c.signal_fat_fraction(0, 10)


def test_liver_attenuation_index_by_hand():
    assert c.liver_attenuation_index(50, 55) == pytest.approx(-5)


@pytest.mark.parametrize(
    "donor,recipient,expected",
    [
        ("O", "O", "identical"),
        ("O", "A", "compatible"),
        ("O", "B", "compatible"),
        ("O", "AB", "compatible"),
        ("A", "A", "identical"),
        ("A", "AB", "compatible"),
        ("A", "O", "incompatible"),
        ("A", "B", "incompatible"),
        ("B", "B", "identical"),
        ("B", "AB", "compatible"),
        ("B", "O", "incompatible"),
        ("B", "A", "incompatible"),
        ("AB", "AB", "identical"),
        ("AB", "O", "incompatible"),
        ("AB", "A", "incompatible"),
        ("AB", "B", "incompatible"),
    ],
)
def test_abo_compatibility_table(donor, recipient, expected):
    assert c.abo_compatibility(donor, recipient) == expected


def test_abo_unknown_group():
    with pytest.raises(ValueError):
        c.abo_compatibility("C", "A")


# ---------------------------------------------------------------- checks at boundaries


@pytest.mark.parametrize("age,state", [(17, "fail"), (18, "pass"), (60, "pass"), (61, "fail")])
def test_age_boundaries(age, state):
    assert c.check_age(age, T).state == state


def test_age_centre_limit():
    assert c.check_age(62, Thresholds(age_max=65)).state == "pass"


# height 200 cm: BMI = weight / 4
@pytest.mark.parametrize(
    "weight,biopsy,state",
    [
        (112, False, "pass"),  # 28.0: at the limit without biopsy
        (113, False, "borderline"),  # 28.25: a biopsy is needed
        (113, None, "borderline"),  # unknown biopsy counts as not done
        (120, False, "borderline"),  # 30.0
        (120, True, "pass"),  # 30.0 with biopsy
        (121, True, "fail"),  # 30.25 above every limit
        (121, False, "fail"),
    ],
)
def test_bmi_boundaries(weight, biopsy, state):
    assert c.check_bmi(weight, 200, biopsy, T).state == state


def test_bmi_centre_limit():
    # 33 x 4 = 132 kg: fails the default 30, passes a centre allowing 33 with a biopsy
    assert c.check_bmi(132, 200, True, T).state == "fail"
    assert c.check_bmi(132, 200, True, Thresholds(bmi_max=33)).state == "pass"


@pytest.mark.parametrize(
    "weight,state",
    [
        (73.9, "fail"),  # 18.475: underweight
        (74, "pass"),  # 18.5: at the WHO limit
    ],
)
def test_bmi_lower_limit(weight, state):
    result = c.check_bmi(weight, 200, False, T)
    assert result.state == state
    assert result.threshold.startswith("18.5 to 30 kg/m²")
    assert "WHO" in result.source


def test_the_demo_donor_of_189_cm_and_53_kg_fails():
    result = c.check_bmi(53, 189)
    assert (result.state, result.value, result.detail) == ("fail", 14.8, "BMI 14.8 below 18.5 (underweight)")


def test_bmi_lower_limit_is_a_centre_threshold_with_its_source():
    assert c.check_bmi(70, 200, False, Thresholds(bmi_min=17)).state == "pass"  # 17.5
    assert Thresholds.sources()["bmi_min"] == c.SOURCES["bmi"]
    with pytest.raises(ValueError, match="bmi_min must not exceed bmi_max_without_biopsy"):
        Thresholds(bmi_min=29)


def test_abo_check_states():
    assert c.check_abo("O", "AB").state == "pass"
    assert c.check_abo("A", "O").state == "fail"
    assert c.check_abo("A", "O", desensitisation_plan=True).state == "borderline"
    assert c.check_abo(None, "O").state == "missing"


# recipient 100 kg: GRWR = volume / 100 / 10 = volume / 1000 (density 1.0)
@pytest.mark.parametrize("volume,state", [(800, "pass"), (799, "borderline"), (700, "borderline"), (699, "fail")])
def test_grwr_boundaries(volume, state):
    assert c.check_grwr(volume, 100, T).state == state


def test_grwr_density_and_centre_threshold():
    # 800 mL x 0.85 = 680 g, / 100 kg / 10 = 0.68 % -> fail
    result = c.check_grwr(800, 100, Thresholds(graft_density=0.85))
    assert (result.state, result.value) == ("fail", 0.68)
    assert "0.85" in result.detail
    # 750 mL -> 0.75 %: borderline by default, pass where 0.7 % is accepted
    assert c.check_grwr(750, 100, T).state == "borderline"
    assert c.check_grwr(750, 100, Thresholds(grwr_pass=0.7, grwr_fail_below=0.6)).state == "pass"


# recipient 160 cm, 90 kg: BSA (Mosteller) 2.0 m2; Urata SLV 1414.8 mL
@pytest.mark.parametrize(
    "volume,state",
    [
        (565.92, "pass"),  # 565.92 / 1414.8 = 40 %
        (565.0, "borderline"),  # 39.93 %
        (495.18, "borderline"),  # 35 %
        (495.0, "fail"),  # 34.99 %
    ],
)
def test_gv_slv_boundaries(volume, state):
    assert c.check_gv_slv(volume, 160, 90, T).state == state


def test_gv_slv_formula_choice_changes_result():
    # Vauthey SLV at BSA 2.0 = 1740.15 mL: 565.92 / 1740.15 = 32.5 % -> fail
    result = c.check_gv_slv(565.92, 160, 90, Thresholds(slv_formula="vauthey"))
    assert result.state == "fail"
    assert result.value == pytest.approx(32.5, abs=0.05)


# total 1000 mL: remnant % = remnant / 10
@pytest.mark.parametrize("remnant,state", [(299, "fail"), (300, "borderline"), (349, "borderline"), (350, "pass")])
def test_remnant_boundaries(remnant, state):
    assert c.check_remnant(remnant, 1000, None, T).state == state


def test_remnant_centre_settings():
    assert c.check_remnant(300, 1000, None, Thresholds(remnant_margin=0)).state == "pass"
    assert c.check_remnant(340, 1000, None, Thresholds(remnant_min=35)).state == "fail"


def test_remnant_derived_from_graft():
    # 1000 - 650 = 350 mL = 35 %
    result = c.check_remnant(None, 1000, 650, T)
    assert (result.state, result.value) == ("pass", 35.0)
    assert "total - graft" in result.detail


@pytest.mark.parametrize("pct,state", [(9.9, "pass"), (10, "borderline"), (30, "borderline"), (30.1, "fail")])
def test_biopsy_boundaries(pct, state):
    assert c.check_biopsy_steatosis(pct, T).state == state


@pytest.mark.parametrize("pct,state", [(4.9, "pass"), (5, "borderline"), (9.9, "borderline"), (10, "fail")])
def test_pdff_boundaries(pct, state):
    assert c.check_pdff(pct, T).state == state


def test_pdff_centre_reject():
    assert c.check_pdff(12, Thresholds(pdff_reject=15)).state == "borderline"


# in-phase 100: fraction % = (100 - OP) / 200 x 100 = (100 - OP) / 2
@pytest.mark.parametrize(
    "op,state,value", [(92, "pass", 4.0), (90, "borderline", 5.0), (81, "borderline", 9.5), (80, "fail", 10.0)]
)
def test_dual_echo_boundaries(op, state, value):
    result = c.check_dual_echo(100, op, T)
    assert (result.state, result.value) == (state, value)
    assert result.check == "steatosis_dual_echo"
    assert "dual-echo" in result.detail


# spleen 55 HU: index = liver - 55
@pytest.mark.parametrize("liver,state", [(61, "pass"), (60, "borderline"), (45, "borderline"), (44, "fail")])
def test_ct_boundaries(liver, state):
    assert c.check_ct_steatosis(liver, 55, T).state == state


def test_apri_is_a_flag_never_a_fail():
    assert c.check_apri(20, 40, 100, T).state == "pass"  # 0.5 / 100 x 100 = 0.5: not above
    assert c.check_apri(22, 40, 100, T).state == "borderline"  # 0.55
    assert c.check_apri(4000, 40, 10, T).state == "borderline"  # 1000


def test_fib4_flag():
    # 29 x 25 / (100 x 5) = 725 / 500 = 1.45 -> flagged; 28 -> 1.4
    assert c.check_fib4(29, 25, 25, 100, T).state == "borderline"
    assert c.check_fib4(28, 25, 25, 100, T).state == "pass"
    assert c.check_fib4(28, 25, 25, 100, Thresholds(fib4_flag=1.3)).state == "borderline"


def test_zero_divisors_are_missing_not_errors():
    assert c.check_fib4(40, 25, 0, 100, T).state == "missing"
    assert c.check_apri(25, 40, 0, T).state == "missing"
    assert c.check_grwr(800, 0, T).state == "missing"
    assert c.check_dual_echo(0, 0, T).state == "missing"


def test_hepatic_veins():
    assert c.check_hepatic_veins(4.9, 3, 0, thresholds=T).state == "pass"
    result = c.check_hepatic_veins(5, 3, 0, mhv_with_graft=False, thresholds=T)
    assert result.state == "borderline"
    assert "V5 5 mm" in result.detail
    assert c.check_hepatic_veins(4, None, 2, thresholds=T).state == "missing"
    assert c.check_hepatic_veins(None, 6, None, thresholds=T).state == "borderline"
    assert c.check_hepatic_veins(None, None, None, thresholds=T).state == "missing"
    assert c.check_hepatic_veins(5.5, 0, 0, thresholds=Thresholds(vein_reconstruct_mm=6)).state == "pass"


def test_portal_vein():
    assert c.check_portal_vein("nakamura", "A", T).state == "pass"
    result = c.check_portal_vein("nakamura", "D", T)
    assert result.state == "borderline" and "reject" in result.detail
    assert c.check_portal_vein("nakamura", "E", T).state == "borderline"
    assert c.check_portal_vein("cheng", "II", T).state == "pass"
    assert c.check_portal_vein(None, "D", T).state == "missing"  # the scheme is part of the type
    centre = Thresholds(portal_vein_flag_types=("nakamura:C",))
    assert c.check_portal_vein("nakamura", "C", centre).state == "borderline"
    assert c.check_portal_vein("nakamura", "D", centre).state == "pass"
    with pytest.raises(ValueError):
        c.check_portal_vein("nakamura", "F", T)


def test_hepatic_artery():
    assert c.check_hepatic_artery(None, "right_lobe").state == "missing"
    assert c.check_hepatic_artery("I", "right_lobe").state == "pass"
    assert c.check_hepatic_artery("unclassified", "right_lobe", note="odd").state == "pass"
    assert c.check_hepatic_artery("III", "left_lateral_segment").state == "borderline"
    assert c.check_hepatic_artery("III", "left_lateral_segment", "left_hepatic").state == "pass"
    assert c.check_hepatic_artery("I", "left_lobe", "right_hepatic").state == "borderline"
    with pytest.raises(ValueError):
        c.check_hepatic_artery("XI", "right_lobe")


@pytest.mark.parametrize("kind,state", [("1", "pass"), ("2", "borderline"), ("3", "fail"), (None, "missing")])
def test_biliary_type(kind, state):
    assert c.check_biliary_type(kind).state == state


# ---------------------------------------------------------------- whole workup

CHECKS = [
    "age",
    "bmi",
    "abo",
    "grwr",
    "gv_slv",
    "remnant",
    "steatosis_biopsy",
    "steatosis_pdff",
    "steatosis_dual_echo",
    "steatosis_ct",
    "apri",
    "fib4",
    "hepatic_veins",
    "portal_vein",
    "hepatic_artery",
    "biliary",
]


def test_empty_workup_is_all_missing():
    results = c.evaluate_workup(WorkupInputs(), T)
    assert [r.check for r in results] == CHECKS
    assert {r.state for r in results} == {"missing"}
    assert all(r.value is None and r.source for r in results)


def test_full_workup():
    inputs = WorkupInputs(
        donor_age=34,
        donor_height_cm=175,
        donor_weight_kg=70,
        donor_abo="O",
        recipient_abo="A",
        recipient_height_cm=160,
        recipient_weight_kg=90,
        ast=20,
        alt=25,
        ast_uln=40,
        platelets=250,
        graft="right_lobe",
        total_liver_volume_ml=1500,
        graft_volume_ml=900,
        pdff_pct=3,
        hepatic_artery_michels="I",
        portal_vein_scheme="nakamura",
        portal_vein_type="A",
        v5_mm=3,
        v8_mm=2,
        inferior_right_hv_mm=0,
        biliary_type="1",
    )
    results = {r.check: r for r in c.evaluate_workup(inputs, T)}
    # GRWR 900 / 90 / 10 = 1.0; GV/SLV 900 / 1414.8 = 63.6 %; remnant 600 / 1500 = 40 %
    assert results["grwr"].value == 1.0
    assert results["gv_slv"].value == pytest.approx(63.6)
    assert results["remnant"].value == 40.0
    for name in (
        "age",
        "bmi",
        "abo",
        "grwr",
        "gv_slv",
        "remnant",
        "steatosis_pdff",
        "apri",
        "fib4",
        "hepatic_veins",
        "portal_vein",
        "hepatic_artery",
        "biliary",
    ):
        assert results[name].state == "pass", name
    # one steatosis measure never stands in for another
    for other in ("steatosis_biopsy", "steatosis_dual_echo", "steatosis_ct"):
        assert results[other].state == "missing"


def test_workup_per_centre_thresholds_change_result():
    inputs = WorkupInputs(graft_volume_ml=750, recipient_weight_kg=100)
    default = {r.check: r.state for r in c.evaluate_workup(inputs, T)}
    lenient = {r.check: r.state for r in c.evaluate_workup(inputs, Thresholds(grwr_pass=0.7))}
    assert (default["grwr"], lenient["grwr"]) == ("borderline", "pass")


def test_workup_accepts_decimals():
    inputs = WorkupInputs(donor_weight_kg=Decimal("112"), donor_height_cm=Decimal("200"))
    assert inputs.donor_weight_kg == 112.0
    assert c.check_bmi(inputs.donor_weight_kg, inputs.donor_height_cm).value == 28.0


def test_results_and_thresholds_are_frozen():
    result = c.check_age(30)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.state = "fail"
    with pytest.raises(dataclasses.FrozenInstanceError):
        T.age_max = 70


def test_every_threshold_carries_a_source():
    sources = Thresholds.sources()
    assert set(sources) == {f.name for f in dataclasses.fields(Thresholds)}
    assert all(sources.values())


@pytest.mark.parametrize(
    "kwargs",
    [{"slv_formula": "x"}, {"bsa_formula": "y"}, {"grwr_fail_below": 0.9}, {"pdff_flag": 20}, {"graft_density": 0}],
)
def test_inconsistent_thresholds_rejected(kwargs):
    with pytest.raises(ValueError):
        Thresholds(**kwargs)


# ---------------------------------------------------------------- plausibility


@pytest.mark.parametrize(
    "field,value,bad",
    [
        ("platelets", 0, True),
        ("platelets", 0.5, False),
        ("platelets", 2000, False),
        ("platelets", 2001, True),
        ("ast", -1, True),
        ("ast", 0, False),
        ("ast", 9999, False),
        ("ast", 10000, True),
        ("alt", 10000, True),
        ("total_liver_volume_ml", 499, True),
        ("total_liver_volume_ml", 500, False),
        ("total_liver_volume_ml", 4000, False),
        ("total_liver_volume_ml", 4001, True),
        ("pdff_pct", -0.1, True),
        ("pdff_pct", 100, False),
        ("pdff_pct", 100.1, True),
        ("donor_height_cm", 99, True),
        ("donor_height_cm", 230, False),
        ("donor_height_cm", 231, True),
        ("donor_weight_kg", 29, True),
        ("donor_weight_kg", 250, False),
        ("donor_weight_kg", 251, True),
    ],
)
def test_validate_ranges_boundaries(field, value, bad):
    problems = c.validate_ranges({field: value})
    assert (field in problems) == bad
    if bad:
        assert "implausible" in problems[field]


def test_validate_ranges_names_field_and_reason():
    problems = c.validate_ranges(
        {
            "platelets": 0,
            "ast": 30,
            "pdff_pct": None,
            "notes": "x",
            "donor_weight_kg": "heavy",
            "alt": True,
            "v5_mm": Decimal("31"),
        }
    )
    assert set(problems) == {"platelets", "donor_weight_kg", "alt", "v5_mm"}
    assert "above 0" in problems["platelets"]
    assert "not a number" in problems["donor_weight_kg"]
