import datetime

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from core.models import AuditEvent
from core.tokens import issue_api_client, revoke_api_client
from donors.models import Donor
from tests.factories import DonorFactory

pytestmark = pytest.mark.django_db

VALID = {
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
def coordinator_api(make_user):
    client = APIClient()
    client.force_authenticate(make_user("coordinator"))
    return client


def test_create_derives_bmi_and_audits(coordinator_api):
    response = coordinator_api.post("/api/v1/donors/", VALID, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    # 81 / 1.80^2 = 25.0
    assert body["bmi"] == "25.0"
    assert body["status"] == "candidate" and body["version"] == 1
    event = AuditEvent.objects.get(kind="create", donor_code="D-100")
    assert event.changes["weight_kg"] == [None, "81.0"]
    assert Donor.history.filter(code="D-100").count() == 1


@pytest.mark.parametrize(
    "field,value,fragment",
    [
        ("height_cm", "0", "outside the plausible range"),
        ("weight_kg", "900", "900.0 kg is outside"),
        ("date_of_birth", "2099-01-01", "in the future"),
        ("abo", "C", "not a valid choice"),
        ("planned_graft", "whole_liver", "not a valid choice"),
        ("date_of_birth", "yesterday", "Date has wrong format"),
    ],
)
def test_bad_values_are_refused_naming_the_field(coordinator_api, field, value, fragment):
    response = coordinator_api.post("/api/v1/donors/", VALID | {field: value}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"], error
    assert fragment in " ".join(error["fields"][field])
    assert not Donor.objects.filter(code="D-100").exists()
    assert not AuditEvent.objects.filter(kind="create").exists()


def test_weight_900_in_range_digits_is_refused_by_plausibility(coordinator_api):
    response = coordinator_api.post("/api/v1/donors/", VALID | {"weight_kg": "300.0"}, format="json")
    assert response.status_code == 400
    assert "300.0 kg is outside" in response.json()["error"]["fields"]["weight_kg"][0]


def test_missing_fields_are_each_named(coordinator_api):
    response = coordinator_api.post("/api/v1/donors/", {"code": "X"}, format="json")
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert {"mrn", "date_of_birth", "height_cm", "abo", "planned_graft"} <= set(fields)


def test_duplicate_code_is_refused(coordinator_api, donor):
    response = coordinator_api.post("/api/v1/donors/", VALID | {"code": donor.code}, format="json")
    assert response.status_code == 400
    assert "already used" in response.json()["error"]["fields"]["code"][0]


def test_stale_edit_conflicts_instead_of_overwriting(coordinator_api, donor):
    first = coordinator_api.patch(f"/api/v1/donors/{donor.pk}/", {"weight_kg": "64.0", "version": 1}, format="json")
    assert first.status_code == 200 and first.json()["version"] == 2
    second = coordinator_api.patch(f"/api/v1/donors/{donor.pk}/", {"weight_kg": "70.0", "version": 1}, format="json")
    assert second.status_code == 409
    assert "version" in second.json()["error"]["fields"]
    donor.refresh_from_db()
    assert str(donor.weight_kg) == "64.0" and donor.version == 2


def test_edit_without_version_is_refused(coordinator_api, donor):
    response = coordinator_api.patch(f"/api/v1/donors/{donor.pk}/", {"weight_kg": "64.0"}, format="json")
    assert response.status_code == 400
    assert "version" in response.json()["error"]["fields"]


def test_transitions_record_who_when_why(coordinator_api, donor):
    url = f"/api/v1/donors/{donor.pk}/transitions/"
    assert (
        coordinator_api.post(url, {"to_status": "in_evaluation", "reason": "consent signed"}, format="json").status_code
        == 201
    )
    refused = coordinator_api.post(url, {"to_status": "donated", "reason": "?"}, format="json")
    assert refused.status_code == 409
    assert "donated is set only when the surgeon records the operation" in refused.json()["error"]["message"]
    history = coordinator_api.get(url).json()
    assert [(h["from_status"], h["to_status"], h["reason"]) for h in history] == [
        ("candidate", "in_evaluation", "consent signed")
    ]
    assert AuditEvent.objects.filter(kind="transition", donor_id=donor.pk).count() == 1


def test_reads_are_audited(coordinator_api, donor):
    coordinator_api.get(f"/api/v1/donors/{donor.pk}/", REMOTE_ADDR="10.9.8.7")
    event = AuditEvent.objects.get(kind="read", donor_id=donor.pk)
    assert event.channel == "api" and event.ip_address == "10.9.8.7"
    coordinator_api.get("/api/v1/donors/")
    listing = AuditEvent.objects.get(kind="list")
    assert listing.changes["donor_codes"] == [donor.code]


def test_list_filters_search_and_paginates(coordinator_api, centre):
    for n in range(12):
        DonorFactory(centre=centre, code=f"F-{n:02d}", abo="AB" if n % 3 == 0 else "O", family_name=f"Sahin{n}")
    page = coordinator_api.get("/api/v1/donors/?page_size=5&abo=AB").json()
    assert page["count"] == 4 and len(page["results"]) == 4
    assert coordinator_api.get("/api/v1/donors/?search=sahin1").json()["count"] == 3  # Sahin1, Sahin10, Sahin11
    assert len(coordinator_api.get("/api/v1/donors/?page_size=5").json()["results"]) == 5
    bad = coordinator_api.get("/api/v1/donors/?abo=Z")
    assert bad.status_code == 400 and "abo" in bad.json()["error"]["fields"]
    assert page["count_exact"] is True and page["next"] is None


def test_the_count_is_exact_up_to_ten_pages_ahead_and_says_when_there_are_more(coordinator_api, centre):
    codes = [f"G-{n:02d}" for n in range(14)]
    for code in codes:
        DonorFactory(centre=centre, code=code)
    first = coordinator_api.get("/api/v1/donors/?page_size=1").json()
    # Eleven pages of one are counted from page 1: fourteen donors are "more than 11".
    assert (first["count"], first["count_exact"]) == (11, False)
    assert first["next"].endswith("page=2&page_size=1") and first["previous"] is None
    # From page 4 the bound (14 rows) covers them all: the count is exact, the links still right.
    fourth = coordinator_api.get("/api/v1/donors/?page_size=1&page=4").json()
    assert (fourth["count"], fourth["count_exact"]) == (14, True)
    assert [row["code"] for row in fourth["results"]] == [codes[3]]
    last = coordinator_api.get("/api/v1/donors/?page_size=1&page=14").json()
    assert last["next"] is None and last["previous"].endswith("page=13&page_size=1")
    assert [row["code"] for row in last["results"]] == [codes[13]]
    # Following `next` from the first page visits every donor once, in order.
    seen, url = [], "/api/v1/donors/?page_size=5"
    while url:
        body = coordinator_api.get(url).json()
        seen += [row["code"] for row in body["results"]]
        url = body["next"]
    assert seen == codes
    # A page past the end, and `last` (which would need the exact count), are not found.
    assert coordinator_api.get("/api/v1/donors/?page_size=1&page=15").status_code == 404
    assert coordinator_api.get("/api/v1/donors/?page_size=1&page=last").status_code == 404


def test_recipient_rules(coordinator_api):
    response = coordinator_api.post(
        "/api/v1/recipients/",
        {
            "code": "R1",
            "age_years": 30,
            "weight_kg": "60.0",
            "abo": "A",
            "diagnosis": "primary_sclerosing_cholangitis",
            "own_duct_usable": True,
        },
        format="json",
    )
    assert response.status_code == 400
    assert "own_duct_usable" in response.json()["error"]["fields"]


def test_cannot_link_another_centres_recipient(coordinator_api, foreign_donor):
    response = coordinator_api.post("/api/v1/donors/", VALID | {"recipient": foreign_donor.recipient_id}, format="json")
    assert response.status_code == 400
    assert "recipient" in response.json()["error"]["fields"]


class TestTokens:
    def test_token_authenticates_and_binds_to_centre(self, centre, donor, foreign_donor):
        client_record, key = issue_api_client(centre=centre, name="HIS")
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        codes = [row["code"] for row in api.get("/api/v1/donors/").json()["results"]]
        assert codes == [donor.code]
        assert api.get(f"/api/v1/donors/{foreign_donor.pk}/").status_code == 404
        event = AuditEvent.objects.filter(kind="list").latest("at")
        assert event.api_client_id == client_record.pk and event.channel == "api"

    def test_revoked_and_expired_tokens_are_refused_with_reason(self, centre):
        client_record, key = issue_api_client(centre=centre, name="HIS")
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        revoke_api_client(client=client_record)
        response = api.get("/api/v1/donors/")
        assert response.status_code == 401
        assert response.json()["error"]["message"] == "token revoked"
        other, other_key = issue_api_client(centre=centre, name="LIS")
        type(other).objects.filter(pk=other.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
        api.credentials(HTTP_AUTHORIZATION=f"Token {other_key}")
        assert api.get("/api/v1/donors/").json()["error"]["message"] == "token expired"

    def test_forged_token_is_refused(self, centre):
        _, key = issue_api_client(centre=centre, name="HIS")
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {key[:-2]}xx")
        assert api.get("/api/v1/donors/").json()["error"]["message"] == "unknown token"
        api.credentials(HTTP_AUTHORIZATION="Token nonsense")
        assert api.get("/api/v1/donors/").json()["error"]["message"] == "malformed token"

    def test_only_hash_is_stored(self, centre):
        client_record, key = issue_api_client(centre=centre, name="HIS")
        assert key.split(".")[1] not in client_record.key_hash
        assert len(client_record.key_hash) == 64


def test_audit_events_are_append_only(coordinator_api, donor):
    coordinator_api.get(f"/api/v1/donors/{donor.pk}/")
    event = AuditEvent.objects.get(kind="read")
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.update(summary="x")


def test_fast_list_rows_equal_the_detail_serializer(coordinator_api, centre):
    from donors.api import DonorOut

    created = DonorFactory(centre=centre, height_cm="171.5", weight_kg="80.2")
    row = coordinator_api.get("/api/v1/donors/").json()["results"][0]
    created.refresh_from_db()
    assert row == dict(DonorOut(created).data)


def test_a_page_past_any_list_is_a_404_not_a_server_error(coordinator_api, centre):
    DonorFactory(centre=centre)
    for path in ("/api/v1/donors/", "/api/v1/recipients/"):
        response = coordinator_api.get(f"{path}?page=10350708520955379831537664")
        assert response.status_code == 404, (path, response.content)
