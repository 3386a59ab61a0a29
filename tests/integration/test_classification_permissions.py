"""Every role on every anatomy, classification and outcome endpoint and page."""

import datetime

import pytest
from django.test import Client
from rest_framework.test import APIClient

from classification import services
from classification.presets import preset_document
from core.audit import Actor
from core.roles import Role
from tests.factories import accept_donor

CLINICAL = {"coordinator", "radiologist", "hepatologist", "surgeon"}
ALL_ROLES = [role.value for role in Role]


@pytest.fixture
def final_annotation(donor, make_user, eager_tasks, django_capture_on_commit_callbacks):
    radiologist = Actor(user=make_user("radiologist", username="rad-owner"))
    with django_capture_on_commit_callbacks(execute=True):
        annotation = services.save_annotation(
            actor=radiologist, donor=donor, document=preset_document("typical_right_lobe")
        )
    annotation.refresh_from_db()
    final = services.finalise_annotation(actor=radiologist, annotation=annotation, expected_version=annotation.version)
    # The operation is recorded only for a donor the team's signed decision accepted.
    accept_donor(donor)
    return final


API = [
    ("classify", "post", "/api/v1/classify/", "typical", CLINICAL | {"integration_client"}),
    ("list annotations", "get", "/api/v1/annotations/", None, CLINICAL | {"integration_client"}),
    ("read annotation", "get", "/api/v1/annotations/{annotation}/", None, CLINICAL | {"integration_client"}),
    ("annotation results", "get", "/api/v1/annotations/{annotation}/results/", None, CLINICAL | {"integration_client"}),
    ("update annotation", "put", "/api/v1/annotations/{annotation}/", "update", {"radiologist"}),
    ("worklist", "get", "/api/v1/surgical-worklist/", None, CLINICAL | {"integration_client"}),
    (
        "record outcome",
        "post",
        "/api/v1/donors/{donor}/outcome/",
        {"anastomoses": 1, "technique": "end-to-end", "operated_on": str(datetime.date.today())},
        {"surgeon"},
    ),
]
PAGES = [
    ("anatomy page", "get", "/anatomy/donors/{donor}/", CLINICAL | {"integration_client"}),
    ("worklist page", "get", "/anatomy/worklist/", CLINICAL | {"integration_client"}),
    ("outcome form", "get", "/anatomy/donors/{donor}/outcome/", {"surgeon"}),
]


def _payload(kind, annotation):
    if kind == "typical":
        return preset_document("typical_right_lobe")
    if kind == "update":
        document = preset_document("typical_right_lobe")
        document["notes"] = "re-read"
        return {"document": document, "version": annotation.version}
    return kind


@pytest.mark.django_db
@pytest.mark.parametrize("role", ALL_ROLES)
@pytest.mark.parametrize("name,method,template,payload,allowed", API, ids=[a[0] for a in API])
def test_api_matrix(
    role,
    name,
    method,
    template,
    payload,
    allowed,
    make_user,
    donor,
    final_annotation,
    django_capture_on_commit_callbacks,
):
    client = APIClient()
    client.force_authenticate(make_user(role))
    url = template.format(donor=donor.pk, annotation=final_annotation.pk)
    with django_capture_on_commit_callbacks(execute=True):
        response = getattr(client, method)(url, _payload(payload, final_annotation), format="json")
    if role in allowed:
        assert response.status_code in (200, 201), (role, name, response.content)
    else:
        assert response.status_code == 403, (role, name, response.status_code)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ALL_ROLES)
@pytest.mark.parametrize("name,method,template,allowed", PAGES, ids=[p[0] for p in PAGES])
def test_page_matrix(role, name, method, template, allowed, make_user, donor, final_annotation):
    client = Client()
    client.force_login(make_user(role))
    response = getattr(client, method)(template.format(donor=donor.pk))
    assert response.status_code == (200 if role in allowed else 403), (role, name)


@pytest.mark.django_db
def test_another_centres_anatomy_page_is_not_found(make_user, foreign_donor):
    client = Client()
    client.force_login(make_user("radiologist"))
    assert client.get(f"/anatomy/donors/{foreign_donor.pk}/").status_code == 404
    assert client.post(f"/anatomy/donors/{foreign_donor.pk}/", {"document": "{}"}).status_code == 404


@pytest.mark.django_db
def test_anatomy_page_shows_field_errors_and_stores_nothing(make_user, donor):
    from classification.models import Annotation

    client = Client()
    client.force_login(make_user("radiologist"))
    document = preset_document("typical_right_lobe")
    next(d for d in document["ducts"] if d["id"] == "RHD").pop("length_mm")
    import json

    response = client.post(f"/anatomy/donors/{donor.pk}/", {"document": json.dumps(document)})
    assert response.status_code == 400
    assert "RHD.length_mm" in response.context["errors"]
    # The shared error summary names the duct and its column and links to the cell the editor names alike.
    html = response.content.decode()
    assert 'data-testid="error-summary"' in html and "There is 1 problem with the biliary anatomy" in html
    reason = response.context["errors"]["RHD.length_mm"][0]
    assert f'<a href="#duct-RHD-length_mm">RHD, Length mm: {reason}</a>' in html
    response = client.post(f"/anatomy/donors/{donor.pk}/", {"document": "{oops"})
    assert response.status_code == 400 and "not valid JSON" in response.context["errors"]["document"][0]
    assert "not valid JSON" in response.content.decode().split('data-testid="error-summary"')[1].split("</div>")[0]
    assert not Annotation.objects.exists()


@pytest.mark.django_db
def test_anatomy_page_names_the_graft_and_the_series_in_the_error_summary(make_user, donor):
    import json

    client = Client()
    client.force_login(make_user("radiologist"))
    document = {**preset_document("typical_right_lobe"), "graft": "left_lobe"}
    response = client.post(f"/anatomy/donors/{donor.pk}/", {"document": json.dumps(document), "series": "999999"})
    assert response.status_code == 400
    summary = response.content.decode().split('data-testid="error-summary"')[1].split("</div>")[0]
    assert '<a href="#graft">Graft: ' in summary or '<a href="#series">Read on the MRCP series: ' in summary


@pytest.mark.django_db
def test_outcome_page_refuses_impossible_counts_next_to_the_field(make_user, donor, final_annotation):
    from classification.models import SurgicalOutcome

    client = Client()
    client.force_login(make_user("surgeon"))
    response = client.post(f"/anatomy/donors/{donor.pk}/outcome/", {"anastomoses": 1, "technique": "double Roux-en-Y"})
    assert response.status_code == 400
    assert "joins 2 duct(s), not 1" in response.context["form"].errors["technique"][0]
    response = client.post(
        f"/anatomy/donors/{donor.pk}/outcome/",
        {"anastomoses": 2, "technique": "double Roux-en-Y", "operated_on": datetime.date.today().isoformat()},
    )
    assert response.status_code == 302
    assert SurgicalOutcome.objects.get(donor=donor).predicted_anastomoses == 1
