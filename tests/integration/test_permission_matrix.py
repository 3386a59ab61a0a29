"""Every role tries every donor endpoint and page; exactly the allowed ones succeed."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from core.roles import Role

CLINICAL = {"coordinator", "radiologist", "hepatologist", "surgeon"}
ALL_ROLES = [role.value for role in Role]


def donor_payload(code):
    return {
        "code": code,
        "mrn": "MRN-77",
        "given_name": "Elif",
        "family_name": "Kaya",
        "date_of_birth": "1988-02-03",
        "sex": "female",
        "height_cm": "160.0",
        "weight_kg": "58.0",
        "abo": "B",
        "relationship": "parent",
        "planned_graft": "left_lateral_segment",
    }


RECIPIENT = {
    "code": "R-NEW",
    "age_years": 3,
    "weight_kg": "14.0",
    "abo": "B",
    "diagnosis": "biliary_atresia",
    "own_duct_usable": False,
}

# (name, method, url template, payload, roles that may)
API_ENDPOINTS = [
    ("list donors", "get", "/api/v1/donors/", None, CLINICAL | {"integration_client"}),
    ("create donor", "post", "/api/v1/donors/", donor_payload("D-NEW"), {"coordinator", "integration_client"}),
    ("read donor", "get", "/api/v1/donors/{donor}/", None, CLINICAL | {"integration_client"}),
    (
        "edit donor",
        "patch",
        "/api/v1/donors/{donor}/",
        {"weight_kg": "63.0", "version": 1},
        {"coordinator", "integration_client"},
    ),
    ("status history", "get", "/api/v1/donors/{donor}/transitions/", None, CLINICAL | {"integration_client"}),
    (
        "change status",
        "post",
        "/api/v1/donors/{donor}/transitions/",
        {"to_status": "in_evaluation", "reason": "consented"},
        {"coordinator"},
    ),
    ("list recipients", "get", "/api/v1/recipients/", None, CLINICAL | {"integration_client"}),
    ("create recipient", "post", "/api/v1/recipients/", RECIPIENT, {"coordinator", "integration_client"}),
    ("read recipient", "get", "/api/v1/recipients/{recipient}/", None, CLINICAL | {"integration_client"}),
    (
        "edit recipient",
        "patch",
        "/api/v1/recipients/{recipient}/",
        {"weight_kg": "71.0", "version": 1},
        {"coordinator", "integration_client"},
    ),
]

PAGES = [
    ("donor list", "get", "/donors/", None, CLINICAL | {"integration_client"}),
    ("new donor form", "get", "/donors/new/", None, {"coordinator", "integration_client"}),
    ("donor page", "get", "/donors/{donor}/", None, CLINICAL | {"integration_client"}),
    ("edit form", "get", "/donors/{donor}/edit/", None, {"coordinator", "integration_client"}),
    (
        "status form",
        "post",
        "/donors/{donor}/status/",
        {"to_status": "in_evaluation", "reason": "consented", "version": 1},
        {"coordinator"},
    ),
    ("audit trail", "get", "/donors/audit/", None, {"auditor"}),
]


def _url(template, donor):
    return template.format(donor=donor.pk, recipient=donor.recipient_id)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ALL_ROLES)
@pytest.mark.parametrize("name,method,template,payload,allowed", API_ENDPOINTS, ids=[e[0] for e in API_ENDPOINTS])
def test_api_role_matrix(role, name, method, template, payload, allowed, make_user, donor):
    client = APIClient()
    client.force_authenticate(make_user(role))
    response = getattr(client, method)(_url(template, donor), payload, format="json")
    if role in allowed:
        assert response.status_code in (200, 201), (role, name, response.content)
    else:
        assert response.status_code == 403, (role, name, response.status_code)
        assert response.json()["error"]["code"] in ("forbidden", "permission_denied")


@pytest.mark.django_db
@pytest.mark.parametrize("role", ALL_ROLES)
@pytest.mark.parametrize("name,method,template,payload,allowed", PAGES, ids=[p[0] for p in PAGES])
def test_page_role_matrix(role, name, method, template, payload, allowed, make_user, donor):
    client = Client()
    client.force_login(make_user(role))
    response = getattr(client, method)(_url(template, donor), payload or {})
    if role in allowed:
        assert response.status_code in (200, 302), (role, name, response.status_code)
    else:
        assert response.status_code == 403, (role, name, response.status_code)


@pytest.mark.django_db
@pytest.mark.parametrize("name,method,template,payload,allowed", API_ENDPOINTS, ids=[e[0] for e in API_ENDPOINTS])
def test_api_refuses_anonymous(name, method, template, payload, allowed, donor):
    response = getattr(APIClient(), method)(_url(template, donor), payload, format="json")
    assert response.status_code in (401, 403)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name,method,template,payload,allowed",
    API_ENDPOINTS[2:6] + API_ENDPOINTS[8:],
    ids=[e[0] for e in API_ENDPOINTS[2:6] + API_ENDPOINTS[8:]],
)
def test_other_centres_records_are_not_found(name, method, template, payload, allowed, make_user, foreign_donor):
    client = APIClient()
    client.force_authenticate(make_user("coordinator"))
    response = getattr(client, method)(_url(template, foreign_donor), payload, format="json")
    assert response.status_code == 404
    foreign_donor.refresh_from_db()
    assert foreign_donor.version == 1 and foreign_donor.status == "candidate"


@pytest.mark.django_db
def test_other_centres_donor_page_is_not_found_and_audited(make_user, foreign_donor):
    from core.models import AuditEvent

    client = Client()
    user = make_user("coordinator")
    client.force_login(user)
    assert client.get(f"/donors/{foreign_donor.pk}/").status_code == 404
    event = AuditEvent.objects.get(kind="denied", user=user)
    assert event.record_id == str(foreign_donor.pk)


@pytest.mark.django_db
def test_list_shows_only_own_centre(make_user, donor, foreign_donor):
    client = APIClient()
    client.force_authenticate(make_user("surgeon"))
    codes = [row["code"] for row in client.get("/api/v1/donors/").json()["results"]]
    assert codes == [donor.code]
