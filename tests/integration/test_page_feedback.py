"""What the pages say after a submit: a confirmation in words, an error summary that points at each
field, the new recipient chosen on the donor form, counts that match their lists, and an upload
whose every file was refused shown as failed."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from donors.models import Recipient
from imaging.models import Upload
from tests.factories import DonorFactory, RecipientFactory
from tests.integration.imaging_support import named, report, upload
from workup.services import THRESHOLD_FIELDS

pytestmark = pytest.mark.django_db

DAY = (datetime.date.today() - datetime.timedelta(days=3)).isoformat()
VOLUMETRY = {
    "measured_on": DAY,
    "total_liver_volume_ml": "1500",
    "graft_volume_ml": "900",
    "remnant_volume_ml": "600",
    "density_factor": "1.0",
    "recipient_weight_kg": "70",
    "recipient_height_cm": "160",
}


@pytest.fixture
def donor(centre):
    recipient = RecipientFactory(centre=centre, weight_kg=Decimal("70.0"), abo="A")
    return DonorFactory(centre=centre, code="FB-001", recipient=recipient, status="in_evaluation")


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def said(response) -> list[str]:
    """The confirmations queued by a request (read, so that the next request starts without them)."""
    return [str(message) for message in get_messages(response.wsgi_request)]


def post(client, url, data):
    response = client.post(url, data)
    if response.status_code == 302:
        client.get(response["Location"])  # shows, and so uses up, the confirmation
    return response


def prefixed(prefix: str, values: dict) -> dict:
    return {f"{prefix}-{k}": v for k, v in values.items()}


# ---------------------------------------------------------------- confirmations


def test_a_saved_workup_record_is_named_in_words(staff, donor):
    client = client_of(staff["radiologist"])
    response = post(client, f"/donors/{donor.pk}/workup/record/volumetry/", prefixed("volumetry", VOLUMETRY))
    assert response.status_code == 302
    assert said(response) == ["Saved the CT volumetry of FB-001."]
    steatosis = prefixed("steatosis-mri_pdff", {"measured_on": DAY, "modality": "mri_pdff", "pdff_pct": "4"})
    response = client.post(f"/donors/{donor.pk}/workup/record/steatosis-mri_pdff/", steatosis)
    assert response["Location"].endswith("#steatosis-mri_pdff")
    # The confirmation is on the page the save returns to, once.
    page = client.get(response["Location"]).content.decode()
    assert page.count("Saved the MRI-PDFF steatosis of FB-001.") == 1
    assert "Saved the CT volumetry" not in page

    coordinator = client_of(staff["coordinator"])
    clearance = prefixed(
        "clearances-psychosocial", {"measured_on": DAY, "clearance_kind": "psychosocial", "clearance_status": "cleared"}
    )
    response = post(coordinator, f"/donors/{donor.pk}/workup/record/clearances-psychosocial/", clearance)
    assert said(response) == ["Saved the psychosocial evaluation of FB-001."]


def test_status_change_and_donor_edit_say_what_changed(staff, centre):
    candidate = DonorFactory(centre=centre, code="FB-002")
    client = client_of(staff["coordinator"])
    response = post(
        client,
        f"/donors/{candidate.pk}/status/",
        {"to_status": "in_evaluation", "reason": "consented", "version": candidate.version},
    )
    assert response.status_code == 302
    assert said(response) == ["Moved FB-002 to in evaluation."]
    candidate.refresh_from_db()
    page = client.get(f"/donors/{candidate.pk}/edit/").content.decode()
    assert "FB-002" in page
    values = {
        "code": "FB-002",
        "mrn": candidate.mrn,
        "given_name": "Ayse",
        "family_name": "Kaya",
        "date_of_birth": "1990-04-12",
        "sex": "female",
        "height_cm": "165",
        "weight_kg": "62",
        "abo": "O",
        "relationship": "sibling",
        "planned_graft": "right_lobe",
        "recipient": candidate.recipient_id,
        "version": candidate.version,
    }
    response = post(client, f"/donors/{candidate.pk}/edit/", values)
    assert response.status_code == 302, response.content.decode()
    assert said(response) == ["Saved the details of donor FB-002."]


def test_thresholds_and_decision_messages_name_what_was_saved(make_user, staff, donor):
    admin = client_of(make_user("coordinator", username="admin-fb", is_centre_admin=True))
    form = admin.get("/donors/thresholds/").context["form"]
    data = {k: v for k, v in form.initial.items() if k in THRESHOLD_FIELDS} | {"version": 0, "age_min": 20}
    response = post(admin, "/donors/thresholds/", data)
    assert response.status_code == 302
    (message,) = said(response)
    assert message.startswith("Saved the thresholds of ") and message.endswith("version 1.")

    surgeon = client_of(staff["surgeon"])
    response = post(
        surgeon,
        f"/donors/{donor.pk}/workup/decision/",
        {"decision_outcome": "not_suitable", "reasons": "portal vein type D", "conditions": "", "override_reason": ""},
    )
    assert response.status_code == 302
    assert said(response) == [
        "Proposed the decision for FB-001: not suitable. It takes effect when the radiologist, "
        "the hepatologist and the surgeon have signed."
    ]
    decision = donor.decisions.get()
    response = post(
        surgeon, f"/donors/{donor.pk}/workup/sign/", {"decision": decision.pk, "signed_as": "surgeon", "comment": ""}
    )
    assert said(response) == ["Signed the decision as the surgeon; waiting for the radiologist and the hepatologist."]


# ---------------------------------------------------------------- error summary


def test_an_invalid_record_shows_a_summary_linking_each_field_of_that_form(staff, donor):
    client = client_of(staff["hepatologist"])
    labs = {
        "measured_on": DAY,
        "ast": "60",
        "ast_uln": "",
        "alt": "36",
        "alt_uln": "41",
        "platelets": "0",
        "serology": "negative",
    }
    response = post(client, f"/donors/{donor.pk}/workup/record/labs/", prefixed("labs", labs))
    assert response.status_code == 400
    html = response.content.decode()
    assert html.count("data-error-summary") == 1
    summary = html[html.index("data-error-summary") : html.index("</div>", html.index("data-error-summary"))]
    assert "There are 2 problems with the laboratory results" in summary
    links = re.findall(r'href="#([^"]+)"', summary)
    assert links == ["id_labs-ast_uln", "id_labs-platelets"]
    for target in links:
        assert f'id="{target}"' in html
    # The summary sits in the form that failed, not in another record's form.
    form_start = html.index('data-form="labs"')
    assert form_start < html.index("data-error-summary") < html.index("</form>", form_start)


def test_one_problem_is_counted_in_the_singular_and_a_page_form_is_named(staff):
    client = client_of(staff["coordinator"])
    response = post(client, "/donors/recipients/new/", {"code": "", "age_years": "40", "weight_kg": "70", "abo": "A"})
    assert response.status_code == 400
    html = response.content.decode()
    assert re.search(r"There (is 1 problem|are \d+ problems) with the new recipient", html)
    assert 'href="#id_code"' in html


# ---------------------------------------------------------------- the recipient just added


def test_the_new_recipient_is_chosen_on_the_new_donor_form(staff):
    client = client_of(staff["coordinator"])
    values = {"code": "REC-NEW", "age_years": "40", "weight_kg": "70", "abo": "A", "diagnosis": "viral_hepatitis"}
    response = post(client, "/donors/recipients/new/", values)
    assert response.status_code == 302, response.content.decode()
    recipient = Recipient.objects.get(code="REC-NEW")
    assert response["Location"] == f"/donors/new/?recipient={recipient.pk}"
    assert said(response) == ["Added recipient REC-NEW; it is chosen on this new donor form."]
    html = client.get(response["Location"]).content.decode()
    assert re.search(rf'<option value="{recipient.pk}" selected>REC-NEW</option>', html)


def test_another_centres_recipient_is_not_chosen(staff, other_centre):
    foreign = RecipientFactory(centre=other_centre, code="REC-FOREIGN")
    client = client_of(staff["coordinator"])
    for query in (f"?recipient={foreign.pk}", "?recipient=abc", "?recipient=999999"):
        response = client.get(f"/donors/new/{query}")
        assert response.status_code == 200
        html = response.content.decode()
        assert "REC-FOREIGN" not in html
        assert not re.search(r'<option value="\d+" selected>', html)


# ---------------------------------------------------------------- counts and lists


def missing_count(html: str) -> int:
    return int(re.search(r'data-testid="missing-count">(\d+) missing', html).group(1))


def test_missing_counts_match_the_lists_of_what_is_missing(staff, donor):
    client = client_of(staff["coordinator"])
    donor_page = client.get(f"/donors/{donor.pk}/").content.decode()
    items = donor_page.count('data-testid="missing-item"')
    assert items > 1 and missing_count(donor_page) == items

    workup = client.get(f"/donors/{donor.pk}/workup/").content.decode()
    listed = re.search(r'<ul data-testid="outstanding">(.*?)</ul>', workup, re.S).group(1).count("<li>")
    assert missing_count(workup) == listed == items
    assert "Steatosis (any one modality)" in workup

    # Once one steatosis modality is recorded, the list and the count both lose it.
    radiologist = client_of(staff["radiologist"])
    steatosis = prefixed("steatosis-ct", {"measured_on": DAY, "modality": "ct", "liver_hu": "60", "spleen_hu": "50"})
    radiologist.post(f"/donors/{donor.pk}/workup/record/steatosis-ct/", steatosis)
    after = client.get(f"/donors/{donor.pk}/").content.decode()
    assert missing_count(after) == after.count('data-testid="missing-item"') == items - 1


# ---------------------------------------------------------------- uploads


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def test_an_upload_with_every_file_refused_is_failed_not_imported(
    api_as, staff, donor, media, eager_tasks, django_capture_on_commit_callbacks
):
    api = api_as(staff["radiologist"])
    files = [named("notes.txt", b"not an image"), named("scan.dcm", b"DICM but not really")]
    body = upload(api, donor, files, django_capture_on_commit_callbacks)
    result = report(api, body["id"])
    assert result["state"] == "failed" and result["ready"] is True
    assert result["rejected"] == 2 and result["accepted"] == 0
    stored = Upload.objects.get(pk=body["id"])
    assert stored.state == Upload.State.FAILED
    assert stored.error == "nothing imported: all 2 files were refused (the reasons are listed per file)"

    page = client_of(staff["radiologist"]).get(f"/imaging/donors/{donor.pk}/upload/").content.decode()
    row = re.search(rf'<tr data-upload="{stored.pk}">(.*?)</tr>', page, re.S).group(1)
    assert "Failed" in row and "Imported" not in row and "nothing imported" in row
    report_page = client_of(staff["radiologist"]).get(f"/imaging/uploads/{stored.pk}/").content.decode()
    assert "Failed" in report_page and "Imported" not in report_page


# ---------------------------------------------------------------- irreversible steps ask first


def test_irreversible_forms_carry_their_question(staff, donor):
    coordinator = client_of(staff["coordinator"])
    detail = coordinator.get(f"/donors/{donor.pk}/").content.decode()
    assert 'data-confirm-field="to_status" data-confirm-value="withdrawn"' in detail
    assert "Withdraw FB-001? " in detail and "cannot be undone" in detail

    surgeon = client_of(staff["surgeon"])
    surgeon.post(
        f"/donors/{donor.pk}/workup/decision/",
        {"decision_outcome": "not_suitable", "reasons": "portal vein type D", "conditions": "", "override_reason": ""},
    )
    workup = client_of(staff["radiologist"]).get(f"/donors/{donor.pk}/workup/").content.decode()
    sign_form = re.search(r"<form[^>]*workup/sign/[^>]*>", workup).group(0)
    assert 'data-confirm="Sign the decision' in sign_form and "cannot be undone" in sign_form
