"""The workup's own pure rules: plausibility of entered records, derived steatosis values,
threshold settings, clearances, what is still missing and what an acceptance overrides.
(The criteria formulas themselves are tested in test_criteria.py.)"""

import json
from decimal import Decimal

import pytest

from workup import criteria
from workup import selectors as ws
from workup import services as wsv
from workup.criteria import CheckResult, Thresholds


def D(text):
    return Decimal(text)


# ---------------------------------------------------------------- records


def test_lab_upper_limits_are_required_with_their_values():
    errors = wsv.lab_errors({"ast": D("30"), "alt": D("25"), "platelets": D("200")})
    assert set(errors) == {"ast_uln", "alt_uln"} and "APRI" in errors["ast_uln"][0]
    assert wsv.lab_errors({"ast": D("30"), "ast_uln": D("40"), "alt": D("25"), "alt_uln": D("41")}) == {}
    assert wsv.lab_errors({"serology": "negative"}) == {}
    assert wsv.lab_errors({"serology": "  "}) == {"non_field_errors": ["enter at least one result"]}


@pytest.mark.parametrize(
    "field,value,ok",
    [
        ("platelets", "0", False),
        ("platelets", "0.1", True),
        ("platelets", "2000", True),
        ("platelets", "2001", False),
        ("ast", "-1", False),
        ("ast", "0", True),
        ("ast_uln", "0", False),
        ("albumin_g_dl", "43", False),
        ("albumin_g_dl", "4.3", True),  # g/L typed into g/dL
        ("bilirubin_mg_dl", "51", False),
        ("inr", "0.4", False),
        ("inr", "1.1", True),
        ("creatinine_mg_dl", "0.05", False),
        ("alt_uln", "0", False),
    ],
)
def test_lab_ranges(field, value, ok):
    values = {"ast_uln": D("40"), "alt_uln": D("41")} | {field: D(value)}
    assert (field not in wsv.lab_errors(values)) is ok


@pytest.mark.parametrize(
    "values,field",
    [
        ({"total_liver_volume_ml": D("50"), "graft_volume_ml": D("50")}, "total_liver_volume_ml"),
        ({"total_liver_volume_ml": D("5000"), "graft_volume_ml": D("900")}, "total_liver_volume_ml"),
        ({"total_liver_volume_ml": D("1500"), "graft_volume_ml": D("1501")}, "graft_volume_ml"),
        (
            {"total_liver_volume_ml": D("1500"), "graft_volume_ml": D("900"), "remnant_volume_ml": D("601")},
            "remnant_volume_ml",
        ),
        (
            {"total_liver_volume_ml": D("1500"), "graft_volume_ml": D("900"), "remnant_volume_ml": D("1600")},
            "remnant_volume_ml",
        ),
        (
            {"total_liver_volume_ml": D("1500"), "graft_volume_ml": D("900"), "density_factor": D("0.4")},
            "density_factor",
        ),
        ({"total_liver_volume_ml": D("1500")}, "graft_volume_ml"),
    ],
)
def test_volumetry_errors_name_the_field(values, field):
    assert field in wsv.volumetry_errors({"density_factor": D("1.0")} | values)


def test_volumetry_accepts_the_edges_of_its_ranges():
    # 500 mL and 4000 mL are the plausible limits; graft + remnant may equal the total (900 + 600 = 1500)
    for total in ("500", "4000"):
        assert (
            wsv.volumetry_errors(
                {"total_liver_volume_ml": D(total), "graft_volume_ml": D("300"), "density_factor": D("0.85")}
            )
            == {}
        )
    assert (
        wsv.volumetry_errors(
            {
                "total_liver_volume_ml": D("1500"),
                "graft_volume_ml": D("900"),
                "remnant_volume_ml": D("600"),
                "density_factor": D("1"),
            }
        )
        == {}
    )


def test_steatosis_fields_belong_to_their_modality():
    assert wsv.steatosis_errors({"modality": "mri_pdff", "pdff_pct": D("4")}) == {}
    assert set(wsv.steatosis_errors({"modality": "mri_pdff", "pdff_pct": D("4"), "in_phase_signal": D("3")})) == {
        "in_phase_signal"
    }
    assert set(wsv.steatosis_errors({"modality": "dual_echo", "in_phase_signal": D("300")})) == {"opposed_phase_signal"}
    assert set(wsv.steatosis_errors({"modality": "x-ray"})) == {"modality"}
    assert "pdff_pct" in wsv.steatosis_errors({"modality": "mri_pdff", "pdff_pct": D("100.5")})
    assert "macrovesicular_pct" in wsv.steatosis_errors({"modality": "biopsy", "macrovesicular_pct": D("-1")})
    # 330 = 300 x 1.1 is still noise; above it the ROIs look swapped
    assert (
        wsv.steatosis_errors({"modality": "dual_echo", "in_phase_signal": D("300"), "opposed_phase_signal": D("330")})
        == {}
    )
    assert "opposed_phase_signal" in wsv.steatosis_errors(
        {"modality": "dual_echo", "in_phase_signal": D("300"), "opposed_phase_signal": D("331")}
    )


def test_derived_steatosis_values_by_hand():
    # (IP - OP) / (2 x IP) = (412 - 350) / 824 = 62 / 824 = 0.075243 -> 7.52 %
    derived = wsv.derived_steatosis(
        {"modality": "dual_echo", "in_phase_signal": D("412"), "opposed_phase_signal": D("350")}
    )
    assert derived == {"signal_fat_fraction_pct": D("7.52"), "liver_attenuation_index": None}
    # 52.5 - 61 = -8.5 HU
    derived = wsv.derived_steatosis({"modality": "ct", "liver_hu": D("52.5"), "spleen_hu": D("61")})
    assert derived == {"signal_fat_fraction_pct": None, "liver_attenuation_index": D("-8.5")}


def test_portal_vein_type_must_match_its_scheme():
    assert wsv.portal_vein_errors({"portal_scheme": "nakamura", "portal_type": "E"}) == {}
    assert wsv.portal_vein_errors({"portal_scheme": "cheng", "portal_type": "IV"}) == {}
    assert (
        "not a Cheng type" in wsv.portal_vein_errors({"portal_scheme": "cheng", "portal_type": "E"})["portal_type"][0]
    )
    assert "portal_type" in wsv.portal_vein_errors({"portal_scheme": "nakamura", "portal_type": ""})
    assert "portal_scheme" in wsv.portal_vein_errors({"portal_type": "A"})


def test_hepatic_artery_and_veins():
    assert wsv.hepatic_artery_errors({"michels_type": "VI", "segment4_origin": "right_hepatic"}) == {}
    assert "unclassified_description" in wsv.hepatic_artery_errors({"michels_type": "unclassified"})
    assert "segment4_origin" in wsv.hepatic_artery_errors({"michels_type": "I", "segment4_origin": "splenic"})
    assert wsv.hepatic_vein_errors({"mhv_with_graft": False, "v5_mm": D("0")}) == {}
    assert set(wsv.hepatic_vein_errors({"v8_mm": D("31")})) == {"v8_mm", "mhv_with_graft"}


def test_record_dates_may_not_be_in_the_future():
    import datetime

    today = datetime.date(2026, 3, 10)
    assert wsv.date_errors({"measured_on": today}, today=today) == {}
    assert "future" in wsv.date_errors({"measured_on": datetime.date(2026, 3, 11)}, today=today)["measured_on"][0]
    assert "required" in wsv.date_errors({}, today=today)["measured_on"][0]
    assert wsv.date_errors({"measured_on": datetime.date(1, 1, 1)}, today=today) == {
        "measured_on": ["0001-01-01 is before 1900-01-01: check the year"]
    }
    assert wsv.date_errors({"measured_on": datetime.date(1900, 1, 1)}, today=today) == {}


def test_who_may_record_what():
    assert wsv.may_record({"hepatologist"}, "labs") and not wsv.may_record({"radiologist"}, "labs")
    assert wsv.may_record({"hepatologist"}, "steatosis", "biopsy")
    assert not wsv.may_record({"hepatologist"}, "steatosis", "mri_pdff")
    assert wsv.may_record({"radiologist"}, "steatosis", "ct")
    assert wsv.may_record({"coordinator"}, "clearances") and not wsv.may_record({"surgeon"}, "clearances")
    assert wsv.KINDS["steatosis"].owners == "hepatologist or radiologist"


# ---------------------------------------------------------------- thresholds


def _defaults():
    return ws.thresholds_snapshot(Thresholds())


def test_default_thresholds_are_valid_and_json():
    assert wsv.threshold_errors(_defaults()) == {}
    assert json.loads(json.dumps(_defaults()))["portal_vein_flag_types"] == ["nakamura:D", "nakamura:E"]


@pytest.mark.parametrize(
    "change,field",
    [
        ({"age_min": 65}, "age_min"),  # above age_max 60
        ({"grwr_fail_below": 0.9}, "grwr_fail_below"),  # above grwr_pass 0.8
        ({"remnant_min": 5}, "remnant_min"),  # outside 10-60
        ({"graft_density": 0}, "graft_density"),
        ({"pdff_reject": float("nan")}, "pdff_reject"),
        ({"bsa_formula": "haycock"}, "bsa_formula"),
        ({"portal_vein_flag_types": ["nakamura:F"]}, "portal_vein_flag_types"),
        ({"fib4_flag": None}, "fib4_flag"),
    ],
)
def test_threshold_errors(change, field):
    assert field in wsv.threshold_errors(_defaults() | change)


def test_thresholds_round_trip_through_a_settings_row():
    class Row:
        pass

    row = Row()
    for name, value in (_defaults() | {"remnant_min": 35.0, "portal_vein_flag_types": ["cheng:IV"]}).items():
        setattr(row, name, value)
    thresholds = ws.thresholds_from_row(row)
    assert thresholds.remnant_min == 35.0 and thresholds.portal_vein_flag_types == ("cheng:IV",)
    assert ws.thresholds_from_row(None) is criteria.DEFAULT_THRESHOLDS


# ---------------------------------------------------------------- checklist rules


def test_clearance_states():
    assert ws.check_clearance("psychosocial", None).state == "missing"
    assert ws.check_clearance("psychosocial", "pending").state == "missing"
    assert ws.check_clearance("psychosocial", "cleared").state == "pass"
    assert ws.check_clearance("donor_advocate", "not_cleared").state == "fail"


def _items(**states):
    results = criteria.evaluate_workup(criteria.WorkupInputs())
    results += [ws.check_clearance("psychosocial", None), ws.check_clearance("donor_advocate", None)]
    changed = []
    for r in results:
        state = states.get(r.check)
        changed.append(CheckResult(r.check, state, 1.0, r.unit, r.threshold, r.source, r.detail) if state else r)
    return ws.build_items(changed)


ALL_PASS = {key: "pass" for key in ws.CHECK_INFO if key not in ws.STEATOSIS_CHECKS}


def test_one_steatosis_modality_is_enough():
    items = _items(**ALL_PASS, steatosis_ct="pass")
    optional = {i.key for i in items if i.optional}
    assert optional == {"steatosis_biopsy", "steatosis_pdff", "steatosis_dual_echo"}
    assert all(i.state == "missing" for i in items if i.optional)  # still shown as missing, never pass
    assert ws.outstanding(items) == []
    none = ws.outstanding(_items(**ALL_PASS))
    assert [o.title for o in none] == ["Steatosis (any one modality)"]


def test_what_an_acceptance_overrides():
    items = _items(**ALL_PASS, steatosis_pdff="pass")
    assert ws.override_needed(items, "1", "suitable") == []
    items = _items(**ALL_PASS | {"biliary": "fail", "remnant": "fail"}, steatosis_pdff="pass")
    assert ws.override_needed(items, "3", "suitable_with_conditions") == [
        "biliary type 3 (not suitable by the study's rule)",
        "Remnant liver volume fails (1.0 %)",
    ]
    assert ws.override_needed(items, "3", "not_suitable") == []
    items = _items(**{k: v for k, v in ALL_PASS.items() if k != "apri"})
    assert ws.override_needed(items, None, "suitable") == ["APRI is missing", "Steatosis (any one modality) is missing"]
