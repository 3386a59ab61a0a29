"""Bad requests that once gave 500s: each is a clear 4xx in the API's one error shape and changes nothing."""

import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from classification.models import Annotation
from classification.presets import preset_document
from core.json_input import MAX_JSON_DEPTH
from core.models import AuditEvent
from donors.models import Donor
from tests.factories import RecipientFactory

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

DEEP = "[" * 1000 + "]" * 1000
VALID_DONOR = {
    "code": "D-100",
    "mrn": "MRN100",
    "given_name": "Can",
    "family_name": "Aydin",
    "date_of_birth": "1985-06-30",
    "sex": "male",
    "height_cm": "180.0",
    "weight_kg": "81.0",
    "abo": "O",
    "relationship": "sibling",
    "planned_graft": "right_lobe",
}


@pytest.fixture
def user(make_user):
    return make_user("coordinator", "radiologist", username="coord-rad")


@pytest.fixture
def api(user):
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(user)
    return client


@pytest.fixture
def page_client(user):
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def error_of(response, status):
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    error = response.json()["error"]
    assert set(error) == {"code", "message", "fields"}
    return error


@pytest.mark.parametrize("url", ["/api/v1/classify/", "/api/v1/donors/", "/api/v1/annotations/"])
def test_deeply_nested_json_is_a_400_naming_the_body(api, url):
    error = error_of(api.post(url, DEEP, content_type="application/json"), 400)
    assert error["fields"] == {"body": [f"nested deeper than {MAX_JSON_DEPTH} levels"]}


def test_nesting_just_past_the_limit_is_refused_and_within_it_parses(api):
    too_deep = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    assert error_of(api.post("/api/v1/classify/", too_deep, content_type="application/json"), 400)["fields"] == {
        "body": [f"nested deeper than {MAX_JSON_DEPTH} levels"]
    }
    # At the limit the body is read, and the classifier answers about the document itself.
    at_limit = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    response = api.post("/api/v1/classify/", at_limit, content_type="application/json")
    assert response.status_code == 400 and response.json()["errors"][0].startswith("document: must be a JSON object")


def test_nul_in_anatomy_notes_is_refused_naming_the_field(api, donor):
    document = preset_document("typical_right_lobe") | {"notes": "a\u0000b"}
    error = error_of(api.post("/api/v1/classify/", json.dumps(document), content_type="application/json"), 400)
    assert error["fields"] == {"notes": ["must not contain NUL characters (\\u0000)"]}
    body = json.dumps({"donor": donor.pk, "document": document})
    error = error_of(api.post("/api/v1/annotations/", body, content_type="application/json"), 400)
    assert list(error["fields"]) == ["document.notes"]
    assert not Annotation.objects.exists()


def test_nul_in_a_json_key_is_refused(api):
    error = error_of(api.post("/api/v1/donors/", '{"co\\u0000de": "x"}', content_type="application/json"), 400)
    assert error["fields"] == {"body": ["a key must not contain NUL characters (\\u0000)"]}


@pytest.mark.parametrize(
    "url,name",
    [
        ("/api/v1/donors/?search=a%00b", "search"),
        ("/api/v1/annotations/?state=a%00b", "state"),
        ("/api/v1/donors/?page=1&abo=A%00", "abo"),
    ],
)
def test_nul_in_a_query_parameter_is_a_400_naming_it(api, url, name):
    error = error_of(api.get(url), 400)
    assert error["fields"] == {name: ["must not contain NUL characters (%00)"]}


def test_nul_in_a_page_query_is_a_400_page(page_client):
    response = page_client.get("/donors/?search=a%00b")
    assert response.status_code == 400 and b"search: must not contain NUL" in response.content


def test_anatomy_editor_refuses_deep_json_and_nul_without_saving(page_client, donor):
    response = page_client.post(f"/anatomy/donors/{donor.pk}/", {"document": DEEP})
    assert response.status_code == 400
    assert "nested too deeply" in response.content.decode()
    shallow_enough_to_parse = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    response = page_client.post(f"/anatomy/donors/{donor.pk}/", {"document": shallow_enough_to_parse})
    assert response.status_code == 400
    assert f"nested deeper than {MAX_JSON_DEPTH} levels" in response.content.decode()
    document = preset_document("typical_right_lobe") | {"notes": "a\u0000b"}
    response = page_client.post(f"/anatomy/donors/{donor.pk}/", {"document": json.dumps(document)})
    assert response.status_code == 400 and "must not contain NUL characters" in response.content.decode()
    assert not Annotation.objects.exists()


def test_options_answers_without_error(api):
    for url in ["/api/v1/centre/thresholds/", "/api/v1/donors/", "/api/v1/donors/1/"]:
        response = api.options(url)
        assert response.status_code == 200, (url, response.content)
        assert "actions" not in response.json()


@pytest.mark.parametrize("url", ["/api/v1/donors/abc/", "/api/v1/nothing/", "/api/v1/donors/1/nothing/", "/api/x"])
def test_unknown_addresses_under_api_answer_json_404(api, url):
    error = error_of(api.get(url), 404)
    assert error["code"] == "not_found"


def test_pages_keep_their_html_404(page_client):
    response = page_client.get("/donors/abc/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def test_body_over_the_size_limit_is_a_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = json.dumps(VALID_DONOR | {"given_name": "x" * 2000})
    error = error_of(api.post("/api/v1/donors/", body, content_type="application/json"), 413)
    assert error["code"] == "too_large" and "body" in error["fields"]
    assert not Donor.objects.exists()


def test_form_body_over_the_size_limit_is_a_413(api, settings, donor):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = api.post(f"/api/v1/donors/{donor.pk}/transitions/", {"to_status": "in_evaluation", "reason": "x" * 2000})
    assert error_of(response, 413)["code"] == "too_large"


def test_server_errors_under_api_are_json(api, monkeypatch):
    from donors import selectors

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(selectors, "donor_list", broken)
    error = error_of(api.get("/api/v1/donors/"), 500)
    assert error["code"] == "server_error" and "boom" not in error["message"]


def test_another_centres_recipient_and_a_missing_one_answer_alike(api, other_centre):
    foreign = RecipientFactory(centre=other_centre)
    missing_id = foreign.pk + 1000
    answers = []
    for recipient_id in (foreign.pk, missing_id):
        response = api.post("/api/v1/donors/", VALID_DONOR | {"recipient": recipient_id}, format="json")
        error = error_of(response, 400)
        answers.append(json.dumps(error).replace(str(recipient_id), "<id>"))
    assert answers[0] == answers[1]
    assert "no recipient <id> in your centre" in answers[0]
    assert not Donor.objects.exists()
    assert not AuditEvent.objects.filter(kind="create").exists()


def test_version_is_required_on_put_and_patch(api, donor):
    response = api.put(f"/api/v1/donors/{donor.pk}/", VALID_DONOR, format="json")
    assert error_of(response, 400)["fields"] == {"version": ["This field is required."]}
    response = api.patch(f"/api/v1/donors/{donor.pk}/", {"given_name": "Other"}, format="json")
    assert "version" in error_of(response, 400)["fields"]
    donor.refresh_from_db()
    assert donor.given_name != "Other" and donor.version == 1


def test_zero_pixel_spacing_is_ignored_with_a_warning_and_the_slice_view_works(
    make_user, donor, settings, tmp_path, eager_tasks, django_capture_on_commit_callbacks
):
    from imaging.models import Instance
    from tests.integration.imaging_support import named, report, rewritten, upload

    settings.MEDIA_ROOT = str(tmp_path / "media")
    radiologist = make_user("radiologist")
    api = APIClient()
    api.force_authenticate(radiologist)

    def zero_spacing(dataset):
        dataset.PixelSpacing = [0, 0]

    body = upload(
        api, donor, [named("zero.dcm", rewritten("MR_small.dcm", zero_spacing))], django_capture_on_commit_callbacks
    )
    line = report(api, body["id"])["files"][0]
    assert line["outcome"] == "accepted"
    assert (
        "pixel spacing 0\\0 is not two positive numbers: ignored, distances cannot be measured on this image"
        in line["warnings"]
    )
    instance = Instance.objects.get()
    assert instance.pixel_spacing is None
    # A row stored before such spacings were refused still renders.
    Instance.objects.filter(pk=instance.pk).update(pixel_spacing=[0, 0])
    pages = Client()
    pages.force_login(radiologist)
    response = pages.get(f"/imaging/series/{instance.series_id}/slices/{instance.slice_index}.png")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
