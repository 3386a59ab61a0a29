"""The donor workup end to end: stored records -> evaluated checklist, per-centre thresholds,
bad input, the team's decision with its sign-offs, and the audit trail of it all."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.test import Client
from rest_framework.test import APIClient

from core.audit import Actor
from core.models import AuditEvent
from donors.models import Donor, StatusChange
from tests.factories import DonorFactory, RecipientFactory
from workup import selectors as ws
from workup import services as wsv
from workup.criteria import Thresholds
from workup.models import (
    CentreThresholds,
    Clearance,
    Decision,
    DecisionSignOff,
    HepaticArteryAnatomy,
    HepaticVeinAnatomy,
    LabResult,
    PortalVeinAnatomy,
    SteatosisAssessment,
    Volumetry,
)

pytestmark = pytest.mark.django_db

TODAY = datetime.date.today()
DAY = (TODAY - datetime.timedelta(days=3)).isoformat()
# Born on 1 January forty years ago: 40 years old on any day of this year.
BORN_FORTY_YEARS_AGO = datetime.date(TODAY.year - 40, 1, 1)

LABS = {
    "measured_on": DAY,
    "ast": "60",
    "ast_uln": "40",
    "alt": "36",
    "alt_uln": "41",
    "platelets": "150",
    "bilirubin_mg_dl": "0.7",
    "albumin_g_dl": "4.3",
    "inr": "1.05",
    "creatinine_mg_dl": "0.8",
    "serology": "HBsAg, anti-HBc, anti-HCV, HIV negative",
}
GOOD_LABS = LABS | {"ast": "20", "alt": "25", "platelets": "250"}
VOLUMETRY = {
    "measured_on": DAY,
    "total_liver_volume_ml": "1500",
    "graft_volume_ml": "900",
    "graft_includes_mhv": False,
    "remnant_volume_ml": "600",
    "density_factor": "1.0",
    "recipient_weight_kg": "70",
    "recipient_height_cm": "160",
}
KIND_OWNER = {
    "labs": "hepatologist",
    "volumetry": "radiologist",
    "steatosis": "radiologist",
    "hepatic-artery": "radiologist",
    "portal-vein": "radiologist",
    "hepatic-veins": "radiologist",
    "clearances": "coordinator",
}
MODELS = {
    "labs": LabResult,
    "volumetry": Volumetry,
    "steatosis": SteatosisAssessment,
    "hepatic-artery": HepaticArteryAnatomy,
    "portal-vein": PortalVeinAnatomy,
    "hepatic-veins": HepaticVeinAnatomy,
    "clearances": Clearance,
}


@pytest.fixture(autouse=True)
def no_biliary_type(monkeypatch):
    """Each test decides the biliary type itself, whatever the classification app would answer."""
    monkeypatch.setattr(ws, "final_proposed_type", lambda donor: None)


@pytest.fixture
def biliary_type(monkeypatch):
    """Simulate the classification app: its selector answers the given type for every donor."""

    def set_type(value):
        monkeypatch.setattr(ws, "final_proposed_type", lambda donor: value)

    return set_type


@pytest.fixture
def donor40(centre):
    """A 40-year-old O donor (165 cm, 62 kg) for an A recipient of 70 kg, in evaluation."""
    recipient = RecipientFactory(centre=centre, weight_kg=Decimal("70.0"), abo="A")
    return DonorFactory(centre=centre, date_of_birth=BORN_FORTY_YEARS_AGO, recipient=recipient, status="in_evaluation")


@pytest.fixture
def staff(make_user):
    return {
        role: make_user(role, username=f"{role}-w")
        for role in ("coordinator", "radiologist", "hepatologist", "surgeon", "auditor")
    }


def api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def post(user, donor, kind, payload):
    return api(user).post(f"/api/v1/donors/{donor.pk}/{kind}/", payload, format="json")


def checks(user, donor) -> dict:
    response = api(user).get(f"/api/v1/donors/{donor.pk}/checks/")
    assert response.status_code == 200, response.content
    return {item["check"]: item for item in response.json()["checks"]}


def record(staff, donor, kind, payload):
    response = post(staff[KIND_OWNER[kind]], donor, kind, payload)
    assert response.status_code == 201, response.content
    return response.json()


def complete_passing_workup(staff, donor):
    record(staff, donor, "labs", GOOD_LABS)
    record(staff, donor, "volumetry", VOLUMETRY)
    record(staff, donor, "steatosis", {"measured_on": DAY, "modality": "mri_pdff", "pdff_pct": "3"})
    record(staff, donor, "hepatic-artery", {"measured_on": DAY, "michels_type": "I"})
    record(staff, donor, "portal-vein", {"measured_on": DAY, "portal_scheme": "nakamura", "portal_type": "A"})
    record(
        staff,
        donor,
        "hepatic-veins",
        {"measured_on": DAY, "mhv_with_graft": False, "v5_mm": "3", "v8_mm": "2", "inferior_right_hv_mm": "0"},
    )
    for kind in ("psychosocial", "donor_advocate"):
        record(staff, donor, "clearances", {"measured_on": DAY, "clearance_kind": kind, "clearance_status": "cleared"})


# ---------------------------------------------------------------- records -> checks


def test_nothing_recorded_is_missing_never_pass(staff, donor40):
    result = checks(staff["surgeon"], donor40)
    # BMI = 62 kg / (1.65 m)^2 = 62 / 2.7225 = 22.77 <= 28; age 40 within 18-60; O to A compatible
    assert (result["bmi"]["value"], result["bmi"]["state"]) == (22.8, "pass")
    assert (result["age"]["value"], result["abo"]["value"]) == (40.0, "compatible")
    # Only what the donor's registration holds can be judged.
    assert {k for k, v in result.items() if v["state"] != "missing"} == {"age", "bmi", "abo"}
    for key in ("apri", "fib4", "grwr", "gv_slv", "remnant", "portal_vein", "biliary", "psychosocial"):
        assert result[key]["state"] == "missing" and result[key]["value"] is None
    assert result["apri"]["owner"] == "hepatologist" and result["grwr"]["owner"] == "radiologist"
    outstanding = api(staff["surgeon"]).get(f"/api/v1/donors/{donor40.pk}/checks/").json()["outstanding"]
    titles = {o["title"]: o["owner"] for o in outstanding}
    assert titles["APRI"] == "hepatologist"
    assert titles["Steatosis (any one modality)"].startswith("radiologist")
    assert titles["Psychosocial evaluation"] == "coordinator"


def test_labs_give_apri_and_fib4_by_hand(staff, donor40):
    body = record(staff, donor40, "labs", LABS)
    assert body["ast_uln"] == "40.0" and body["recorded_by"] == "hepatologist-w" and body["current"] is True
    result = checks(staff["surgeon"], donor40)
    # APRI = (AST / ULN) / platelets x 100 = (60 / 40) / 150 x 100 = 1.5 / 150 x 100 = 1.0 > 0.5: flagged
    assert result["apri"]["value"] == 1.0 and result["apri"]["state"] == "borderline"
    assert "upper limit 40" in result["apri"]["detail"]
    # FIB-4 = age x AST / (platelets x sqrt(ALT)) = 40 x 60 / (150 x 6) = 2400 / 900 = 2.667 >= 1.45: flagged
    assert result["fib4"]["value"] == 2.67 and result["fib4"]["state"] == "borderline"

    # A new record supersedes the old one, which is kept.
    record(staff, donor40, "labs", GOOD_LABS)
    result = checks(staff["surgeon"], donor40)
    # APRI = (20 / 40) / 250 x 100 = 0.2; FIB-4 = 40 x 20 / (250 x sqrt(25)) = 800 / 1250 = 0.64
    assert (result["apri"]["value"], result["apri"]["state"]) == (0.2, "pass")
    assert (result["fib4"]["value"], result["fib4"]["state"]) == (0.64, "pass")
    listed = api(staff["coordinator"]).get(f"/api/v1/donors/{donor40.pk}/labs/").json()
    assert [row["ast"] for row in listed] == ["20.0", "60.0"]
    assert [row["current"] for row in listed] == [True, False]
    assert LabResult.objects.get(pk=listed[0]["id"]).history.count() == 1


def test_apri_boundary_is_not_flagged_at_the_threshold(staff, donor40):
    # (25 / 40) / 125 x 100 = 0.625 / 125 x 100 = 0.5: flagged only above 0.5
    record(staff, donor40, "labs", LABS | {"ast": "25", "platelets": "125"})
    assert checks(staff["surgeon"], donor40)["apri"]["state"] == "pass"
    # (26 / 40) / 125 x 100 = 0.52 > 0.5
    record(staff, donor40, "labs", LABS | {"ast": "26", "platelets": "125"})
    assert checks(staff["surgeon"], donor40)["apri"]["state"] == "borderline"


def test_volumetry_gives_grwr_remnant_and_gv_slv_by_hand(staff, donor40):
    record(staff, donor40, "volumetry", VOLUMETRY | {"density_factor": "0.85"})
    result = checks(staff["surgeon"], donor40)
    # GRWR = 900 mL x 0.85 g/mL / 70 kg / 10 = 765 / 70 / 10 = 1.0929 % >= 0.8
    assert result["grwr"]["value"] == 1.09 and result["grwr"]["state"] == "pass"
    assert "density 0.85" in result["grwr"]["detail"]
    # remnant = 600 / 1500 = 40 % >= 35
    assert result["remnant"]["value"] == 40.0 and result["remnant"]["state"] == "pass"
    # BSA (Mosteller) = sqrt(160 x 70 / 3600) = sqrt(3.1111) = 1.7638; SLV (Urata) = 706.2 x 1.7638 + 2.4
    # = 1248.0 mL; GV/SLV = 900 / 1248.0 = 72.1 %
    assert result["gv_slv"]["value"] == 72.1 and result["gv_slv"]["state"] == "pass"
    body = api(staff["surgeon"]).get(f"/api/v1/donors/{donor40.pk}/checks/").json()
    assert "density factor 0.85" in body["thresholds"]["basis"]
    assert body["thresholds"]["values"]["graft_density"] == 0.85


def test_density_factor_defaults_to_the_centres_setting(staff, donor40, make_user):
    admin = make_user("radiologist", is_centre_admin=True)
    assert (
        api(admin).patch("/api/v1/centre/thresholds/", {"graft_density": 0.85, "version": 0}, format="json").status_code
        == 200
    )
    body = record(staff, donor40, "volumetry", {k: v for k, v in VOLUMETRY.items() if k != "density_factor"})
    assert body["density_factor"] == "0.850"
    # 900 x 0.85 / 70 / 10 = 1.0929
    assert checks(staff["surgeon"], donor40)["grwr"]["value"] == 1.09


def test_recipient_weight_falls_back_to_the_registered_one(staff, donor40):
    record(
        staff,
        donor40,
        "volumetry",
        VOLUMETRY | {"recipient_weight_kg": None, "graft_volume_ml": "560", "remnant_volume_ml": None},
    )
    result = checks(staff["surgeon"], donor40)
    # 560 g / 70 kg (registered weight) / 10 = 0.8 %: exactly the pass threshold passes
    assert result["grwr"]["value"] == 0.8 and result["grwr"]["state"] == "pass"
    # remnant derived as total - graft: (1500 - 560) / 1500 = 62.7 %
    assert result["remnant"]["value"] == 62.7 and "(total - graft)" in result["remnant"]["detail"]


@pytest.mark.parametrize(
    "graft,total,remnant,state",
    [
        ("700", "1000", "300", "borderline"),  # 300 / 1000 = 30.0 %: at the minimum, within the 5-point margin
        ("701", "1000", "299", "fail"),  # 29.9 % < 30
        ("650", "1000", "350", "pass"),  # 35.0 %: minimum + margin passes
        ("651", "1000", "349", "borderline"),  # 34.9 %
    ],
)
def test_remnant_boundaries(staff, donor40, graft, total, remnant, state):
    record(
        staff,
        donor40,
        "volumetry",
        VOLUMETRY | {"graft_volume_ml": graft, "total_liver_volume_ml": total, "remnant_volume_ml": remnant},
    )
    assert checks(staff["surgeon"], donor40)["remnant"]["state"] == state


@pytest.mark.parametrize(
    "graft,state", [("560", "pass"), ("559", "borderline"), ("490", "borderline"), ("489", "fail")]
)
def test_grwr_boundaries(staff, donor40, graft, state):
    # 560 / 70 / 10 = 0.8 (pass); 559 -> 0.7986; 490 -> 0.7 (borderline from 0.7); 489 -> 0.6986 (fail)
    record(staff, donor40, "volumetry", VOLUMETRY | {"graft_volume_ml": graft, "remnant_volume_ml": None})
    assert checks(staff["surgeon"], donor40)["grwr"]["state"] == state


def test_steatosis_modalities_each_on_their_own_scale(staff, donor40):
    body = record(
        staff,
        donor40,
        "steatosis",
        {"measured_on": DAY, "modality": "dual_echo", "in_phase_signal": "400", "opposed_phase_signal": "360"},
    )
    # signal fat fraction = (400 - 360) / (2 x 400) = 40 / 800 = 5.0 %: at the flag
    assert body["signal_fat_fraction_pct"] == "5.00"
    result = checks(staff["surgeon"], donor40)
    assert result["steatosis_dual_echo"]["value"] == 5.0 and result["steatosis_dual_echo"]["state"] == "borderline"
    # The other modalities are not needed any more: missing, but optional, and steatosis is not outstanding.
    assert result["steatosis_pdff"]["state"] == "missing" and result["steatosis_pdff"]["optional"] is True
    outstanding = api(staff["surgeon"]).get(f"/api/v1/donors/{donor40.pk}/checks/").json()["outstanding"]
    assert not any("Steatosis" in o["title"] for o in outstanding)

    body = record(
        staff, donor40, "steatosis", {"measured_on": DAY, "modality": "ct", "liver_hu": "48", "spleen_hu": "60"}
    )
    # liver attenuation index = 48 - 60 = -12 HU < -10: fail
    assert body["liver_attenuation_index"] == "-12.0"
    assert checks(staff["surgeon"], donor40)["steatosis_ct"]["state"] == "fail"
    record(staff, donor40, "steatosis", {"measured_on": DAY, "modality": "ct", "liver_hu": "60", "spleen_hu": "54"})
    # 60 - 54 = 6 HU > 5: pass; the biopsy by the hepatologist: 12 % is between 10 and 30: borderline
    response = post(
        staff["hepatologist"],
        donor40,
        "steatosis",
        {"measured_on": DAY, "modality": "biopsy", "macrovesicular_pct": "12"},
    )
    assert response.status_code == 201, response.content
    result = checks(staff["surgeon"], donor40)
    assert result["steatosis_ct"]["state"] == "pass" and result["steatosis_biopsy"]["state"] == "borderline"
    # The hepatologist may not enter an imaging measurement.
    response = post(
        staff["hepatologist"], donor40, "steatosis", {"measured_on": DAY, "modality": "mri_pdff", "pdff_pct": "4"}
    )
    assert response.status_code == 403


def test_vascular_anatomy_checks(staff, donor40):
    record(staff, donor40, "portal-vein", {"measured_on": DAY, "portal_scheme": "nakamura", "portal_type": "D"})
    record(
        staff,
        donor40,
        "hepatic-artery",
        {"measured_on": DAY, "michels_type": "unclassified", "unclassified_description": "replaced RHA from the aorta"},
    )
    record(
        staff,
        donor40,
        "hepatic-veins",
        {"measured_on": DAY, "mhv_with_graft": False, "v5_mm": "6", "v8_mm": "4.9", "inferior_right_hv_mm": "0"},
    )
    result = checks(staff["surgeon"], donor40)
    assert result["portal_vein"]["state"] == "borderline" and result["portal_vein"]["value"] == "Nakamura D"
    assert result["hepatic_artery"]["state"] == "pass" and "replaced RHA" in result["hepatic_artery"]["detail"]
    # V5 6 mm >= 5 mm needs reconstruction; V8 4.9 mm does not
    assert result["hepatic_veins"]["state"] == "borderline"
    assert "V5 6 mm" in result["hepatic_veins"]["detail"] and "V8" not in result["hepatic_veins"]["detail"]
    stored = PortalVeinAnatomy.objects.get(donor=donor40)
    assert (stored.portal_scheme, stored.portal_type) == ("nakamura", "D")


def test_clearances_pass_fail_and_pending(staff, donor40):
    record(
        staff,
        donor40,
        "clearances",
        {"measured_on": DAY, "clearance_kind": "psychosocial", "clearance_status": "pending"},
    )
    record(
        staff,
        donor40,
        "clearances",
        {"measured_on": DAY, "clearance_kind": "donor_advocate", "clearance_status": "not_cleared"},
    )
    result = checks(staff["surgeon"], donor40)
    assert result["psychosocial"]["state"] == "missing" and result["psychosocial"]["detail"] == "pending"
    assert result["donor_advocate"]["state"] == "fail"
    record(
        staff,
        donor40,
        "clearances",
        {"measured_on": DAY, "clearance_kind": "psychosocial", "clearance_status": "cleared"},
    )
    assert checks(staff["surgeon"], donor40)["psychosocial"]["state"] == "pass"
    assert checks(staff["surgeon"], donor40)["donor_advocate"]["state"] == "fail"


def test_a_complete_workup_passes_everything(staff, donor40, biliary_type):
    biliary_type("1")
    complete_passing_workup(staff, donor40)
    body = api(staff["surgeon"]).get(f"/api/v1/donors/{donor40.pk}/checks/").json()
    states = {c["check"]: c["state"] for c in body["checks"] if not c["optional"]}
    assert set(states.values()) == {"pass"}, states
    assert body["outstanding"] == [] and body["biliary_type"] == "1"


def test_stale_record_is_refused(staff, donor40):
    first = record(staff, donor40, "labs", LABS)
    record(staff, donor40, "labs", GOOD_LABS | {"supersedes": first["id"]})
    response = post(staff["hepatologist"], donor40, "labs", LABS | {"supersedes": first["id"]})
    assert response.status_code == 409 and "supersedes" in response.json()["error"]["fields"]
    assert LabResult.objects.filter(donor=donor40).count() == 2


def test_no_records_for_a_donated_donor(staff, donor40):
    Donor.objects.filter(pk=donor40.pk).update(status="donated")
    response = post(staff["hepatologist"], donor40, "labs", LABS)
    assert response.status_code == 409 and "closed" in response.json()["error"]["message"]


# ---------------------------------------------------------------- bad input

FUTURE = (TODAY + datetime.timedelta(days=2)).isoformat()
BAD_INPUT = [
    ("labs", LABS | {"platelets": "0"}, "platelets"),
    ("labs", LABS | {"ast": "-5"}, "ast"),
    ("labs", {k: v for k, v in LABS.items() if k != "ast_uln"}, "ast_uln"),
    ("labs", LABS | {"albumin_g_dl": "43"}, "albumin_g_dl"),  # g/L entered as g/dL
    ("labs", LABS | {"ast": "abc"}, "ast"),
    ("labs", LABS | {"measured_on": FUTURE}, "measured_on"),
    ("labs", {"measured_on": DAY}, "non_field_errors"),
    (
        "volumetry",
        VOLUMETRY | {"total_liver_volume_ml": "50", "graft_volume_ml": "40", "remnant_volume_ml": None},
        "total_liver_volume_ml",
    ),
    ("volumetry", VOLUMETRY | {"total_liver_volume_ml": "5000"}, "total_liver_volume_ml"),
    ("volumetry", VOLUMETRY | {"graft_volume_ml": "1600"}, "graft_volume_ml"),
    ("volumetry", VOLUMETRY | {"remnant_volume_ml": "700"}, "remnant_volume_ml"),  # 900 + 700 > 1500
    ("volumetry", VOLUMETRY | {"density_factor": "10"}, "density_factor"),
    ("volumetry", VOLUMETRY | {"recipient_weight_kg": "0.5"}, "recipient_weight_kg"),
    ("steatosis", {"measured_on": DAY, "modality": "mri_pdff", "pdff_pct": "101"}, "pdff_pct"),
    ("steatosis", {"measured_on": DAY, "modality": "mri_pdff"}, "pdff_pct"),
    ("steatosis", {"measured_on": DAY, "modality": "mri_pdff", "pdff_pct": "5", "liver_hu": "50"}, "liver_hu"),
    (
        "steatosis",
        {"measured_on": DAY, "modality": "dual_echo", "in_phase_signal": "300", "opposed_phase_signal": "400"},
        "opposed_phase_signal",
    ),
    ("steatosis", {"measured_on": DAY, "modality": "ct", "liver_hu": "500", "spleen_hu": "50"}, "liver_hu"),
    ("portal-vein", {"measured_on": DAY, "portal_scheme": "cheng", "portal_type": "D"}, "portal_type"),
    ("portal-vein", {"measured_on": DAY, "portal_type": "A"}, "portal_scheme"),
    ("hepatic-artery", {"measured_on": DAY, "michels_type": "unclassified"}, "unclassified_description"),
    ("hepatic-artery", {"measured_on": DAY, "michels_type": "XI"}, "michels_type"),
    ("hepatic-veins", {"measured_on": DAY, "mhv_with_graft": True, "v5_mm": "-1"}, "v5_mm"),
    ("hepatic-veins", {"measured_on": DAY, "v5_mm": "3"}, "mhv_with_graft"),
    (
        "clearances",
        {"measured_on": DAY, "clearance_kind": "psychosocial", "clearance_status": "maybe"},
        "clearance_status",
    ),
]


@pytest.mark.parametrize("kind,payload,field", BAD_INPUT, ids=[f"{k}-{f}-{i}" for i, (k, _, f) in enumerate(BAD_INPUT)])
def test_bad_input_names_the_field_and_stores_nothing(staff, donor40, kind, payload, field):
    before = AuditEvent.objects.filter(kind="create").count()
    response = post(staff[KIND_OWNER[kind]], donor40, kind, payload)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid" and field in error["fields"], error
    assert error["fields"][field][0]
    assert MODELS[kind].objects.count() == 0
    assert AuditEvent.objects.filter(kind="create").count() == before


def test_bad_input_on_the_page_is_shown_next_to_the_field(staff, donor40):
    client = Client()
    client.force_login(staff["hepatologist"])
    data = {f"labs-{k}": v for k, v in (LABS | {"platelets": "0", "ast_uln": ""}).items()}
    response = client.post(f"/donors/{donor40.pk}/workup/record/labs/", data)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-field="platelets"' in html and "is implausible" in html
    assert 'data-field="ast_uln"' in html and "APRI needs" in html
    assert LabResult.objects.count() == 0
    volumetry = {f"volumetry-{k}": v for k, v in (VOLUMETRY | {"graft_volume_ml": "1600"}).items() if v is not None}
    client.force_login(staff["radiologist"])
    response = client.post(f"/donors/{donor40.pk}/workup/record/volumetry/", volumetry)
    assert response.status_code == 400 and "larger than the total liver volume" in response.content.decode()
    assert Volumetry.objects.count() == 0


# ---------------------------------------------------------------- pages


def test_workup_page_shows_checks_records_and_forms_for_the_owner(staff, donor40):
    record(staff, donor40, "labs", LABS)
    client = Client()
    client.force_login(staff["hepatologist"])
    response = client.get(f"/donors/{donor40.pk}/workup/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="state-apri">borderline' in html and 'data-testid="value-apri">1.0' in html
    assert 'data-form="labs"' in html and 'data-form="volumetry"' not in html
    assert 'data-form="steatosis-biopsy"' in html and 'data-form="steatosis-mri_pdff"' not in html
    assert "defaults of the workup document" in html
    client.force_login(staff["radiologist"])
    html = client.get(f"/donors/{donor40.pk}/workup/").content.decode()
    assert 'data-form="labs"' not in html and 'data-form="volumetry"' in html and 'data-form="portal-vein"' in html


def test_workup_page_saves_a_record_through_the_form(staff, donor40):
    client = Client()
    client.force_login(staff["radiologist"])
    data = {f"volumetry-{k}": v for k, v in VOLUMETRY.items() if v is not None} | {"volumetry-supersedes": ""}
    response = client.post(f"/donors/{donor40.pk}/workup/record/volumetry/", data)
    assert response.status_code == 302 and response["Location"].endswith("#volumetry")
    stored = Volumetry.objects.get(donor=donor40)
    assert stored.recorded_by == staff["radiologist"] and stored.density_factor == Decimal("1.000")
    # A second form opened before the first save is stale.
    response = client.post(f"/donors/{donor40.pk}/workup/record/volumetry/", data)
    assert response.status_code == 409 and Volumetry.objects.count() == 1


def test_donor_page_summarises_the_workup_and_the_steps(staff, donor40):
    record(staff, donor40, "labs", LABS)
    client = Client()
    client.force_login(staff["coordinator"])
    html = client.get(f"/donors/{donor40.pk}/").content.decode()
    assert f'href="/donors/{donor40.pk}/workup/"' in html
    assert 'id="workup-summary"' in html and "APRI" in html
    from workup.checklist import workup_steps

    steps = {s.title: s for s in workup_steps(donor=donor40)}
    assert steps["History, examination, labs, serology"].state == "done"
    assert steps["CT volumetry, vascular anatomy, steatosis"].state == "missing"
    assert "volumetry" in steps["CT volumetry, vascular anatomy, steatosis"].detail
    assert steps["Graft plan and multidisciplinary decision"].detail == "no decision proposed"


def test_reads_and_writes_are_audited(staff, donor40):
    body = record(staff, donor40, "labs", LABS)
    event = AuditEvent.objects.get(kind="create", record_type="donors.LabResult")
    assert event.record_id == str(body["id"]) and event.donor_id == donor40.pk and event.user == staff["hepatologist"]
    assert event.changes["platelets"] == [None, "150.0"] and event.channel == "api"
    api(staff["surgeon"]).get(f"/api/v1/donors/{donor40.pk}/checks/")
    assert AuditEvent.objects.filter(
        kind="read", donor_id=donor40.pk, user=staff["surgeon"], summary="viewed workup checks"
    ).exists()
    api(staff["surgeon"]).get(f"/api/v1/donors/{donor40.pk}/labs/")
    api(staff["surgeon"]).get(f"/api/v1/donors/{donor40.pk}/decision/")
    client = Client()
    client.force_login(staff["coordinator"])
    client.get(f"/donors/{donor40.pk}/workup/")
    summaries = set(AuditEvent.objects.filter(kind="read", donor_id=donor40.pk).values_list("summary", flat=True))
    assert {"viewed laboratory results records", "viewed workup decision", "viewed workup"} <= summaries
    second = record(staff, donor40, "labs", GOOD_LABS)
    assert (
        AuditEvent.objects.get(record_id=str(second["id"]), record_type="donors.LabResult").changes["supersedes"]
        == body["id"]
    )


# ---------------------------------------------------------------- thresholds


def test_thresholds_default_until_a_centre_admin_changes_them(staff, donor40, make_user):
    body = api(staff["surgeon"]).get("/api/v1/centre/thresholds/").json()
    assert body["version"] == 0 and body["remnant_min"] == 30 and body["slv_formula"] == "urata"
    assert body["portal_vein_flag_types"] == ["nakamura:D", "nakamura:E"] and body["editable"] is False
    record(staff, donor40, "volumetry", VOLUMETRY | {"graft_volume_ml": "1000", "remnant_volume_ml": "500"})
    # remnant 500 / 1500 = 33.3 %: borderline between 30 and 35
    assert checks(staff["surgeon"], donor40)["remnant"]["state"] == "borderline"

    admin = make_user("surgeon", username="admin-surgeon", is_centre_admin=True)
    response = api(admin).patch("/api/v1/centre/thresholds/", {"remnant_min": 35, "version": 0}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 1 and response.json()["remnant_min"] == 35
    # 33.3 % < 35: fails at this centre now
    result = checks(staff["surgeon"], donor40)
    assert result["remnant"]["state"] == "fail" and result["remnant"]["threshold"].startswith(">= 35 %")
    event = AuditEvent.objects.get(record_type="donors.CentreThresholds")
    assert event.kind == "create" and event.changes == {"remnant_min": [30, 35]} and event.user == admin
    assert CentreThresholds.objects.get().history.count() == 1

    # Vauthey: SLV = 1267.28 x 1.7638 - 794.41 = 1440.8 mL; GV/SLV = 1000 / 1440.8 = 69.4 %
    assert checks(staff["surgeon"], donor40)["gv_slv"]["value"] == 80.1  # Urata: 1000 / 1248.0
    response = api(admin).patch("/api/v1/centre/thresholds/", {"slv_formula": "vauthey", "version": 1}, format="json")
    assert response.status_code == 200
    assert checks(staff["surgeon"], donor40)["gv_slv"]["value"] == 69.4
    assert AuditEvent.objects.filter(record_type="donors.CentreThresholds", kind="update").get().changes == {
        "slv_formula": ["urata", "vauthey"]
    }
    # DuBois with Urata: BSA = 0.007184 x 70^0.425 x 160^0.725 = 0.007184 x 6.08368 x 39.62662 = 1.73189 m2;
    # SLV = 706.2 x 1.73189 + 2.4 = 1225.46 mL; GV/SLV = 1000 / 1225.46 = 81.6 %
    response = api(admin).patch(
        "/api/v1/centre/thresholds/", {"slv_formula": "urata", "bsa_formula": "dubois", "version": 2}, format="json"
    )
    assert response.status_code == 200
    result = checks(staff["surgeon"], donor40)["gv_slv"]
    assert result["value"] == 81.6 and "BSA 1.73 m2 by dubois" in result["detail"]


def test_thresholds_refuse_stale_bad_and_unauthorised_changes(staff, make_user, other_centre):
    admin = make_user("coordinator", is_centre_admin=True)
    assert (
        api(admin).patch("/api/v1/centre/thresholds/", {"age_max": 55, "version": 0}, format="json").status_code == 200
    )
    response = api(admin).patch("/api/v1/centre/thresholds/", {"age_max": 58, "version": 0}, format="json")
    assert response.status_code == 409 and "version" in response.json()["error"]["fields"]
    for payload, field in [
        ({"age_min": 70, "version": 1}, "age_min"),  # above age_max 55
        ({"pdff_flag": 150, "version": 1}, "pdff_flag"),
        ({"portal_vein_flag_types": ["nakamura:Z"], "version": 1}, "portal_vein_flag_types"),
        ({"slv_formula": "heinemann", "version": 1}, "slv_formula"),
        ({"remnant_min": 31}, "version"),
    ]:
        response = api(admin).patch("/api/v1/centre/thresholds/", payload, format="json")
        assert response.status_code == 400, (payload, response.content)
        assert any(key.startswith(field) for key in response.json()["error"]["fields"]), response.json()
    assert CentreThresholds.objects.get().age_min == 18
    response = api(staff["surgeon"]).patch("/api/v1/centre/thresholds/", {"age_max": 50, "version": 1}, format="json")
    assert response.status_code == 403
    foreign_admin = make_user("coordinator", centre_obj=other_centre, is_centre_admin=True)
    assert api(foreign_admin).get("/api/v1/centre/thresholds/").json()["age_max"] == 60
    full = api(admin).get("/api/v1/centre/thresholds/").json()
    put = {k: v for k, v in full.items() if k not in ("basis", "updated_by", "updated_at", "editable")} | {
        "fib4_flag": 2.67
    }
    response = api(admin).put("/api/v1/centre/thresholds/", put, format="json")
    assert response.status_code == 200 and response.json()["fib4_flag"] == 2.67 and response.json()["version"] == 2


def test_thresholds_page_for_admins_and_readers(staff, make_user):
    client = Client()
    client.force_login(staff["hepatologist"])
    response = client.get("/donors/thresholds/")
    assert response.status_code == 200 and b"Only an administrator" in response.content
    assert client.post("/donors/thresholds/", {"version": 0}).status_code == 403
    admin = make_user("surgeon", is_centre_admin=True)
    client.force_login(admin)
    response = client.get("/donors/thresholds/")
    assert b"Save thresholds" in response.content
    data = {k: v for k, v in response.context["form"].initial.items() if k in wsv.THRESHOLD_FIELDS}
    data |= {"version": 0, "bmi_max": 32, "portal_vein_flag_types": ["nakamura:D", "nakamura:E", "cheng:IV"]}
    assert client.post("/donors/thresholds/", data).status_code == 302
    row = CentreThresholds.objects.get()
    assert row.bmi_max == 32 and row.portal_vein_flag_types == ["nakamura:D", "nakamura:E", "cheng:IV"]
    response = client.post("/donors/thresholds/", data | {"version": 1, "age_min": 70, "age_max": 60})
    assert response.status_code == 400 and b'data-field="age_min"' in response.content


def test_every_criteria_threshold_has_a_centre_setting():
    import dataclasses

    model_fields = {f.name for f in CentreThresholds._meta.get_fields()}
    assert {f.name for f in dataclasses.fields(Thresholds)} <= model_fields
    defaults = CentreThresholds()
    assert ws.thresholds_from_row(defaults) == Thresholds()


# ---------------------------------------------------------------- the decision


def propose(user, donor, **values):
    payload = {"decision_action": "propose", "decision_outcome": "suitable", "reasons": "meets the criteria"} | values
    return api(user).post(f"/api/v1/donors/{donor.pk}/decision/", payload, format="json")


def sign(user, donor, decision_id, **values):
    payload = {"decision_action": "sign", "decision": decision_id} | values
    return api(user).post(f"/api/v1/donors/{donor.pk}/decision/", payload, format="json")


def test_decision_needs_the_donor_in_evaluation(staff, centre):
    candidate = DonorFactory(centre=centre)
    response = propose(staff["surgeon"], candidate, decision_outcome="not_suitable")
    assert response.status_code == 409
    assert "in evaluation" in response.json()["error"]["message"] and Decision.objects.count() == 0


def test_complete_decision_moves_the_donor(staff, donor40, biliary_type):
    biliary_type("1")
    complete_passing_workup(staff, donor40)
    response = propose(staff["coordinator"], donor40)
    assert response.status_code == 201, response.content
    decision = response.json()
    assert decision["decision_state"] == "open" and decision["override_reason"] == "" and decision["overridden"] == []
    assert decision["awaiting"] == ["radiologist", "hepatologist", "surgeon"]
    assert decision["thresholds_snapshot"]["values"]["remnant_min"] == 30
    assert decision["thresholds_snapshot"]["basis"] == "defaults of the workup document"
    assert {c["check"]: c["state"] for c in decision["checks_snapshot"]}["grwr"] == "pass"
    # The coordinator proposes but does not sign.
    assert sign(staff["coordinator"], donor40, decision["id"]).status_code == 403
    assert sign(staff["radiologist"], donor40, decision["id"]).status_code == 201
    body = sign(staff["hepatologist"], donor40, decision["id"], comment="labs normal").json()
    assert body["decision_state"] == "open" and body["awaiting"] == ["surgeon"]
    donor40.refresh_from_db()
    assert donor40.status == "in_evaluation"
    body = sign(staff["surgeon"], donor40, decision["id"]).json()
    assert body["decision_state"] == "complete" and body["completed_at"]
    assert [s["user"] for s in body["sign_offs"]] == ["radiologist-w", "hepatologist-w", "surgeon-w"]
    donor40.refresh_from_db()
    assert donor40.status == "suitable" and donor40.version == 2
    change = StatusChange.objects.get(donor=donor40)
    assert change.changed_by == staff["surgeon"] and change.reason.startswith(
        f"multidisciplinary decision {decision['id']}"
    )
    assert Decision.objects.get().status_change == change
    assert AuditEvent.objects.filter(kind="transition", donor_id=donor40.pk).count() == 1
    assert AuditEvent.objects.filter(kind="create", record_type="donors.DecisionSignOff").count() == 3
    assert AuditEvent.objects.filter(kind="create", record_type="donors.Decision").count() == 1
    # A complete decision is not signed again.
    assert sign(staff["surgeon"], donor40, decision["id"]).status_code == 409
    state = api(staff["surgeon"]).get(f"/api/v1/donors/{donor40.pk}/decision/").json()
    assert state["current"]["id"] == decision["id"] and state["can_sign_as"] == []


def test_biliary_type_3_acceptance_needs_a_written_override(staff, donor40, biliary_type):
    biliary_type("3")
    complete_passing_workup(staff, donor40)
    response = propose(staff["surgeon"], donor40)
    assert response.status_code == 400
    error = response.json()["error"]
    assert "override_reason" in error["fields"] and "biliary type 3" in error["fields"]["override_reason"][0]
    assert Decision.objects.count() == 0
    # "not suitable" follows the rule: no override needed
    assert propose(staff["surgeon"], donor40, decision_outcome="not_suitable").status_code == 201
    open_id = Decision.objects.get().pk
    response = propose(staff["surgeon"], donor40, override_reason="two ducts joined within 3 mm at surgery planning")
    assert response.status_code == 409 and "replaces" in response.json()["error"]["fields"]
    response = propose(
        staff["surgeon"], donor40, replaces=open_id, override_reason="two ducts joined within 3 mm at surgery planning"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["overridden"] == ["biliary type 3 (not suitable by the study's rule)"]
    assert body["biliary_type"] == "3" and body["override_reason"].startswith("two ducts")
    assert Decision.objects.get(pk=open_id).decision_state == "superseded"
    assert (
        AuditEvent.objects.get(record_type="donors.Decision", record_id=str(body["id"])).changes["replaces"] == open_id
    )
    client = Client()
    client.force_login(staff["hepatologist"])
    html = client.get(f"/donors/{donor40.pk}/workup/").content.decode()
    assert 'data-testid="override"' in html and "two ducts joined" in html and "biliary type 3" in html
    assert "Remnant min" in html  # the thresholds stored with the decision are shown


def test_failing_or_missing_checks_need_an_override_to_accept(staff, donor40, biliary_type):
    biliary_type("1")
    complete_passing_workup(staff, donor40)
    record(
        staff,
        donor40,
        "clearances",
        {"measured_on": DAY, "clearance_kind": "donor_advocate", "clearance_status": "not_cleared"},
    )
    response = propose(
        staff["surgeon"], donor40, decision_outcome="suitable_with_conditions", conditions="advocate review"
    )
    assert response.status_code == 400
    assert "Living donor advocate fails" in response.json()["error"]["fields"]["override_reason"][0]
    biliary_type(None)
    record(
        staff,
        donor40,
        "clearances",
        {"measured_on": DAY, "clearance_kind": "donor_advocate", "clearance_status": "cleared"},
    )
    response = propose(staff["surgeon"], donor40)
    assert response.status_code == 400
    assert "Biliary anatomy (proposed type) is missing" in response.json()["error"]["fields"]["override_reason"][0]
    response = propose(staff["surgeon"], donor40, decision_outcome="suitable_with_conditions")
    assert response.status_code == 400 and "conditions" in response.json()["error"]["fields"]


def test_signing_rules(staff, donor40, make_user, biliary_type):
    biliary_type("1")
    complete_passing_workup(staff, donor40)
    decision_id = propose(staff["surgeon"], donor40, decision_outcome="not_suitable", reasons="family request").json()[
        "id"
    ]
    both = make_user("radiologist", "hepatologist", username="both")
    response = sign(both, donor40, decision_id)
    assert response.status_code == 400 and "signed_as" in response.json()["error"]["fields"]
    assert sign(both, donor40, decision_id, signed_as="radiologist").status_code == 201
    # The same person does not sign a second role.
    response = sign(both, donor40, decision_id, signed_as="hepatologist")
    assert response.status_code == 409
    # A role is signed once.
    assert sign(staff["radiologist"], donor40, decision_id).status_code == 409
    # A role the user does not hold.
    assert sign(staff["hepatologist"], donor40, decision_id, signed_as="surgeon").status_code == 403
    assert DecisionSignOff.objects.count() == 1


def test_a_changed_workup_invalidates_the_proposal(staff, donor40, biliary_type):
    biliary_type("1")
    complete_passing_workup(staff, donor40)
    decision_id = propose(staff["surgeon"], donor40).json()["id"]
    assert sign(staff["radiologist"], donor40, decision_id).status_code == 201
    record(staff, donor40, "labs", LABS)  # APRI and FIB-4 now flagged
    response = sign(staff["hepatologist"], donor40, decision_id)
    assert response.status_code == 409
    assert "apri" in response.json()["error"]["message"] and "fib4" in response.json()["error"]["message"]
    assert DecisionSignOff.objects.count() == 1


def test_final_sign_off_refused_when_the_donor_left_evaluation(staff, donor40, biliary_type):
    biliary_type("1")
    complete_passing_workup(staff, donor40)
    decision_id = propose(staff["surgeon"], donor40).json()["id"]
    sign(staff["radiologist"], donor40, decision_id)
    sign(staff["hepatologist"], donor40, decision_id)
    response = api(staff["coordinator"]).post(
        f"/api/v1/donors/{donor40.pk}/transitions/", {"to_status": "withdrawn", "reason": "changed mind"}, format="json"
    )
    assert response.status_code == 201
    response = sign(staff["surgeon"], donor40, decision_id)
    assert response.status_code == 409 and "in evaluation" in response.json()["error"]["message"]
    assert DecisionSignOff.objects.count() == 2
    assert Decision.objects.get().decision_state == "open"


def test_decision_through_the_page(staff, donor40, biliary_type):
    biliary_type("3")
    complete_passing_workup(staff, donor40)
    client = Client()
    client.force_login(staff["surgeon"])
    html = client.get(f"/donors/{donor40.pk}/workup/").content.decode()
    assert 'data-testid="override-needed"' in html
    response = client.post(
        f"/donors/{donor40.pk}/workup/decision/", {"decision_outcome": "suitable", "reasons": "good volumes"}
    )
    assert response.status_code == 400
    assert 'data-field="override_reason"' in response.content.decode() and Decision.objects.count() == 0
    response = client.post(
        f"/donors/{donor40.pk}/workup/decision/",
        {"decision_outcome": "suitable", "reasons": "good volumes", "override_reason": "ducts reconstructable as one"},
    )
    assert response.status_code == 302
    decision = Decision.objects.get()
    for role in ("radiologist", "hepatologist", "surgeon"):
        client.force_login(staff[role])
        response = client.post(f"/donors/{donor40.pk}/workup/sign/", {"decision": decision.pk, "signed_as": role})
        assert response.status_code == 302, response.content.decode()[:2000]
    donor40.refresh_from_db()
    assert donor40.status == "suitable"
    html = client.get(f"/donors/{donor40.pk}/").content.decode()
    assert "Suitable" in html and "signed by all" in html


def test_service_actor_from_another_centre_cannot_write(staff, foreign_donor, make_user):
    actor = Actor(user=staff["hepatologist"])
    from core.errors import NotFound

    with pytest.raises(NotFound):
        wsv.record_workup(
            actor=actor,
            donor=foreign_donor,
            kind="labs",
            values={"measured_on": TODAY, "ast": Decimal("20"), "ast_uln": Decimal("40")},
        )
    assert LabResult.objects.count() == 0
