"""The duct tree proposed from a donor's 3D MRCP: made by the worker once the series is ready (or on
request), read and requested through the API, and taken into the draft by a radiologist, whole or duct
by duct, with the anatomy remembering which ducts came from the proposal."""

from __future__ import annotations

import pytest

from classification import services as classification_services
from classification.models import Annotation
from core.audit import Actor
from core.errors import InvalidInput
from core.models import AuditEvent
from imaging import proposals, services
from imaging.models import Series, TreeProposal
from imaging.tree_output import LOW_CONFIDENCE
from tests.integration.imaging_support import phantom

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.TREE_PROPOSAL_ON_INGEST = True


@pytest.fixture
def radiologist(make_user):
    return make_user("radiologist", username="rad")


def ingest(donor, user, folder, capture, **kwargs) -> Series:
    """Upload a small 3D MRCP phantom of the donor; the import, rendering and proposal run in-process."""
    truth = phantom(folder, donor=donor, slices=40, size=160, pixel_spacing=(1.6, 1.6), **kwargs)
    with capture(execute=True):
        services.create_upload(
            actor=Actor(user=user),
            donor=donor,
            files=[services.Incoming(p.name, p.stat().st_size, p) for p in truth.paths],
        )
    return Series.objects.get(study__donor=donor)


@pytest.fixture
def proposed(donor, radiologist, tmp_path, eager_tasks, django_capture_on_commit_callbacks):
    series = ingest(donor, radiologist, tmp_path / "series", django_capture_on_commit_callbacks)
    return TreeProposal.objects.get(series=series)


def test_a_ready_3d_mrcp_gets_a_proposal_for_the_donors_graft(proposed, donor):
    assert proposed.state == "ready", proposed.reason
    assert proposed.current and proposed.requested_by is None
    assert proposed.graft == donor.planned_graft == proposed.document["graft"]
    assert proposed.extractor_version.startswith("tree-")
    ids = {duct["id"] for duct in proposed.document["ducts"]}
    assert {"RHD", "LHD"} <= ids
    # Every duct has a confidence and a centre-line in patient mm (the phantom's field is ~250 mm wide).
    assert ids <= set(proposed.duct_confidence) and ids <= set(proposed.centrelines)
    points = [p for line in proposed.centrelines.values() for p in line]
    assert all(len(p) == 3 for p in points)
    span = max(p[2] for p in points) - min(p[2] for p in points)
    assert 10 < span < 260
    # The proposal is a valid anatomy for the donor: it could be taken whole.
    classification_services.validate_for_donor(proposed.document, donor)


def test_a_repeated_delivery_opens_no_second_proposal(proposed):
    from imaging.tasks import queue_tree_proposals

    assert queue_tree_proposals([proposed.series_id]) == []
    assert TreeProposal.objects.count() == 1


def test_nothing_is_proposed_when_proposing_on_ingest_is_off(
    settings, donor, radiologist, tmp_path, eager_tasks, django_capture_on_commit_callbacks
):
    settings.TREE_PROPOSAL_ON_INGEST = False
    series = ingest(donor, radiologist, tmp_path / "s", django_capture_on_commit_callbacks)
    assert series.render_state == "done"
    assert not TreeProposal.objects.exists()


def test_no_tree_found_is_recorded_with_its_reason(
    donor, radiologist, tmp_path, eager_tasks, django_capture_on_commit_callbacks, monkeypatch
):
    def finds_nothing(volume, geometries, *, graft):
        raise ValueError("no fluid-bright tubes in the volume")

    monkeypatch.setattr(proposals, "propose_tree", finds_nothing)
    series = ingest(donor, radiologist, tmp_path / "s", django_capture_on_commit_callbacks)
    proposal = TreeProposal.objects.get(series=series)
    assert (proposal.state, proposal.reason) == ("failed", "no tree found: no fluid-bright tubes in the volume")
    assert proposal.document is None and proposal.finished_at is not None


def test_a_second_delivery_of_the_task_does_nothing(proposed):
    finished = proposed.finished_at
    again = proposals.run_proposal(proposal_id=proposed.pk)
    assert again.state == "ready" and again.finished_at == finished


# ------------------------------------------------------------------ API


def test_the_proposal_is_read_through_the_api_and_the_read_is_audited(proposed, donor, radiologist, api_as):
    response = api_as(radiologist).get(f"/api/v1/series/{proposed.series_id}/tree-proposal/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == proposed.pk and body["state"] == "ready"
    assert body["document"] == proposed.document
    by_id = {duct["id"]: duct for duct in body["ducts"]}
    for duct_id, duct in by_id.items():
        worst = min(proposed.duct_confidence[duct_id], proposed.junction_confidence.get(duct_id, 0))
        assert duct["low_confidence"] == (worst < LOW_CONFIDENCE)
    assert AuditEvent.objects.filter(
        kind="read", user=radiologist, donor_id=donor.pk, summary=f"viewed tree proposal {proposed.pk}"
    ).exists()
    by_donor = api_as(radiologist).get(f"/api/v1/donors/{donor.pk}/tree-proposal/")
    assert by_donor.status_code == 200 and by_donor.json() == body


def test_another_centres_proposal_is_not_found_and_the_attempt_audited(proposed, make_user, other_centre, api_as):
    stranger = make_user("radiologist", centre_obj=other_centre, username="far-rad")
    response = api_as(stranger).get(f"/api/v1/series/{proposed.series_id}/tree-proposal/")
    assert response.status_code == 404
    taken = api_as(stranger).post(
        f"/api/v1/donors/{proposed.series.study.donor_id}/anatomy/take-proposal/",
        {"proposal": proposed.pk},
        format="json",
    )
    assert taken.status_code == 404
    assert AuditEvent.objects.filter(kind="denied", user=stranger).count() >= 2
    assert not Annotation.objects.exists()


def test_only_a_radiologist_asks_for_a_new_proposal_or_takes_one(proposed, make_user, api_as):
    coordinator = make_user("coordinator", username="coord")
    asked = api_as(coordinator).post(f"/api/v1/series/{proposed.series_id}/tree-proposal/")
    assert asked.status_code == 403
    donor_id = proposed.series.study.donor_id
    taken = api_as(coordinator).post(
        f"/api/v1/donors/{donor_id}/anatomy/take-proposal/", {"proposal": proposed.pk}, format="json"
    )
    assert taken.status_code == 403
    assert TreeProposal.objects.count() == 1 and not Annotation.objects.exists()


def test_a_radiologist_asks_for_a_new_proposal(
    proposed, radiologist, api_as, django_capture_on_commit_callbacks, eager_tasks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(radiologist).post(f"/api/v1/series/{proposed.series_id}/tree-proposal/")
    assert response.status_code == 202, response.content
    new = TreeProposal.objects.get(pk=response.json()["id"])
    proposed.refresh_from_db()
    assert new.current and not proposed.current
    assert new.state == "ready" and new.requested_by == radiologist
    event = AuditEvent.objects.get(record_type="imaging.TreeProposal", record_id=str(new.pk))
    assert event.user == radiologist and event.kind == "create" and "proposed" in event.summary


# ------------------------------------------------------------------ taking it into the draft


def take(api, proposal, **body):
    donor_id = proposal.series.study.donor_id
    return api.post(
        f"/api/v1/donors/{donor_id}/anatomy/take-proposal/", {"proposal": proposal.pk, **body}, format="json"
    )


def test_taking_the_whole_proposal_makes_it_the_draft(proposed, radiologist, api_as):
    response = take(api_as(radiologist), proposed)
    assert response.status_code == 200, response.content
    annotation = Annotation.objects.get()
    assert annotation.state == "draft" and annotation.document == proposed.document
    assert annotation.series_uid == proposed.series.series_instance_uid
    ids = sorted(d["id"] for d in proposed.document["ducts"])
    entries = annotation.provenance["ducts"]
    assert sorted(entries) == ids
    assert {(e["source"], e["proposal"], e["taken_by"]) for e in entries.values()} == {("proposal", proposed.pk, "rad")}
    event = AuditEvent.objects.get(record_type="classification.Annotation", user=radiologist)
    assert event.changes["proposal"] == proposed.pk and sorted(event.changes["ducts_taken"]) == ids
    assert f"tree proposal {proposed.pk}" in event.summary
    assert response.json()["provenance"] == annotation.provenance


def test_a_duct_edited_by_hand_is_no_longer_the_proposals_until_taken_again(proposed, radiologist, donor):
    actor = Actor(user=radiologist)
    annotation = classification_services.take_tree_proposal(actor=actor, donor=donor, proposal=proposed)
    document = {**annotation.document, "ducts": [dict(d) for d in annotation.document["ducts"]]}
    rhd = next(d for d in document["ducts"] if d["id"] == "RHD")
    rhd["length_mm"] = 11.0
    annotation = classification_services.save_annotation(
        actor=actor, donor=donor, document=document, expected_version=annotation.version
    )
    entry = annotation.provenance["ducts"]["RHD"]
    assert (entry["source"], entry["edited_by"], entry["proposal"]) == ("edited", "rad", proposed.pk)
    assert all(e["source"] == "proposal" for k, e in annotation.provenance["ducts"].items() if k != "RHD")
    edit_event = AuditEvent.objects.filter(record_type="classification.Annotation").order_by("-pk").first()
    assert edit_event.changes["edited_after_proposal"] == ["RHD"]

    annotation = classification_services.take_tree_proposal(
        actor=actor, donor=donor, proposal=proposed, duct_ids=["RHD"], expected_version=annotation.version
    )
    assert annotation.provenance["ducts"]["RHD"]["source"] == "proposal"
    assert next(d for d in annotation.document["ducts"] if d["id"] == "RHD") == next(
        d for d in proposed.document["ducts"] if d["id"] == "RHD"
    )


def test_taking_ducts_that_make_no_valid_anatomy_is_refused_naming_the_field(proposed, radiologist, api_as):
    child = next(d for d in proposed.document["ducts"] if d["drains_into"] != "CHD")
    response = take(api_as(radiologist), proposed, ducts=[child["id"]])
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert f"{child['id']}.drains_into" in fields, fields
    assert not Annotation.objects.exists()
    assert not AuditEvent.objects.filter(record_type="classification.Annotation").exists()


def test_taking_a_duct_the_proposal_lacks_is_refused(proposed, radiologist, donor):
    with pytest.raises(InvalidInput) as refused:
        classification_services.take_tree_proposal(
            actor=Actor(user=radiologist), donor=donor, proposal=proposed, duct_ids=["B9x"]
        )
    assert refused.value.fields == {"ducts": ["not in the proposal: B9x"]}


def test_a_failed_proposal_cannot_be_taken(proposed, radiologist, api_as):
    TreeProposal.objects.filter(pk=proposed.pk).update(state="failed", reason="no tree found: nothing")
    response = take(api_as(radiologist), proposed)
    assert response.status_code == 409
    assert "no tree found" in response.json()["error"]["message"]
    assert not Annotation.objects.exists()


def test_finalising_records_who_confirmed_the_proposed_ducts(
    proposed, radiologist, donor, django_capture_on_commit_callbacks, eager_tasks
):
    actor = Actor(user=radiologist)
    with django_capture_on_commit_callbacks(execute=True):
        annotation = classification_services.take_tree_proposal(actor=actor, donor=donor, proposal=proposed)
    annotation.refresh_from_db()
    assert annotation.classification == "done", annotation.classification_error
    annotation = classification_services.finalise_annotation(
        actor=actor, annotation=annotation, expected_version=annotation.version
    )
    assert annotation.finalised_by == radiologist
    event = AuditEvent.objects.filter(record_type="classification.Annotation").order_by("-pk").first()
    assert event.changes["ducts_from_proposal"] == sorted(d["id"] for d in proposed.document["ducts"])
    assert "as proposed" in event.summary


def test_the_command_prints_what_the_api_answers_for_the_same_files(proposed, radiologist, api_as, tmp_path):
    import json
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("propose_anatomy", str(tmp_path / "series"), "--graft", proposed.graft, "--json", stdout=out)
    printed = json.loads(out.getvalue())
    answered = api_as(radiologist).get(f"/api/v1/series/{proposed.series_id}/tree-proposal/").json()
    apart = ("id", "series", "created_at")
    assert {k: v for k, v in printed.items() if k not in apart} == {k: v for k, v in answered.items() if k not in apart}


# ------------------------------------------------------------------ the anatomy page and the viewer


def test_the_anatomy_page_shows_the_proposal_over_the_mip_with_the_uncertain_parts_marked(
    proposed, radiologist, client, donor
):
    client.force_login(radiologist)
    page = client.get(f"/anatomy/donors/{donor.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="tree-proposal"' in html and 'data-testid="tree-overlay"' in html
    assert f'href="/imaging/series/{proposed.series_id}/mip.png"' in html
    for duct in proposed.document["ducts"]:
        assert f'data-duct="{duct["id"]}"' in html
    low = [d for d in proposals.body_of(proposed)["ducts"] if d["low_confidence"]]
    assert html.count("uncertain: check it") == len(low)
    assert html.count('stroke-dasharray="6 4"') == len(low)
    assert html.count("(uncertain)</text>") == len(low)
    assert 'data-testid="take-all"' in html
    assert 'data-testid="proposal-undrained"' not in html  # every segment has its duct


def test_a_proposal_that_drains_no_duct_from_a_sector_says_so_on_the_page_and_in_the_api(
    proposed, radiologist, client, donor, api_as
):
    proposed.document = {
        **proposed.document,
        "ducts": [d for d in proposed.document["ducts"] if d["id"] not in ("RPHD", "ACC1")],
    }
    proposed.save(update_fields=["document"])
    client.force_login(radiologist)
    html = client.get(f"/anatomy/donors/{donor.pk}/").content.decode()
    assert 'data-testid="proposal-undrained"' in html
    assert "No duct was found draining segments 6, 7." in html
    body = api_as(radiologist).get(f"/api/v1/series/{proposed.series_id}/tree-proposal/").json()
    assert body["undrained_segments"] == [6, 7]


def test_the_page_takes_the_whole_proposal_then_chosen_ducts(proposed, radiologist, client, donor):
    client.force_login(radiologist)
    response = client.post(
        f"/anatomy/donors/{donor.pk}/take-proposal/", {"proposal": proposed.pk, "whole": "1"}, follow=True
    )
    assert response.status_code == 200
    annotation = Annotation.objects.get()
    assert annotation.document == proposed.document
    assert "Took the whole proposal" in response.content.decode()
    rows = response.content.decode().count(">taken<")
    assert rows == len(proposed.document["ducts"])
    empty = client.post(
        f"/anatomy/donors/{donor.pk}/take-proposal/", {"proposal": proposed.pk, "version": annotation.version}
    )
    # Refused on the page itself, in the shared error summary, linked to the first tick box.
    assert empty.status_code == 400
    summary = error_summary_of(empty)
    first = proposals.body_of(proposed)["ducts"][0]["id"]
    assert "There is 1 problem with the ducts taken from the proposal" in summary
    assert f'<a href="#take-{first}">Ducts to take: choose at least one duct</a>' in summary
    assert f'id="take-{first}"' in empty.content.decode()
    assert Annotation.objects.get().version == annotation.version


def error_summary_of(response) -> str:
    html = response.content.decode()
    assert 'data-testid="error-summary"' in html, "no error summary on the page"
    return html.split('data-testid="error-summary"')[1].split("</div>")[0]


def test_a_take_that_makes_no_valid_anatomy_names_the_duct_in_the_error_summary(proposed, radiologist, client, donor):
    child = next(d for d in proposed.document["ducts"] if d["drains_into"] != "CHD")
    client.force_login(radiologist)
    response = client.post(
        f"/anatomy/donors/{donor.pk}/take-proposal/", {"proposal": proposed.pk, "ducts": child["id"]}
    )
    assert response.status_code == 400
    summary = error_summary_of(response)
    assert f'<a href="#take-{child["id"]}">{child["id"]}, Drains into: ' in summary
    assert not Annotation.objects.exists()


def test_a_proposal_for_the_graft_planned_before_is_shown_stale_and_asked_for_again(
    proposed, radiologist, client, donor, django_capture_on_commit_callbacks, eager_tasks
):
    other = "left_lobe" if donor.planned_graft != "left_lobe" else "right_lobe"
    type(donor).objects.filter(pk=donor.pk).update(planned_graft=other)
    client.force_login(radiologist)
    html = client.get(f"/anatomy/donors/{donor.pk}/").content.decode()
    old_words, new_words = proposed.graft.replace("_", " "), other.replace("_", " ")
    assert 'data-testid="proposal-stale"' in html
    assert f"made for the {old_words}; the donor's planned graft is now the {new_words}" in html
    # Still drawn for the record, but nothing can be taken from it.
    assert 'data-testid="tree-overlay"' in html and 'data-testid="take-all"' not in html
    assert 'name="ducts"' not in html
    assert f"Propose for the {new_words}</button>" in html
    with django_capture_on_commit_callbacks(execute=True):
        asked = client.post(f"/anatomy/donors/{donor.pk}/propose/", {"series": proposed.series_id}, follow=True)
    assert asked.status_code == 200
    new = TreeProposal.objects.get(series=proposed.series, current=True, graft=other)
    assert new.requested_by == radiologist and new.pk != proposed.pk
    after = client.get(f"/anatomy/donors/{donor.pk}/").content.decode()
    assert 'data-testid="proposal-stale"' not in after


def test_a_coordinator_sees_the_proposal_but_cannot_take_it(proposed, make_user, client, donor):
    coordinator = make_user("coordinator", username="coord")
    client.force_login(coordinator)
    html = client.get(f"/anatomy/donors/{donor.pk}/").content.decode()
    assert 'data-testid="tree-proposal"' in html and 'data-testid="take-all"' not in html
    refused = client.post(f"/anatomy/donors/{donor.pk}/take-proposal/", {"proposal": proposed.pk, "whole": "1"})
    assert refused.status_code == 403
    assert not Annotation.objects.exists()


def test_the_viewer_draws_the_proposal(proposed, radiologist, client):
    client.force_login(radiologist)
    html = client.get(f"/imaging/series/{proposed.series_id}/").content.decode()
    assert 'data-testid="viewer-tree-proposal"' in html and "<polyline" in html


def test_a_proposal_over_the_time_limit_is_recorded_as_failed(proposed, monkeypatch):
    from celery.exceptions import SoftTimeLimitExceeded
    from django.db import transaction

    from imaging.tasks import propose_tree_task

    def too_slow(volume, geometries, *, graft):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(proposals, "propose_tree", too_slow)
    with transaction.atomic():
        again = proposals.open_proposal(series=proposed.series, graft=proposed.graft)
    assert propose_tree_task.apply(args=[again.pk]).get() == "failed"
    again.refresh_from_db()
    assert again.state == "failed"
    assert again.reason == f"no tree found: the extraction took longer than {proposals.PROPOSAL_SOFT_SECONDS} s"


def test_asking_for_a_proposal_of_a_2d_series_is_refused_naming_it(proposed, radiologist, api_as):
    Series.objects.filter(pk=proposed.series_id).update(acquisition="2D")
    response = api_as(radiologist).post(f"/api/v1/series/{proposed.series_id}/tree-proposal/")
    assert response.status_code == 409
    body = response.json()["error"]
    assert "2D acquisition" in body["message"] and "series" in body["fields"]
    assert TreeProposal.objects.count() == 1
