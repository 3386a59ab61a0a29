"""Every role tries every workup endpoint and page; exactly the allowed ones succeed. Another
centre's donor is not found, and anonymous requests are refused."""

import datetime

import pytest
from django.test import Client
from rest_framework.test import APIClient

from core.models import AuditEvent
from core.roles import Role
from tests.factories import DonorFactory
from workup import selectors as workup_selectors
from workup.models import Decision, LabResult

CLINICAL = {"coordinator", "radiologist", "hepatologist", "surgeon"}
READERS = CLINICAL | {"integration_client"}
ALL_ROLES = [role.value for role in Role]
DAY = (datetime.date.today() - datetime.timedelta(days=1)).isoformat()

LABS = {"measured_on": DAY, "ast": "22", "ast_uln": "40", "alt": "20", "alt_uln": "41", "platelets": "240"}
VOLUMETRY = {"measured_on": DAY, "total_liver_volume_ml": "1500", "graft_volume_ml": "900", "density_factor": "1.0"}
RECORDS = {
    "labs": (LABS, {"hepatologist"}),
    "volumetry": (VOLUMETRY, {"radiologist"}),
    "steatosis": ({"measured_on": DAY, "modality": "mri_pdff", "pdff_pct": "4"}, {"radiologist"}),
    "hepatic-artery": ({"measured_on": DAY, "michels_type": "III"}, {"radiologist"}),
    "portal-vein": ({"measured_on": DAY, "portal_scheme": "cheng", "portal_type": "II"}, {"radiologist"}),
    "hepatic-veins": (
        {"measured_on": DAY, "mhv_with_graft": True, "v5_mm": "0", "v8_mm": "0", "inferior_right_hv_mm": "0"},
        {"radiologist"},
    ),
    "clearances": (
        {"measured_on": DAY, "clearance_kind": "donor_advocate", "clearance_status": "cleared"},
        {"coordinator"},
    ),
}
BIOPSY = {"measured_on": DAY, "modality": "biopsy", "macrovesicular_pct": "5"}
PROPOSE = {"decision_action": "propose", "decision_outcome": "not_suitable", "reasons": "portal vein anatomy"}

# (name, method, url template, payload, roles that may)
API_ENDPOINTS = [
    *[(f"list {kind}", "get", f"/api/v1/donors/{{donor}}/{kind}/", None, READERS) for kind in RECORDS],
    *[
        (f"record {kind}", "post", f"/api/v1/donors/{{donor}}/{kind}/", payload, allowed)
        for kind, (payload, allowed) in RECORDS.items()
    ],
    ("record biopsy", "post", "/api/v1/donors/{donor}/steatosis/", BIOPSY, {"radiologist", "hepatologist"}),
    ("checks", "get", "/api/v1/donors/{donor}/checks/", None, READERS),
    ("decision", "get", "/api/v1/donors/{donor}/decision/", None, READERS),
    ("propose decision", "post", "/api/v1/donors/{donor}/decision/", PROPOSE, CLINICAL),
]
DONOR_API = list(API_ENDPOINTS)
API_ENDPOINTS += [
    ("read thresholds", "get", "/api/v1/centre/thresholds/", None, set(ALL_ROLES)),
    ("change thresholds", "patch", "/api/v1/centre/thresholds/", {"age_max": 55, "version": 0}, set()),
]


def _form(prefix, payload):
    return {f"{prefix}-{k}": v for k, v in payload.items()}


PAGES = [
    ("workup page", "get", "/donors/{donor}/workup/", None, READERS),
    ("labs form", "post", "/donors/{donor}/workup/record/labs/", _form("labs", LABS), {"hepatologist"}),
    (
        "volumetry form",
        "post",
        "/donors/{donor}/workup/record/volumetry/",
        _form("volumetry", VOLUMETRY),
        {"radiologist"},
    ),
    (
        "biopsy form",
        "post",
        "/donors/{donor}/workup/record/steatosis-biopsy/",
        _form("steatosis-biopsy", BIOPSY),
        {"radiologist", "hepatologist"},
    ),
    (
        "PDFF form",
        "post",
        "/donors/{donor}/workup/record/steatosis-mri_pdff/",
        _form("steatosis-mri_pdff", {"measured_on": DAY, "modality": "mri_pdff", "pdff_pct": "4"}),
        {"radiologist"},
    ),
    (
        "portal vein form",
        "post",
        "/donors/{donor}/workup/record/portal-vein/",
        _form("portal-vein", {"measured_on": DAY, "portal_scheme": "nakamura", "portal_type": "B"}),
        {"radiologist"},
    ),
    (
        "clearance form",
        "post",
        "/donors/{donor}/workup/record/clearances-psychosocial/",
        _form(
            "clearances-psychosocial",
            {"measured_on": DAY, "clearance_kind": "psychosocial", "clearance_status": "pending"},
        ),
        {"coordinator"},
    ),
    (
        "decision form",
        "post",
        "/donors/{donor}/workup/decision/",
        {"decision_outcome": "not_suitable", "reasons": "portal vein anatomy"},
        CLINICAL,
    ),
    ("thresholds page", "get", "/donors/thresholds/", None, set(ALL_ROLES)),
    ("thresholds form", "post", "/donors/thresholds/", {"version": 0, "age_max": 55}, set()),
]


@pytest.fixture(autouse=True)
def no_biliary_type(monkeypatch):
    monkeypatch.setattr(workup_selectors, "final_proposed_type", lambda donor: None)


@pytest.fixture
def evaluating(centre):
    return DonorFactory(centre=centre, status="in_evaluation")


@pytest.fixture
def foreign_evaluating(other_centre):
    return DonorFactory(centre=other_centre, status="in_evaluation")


def _url(template, donor):
    return template.format(donor=donor.pk)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ALL_ROLES)
@pytest.mark.parametrize("name,method,template,payload,allowed", API_ENDPOINTS, ids=[e[0] for e in API_ENDPOINTS])
def test_api_role_matrix(role, name, method, template, payload, allowed, make_user, evaluating):
    client = APIClient()
    client.force_authenticate(make_user(role))
    response = getattr(client, method)(_url(template, evaluating), payload, format="json")
    if role in allowed:
        assert response.status_code in (200, 201), (role, name, response.content)
    else:
        assert response.status_code == 403, (role, name, response.status_code, response.content)
        assert response.json()["error"]["code"] in ("forbidden", "permission_denied")


@pytest.mark.django_db
@pytest.mark.parametrize("role", ALL_ROLES)
@pytest.mark.parametrize("name,method,template,payload,allowed", PAGES, ids=[p[0] for p in PAGES])
def test_page_role_matrix(role, name, method, template, payload, allowed, make_user, evaluating):
    client = Client()
    client.force_login(make_user(role))
    response = getattr(client, method)(_url(template, evaluating), payload or {})
    if role in allowed:
        assert response.status_code in (200, 302), (role, name, response.status_code, response.content[:3000])
    else:
        assert response.status_code == 403, (role, name, response.status_code)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ALL_ROLES)
def test_only_the_three_signing_roles_sign(role, make_user, evaluating):
    proposer = APIClient()
    proposer.force_authenticate(make_user("coordinator"))
    decision = proposer.post(f"/api/v1/donors/{evaluating.pk}/decision/", PROPOSE, format="json").json()
    client = APIClient()
    client.force_authenticate(make_user(role))
    response = client.post(
        f"/api/v1/donors/{evaluating.pk}/decision/",
        {"decision_action": "sign", "decision": decision["id"]},
        format="json",
    )
    expected = 201 if role in ("radiologist", "hepatologist", "surgeon") else 403
    assert response.status_code == expected, (role, response.content)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ALL_ROLES)
def test_any_centre_admin_changes_the_thresholds(role, make_user):
    client = APIClient()
    client.force_authenticate(make_user(role, is_centre_admin=True))
    response = client.patch("/api/v1/centre/thresholds/", {"age_max": 55, "version": 0}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["age_max"] == 55


@pytest.mark.django_db
@pytest.mark.parametrize("name,method,template,payload,allowed", API_ENDPOINTS, ids=[e[0] for e in API_ENDPOINTS])
def test_api_refuses_anonymous(name, method, template, payload, allowed, evaluating):
    response = getattr(APIClient(), method)(_url(template, evaluating), payload, format="json")
    assert response.status_code in (401, 403)


@pytest.mark.django_db
@pytest.mark.parametrize("name,method,template,payload,allowed", PAGES, ids=[p[0] for p in PAGES])
def test_pages_send_anonymous_to_login(name, method, template, payload, allowed, evaluating):
    response = getattr(Client(), method)(_url(template, evaluating), payload or {})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize("name,method,template,payload,allowed", DONOR_API, ids=[e[0] for e in DONOR_API])
def test_other_centres_donor_is_not_found_and_audited(
    name, method, template, payload, allowed, make_user, foreign_evaluating
):
    user = make_user(*sorted(allowed))
    client = APIClient()
    client.force_authenticate(user)
    response = getattr(client, method)(_url(template, foreign_evaluating), payload, format="json")
    assert response.status_code == 404, response.content
    assert AuditEvent.objects.filter(kind="denied", user=user, record_id=str(foreign_evaluating.pk)).exists()
    assert LabResult.objects.count() == 0 and Decision.objects.count() == 0


@pytest.mark.django_db
def test_other_centres_workup_page_is_not_found(make_user, foreign_evaluating):
    client = Client()
    client.force_login(make_user("hepatologist"))
    assert client.get(f"/donors/{foreign_evaluating.pk}/workup/").status_code == 404
    response = client.post(f"/donors/{foreign_evaluating.pk}/workup/record/labs/", _form("labs", LABS))
    assert response.status_code == 404 and LabResult.objects.count() == 0
