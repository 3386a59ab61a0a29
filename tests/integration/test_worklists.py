"""Each role's worklist: the rows and counts it shows, only for its own centre, and a row leaves the
list once the work it names is done."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from classification import services as classification_services
from core.audit import Actor
from core.models import AuditEvent
from core.services import record_login_lockout
from donors import services as donor_services
from donors.models import Donor
from imaging import services as imaging_services
from imaging.models import Study
from tests.factories import DonorFactory, UserFactory
from tests.integration.test_reports import annotate, decide, work_up, worked_up_donor
from workup import checklist, worklists
from workup import services as workup_services
from workup.selectors import evaluate

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

TODAY = datetime.date.today()


def actor(user):
    return Actor(user=user, channel="page", ip_address="10.1.2.3")


def section(worklist, key):
    return next(s for s in worklist.sections if s.key == key)


def labels(worklist, key):
    return [row.label for row in section(worklist, key).rows]


def every_label(worklist):
    return {row.label for s in worklist.sections for row in s.rows}


def full_labs(**changes):
    values = {
        "measured_on": TODAY,
        "ast": Decimal(20),
        "ast_uln": Decimal(40),
        "alt": Decimal(25),
        "alt_uln": Decimal(41),
        "platelets": Decimal(250),
        "serology": "HBsAg, anti-HCV, HIV negative",
    }
    return values | changes


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def foreign_staff(other_centre):
    return {
        role: UserFactory(centre=other_centre, roles=[role], username=f"{role}-other")
        for role in ("coordinator", "radiologist", "hepatologist", "surgeon")
    }


# ---------------------------------------------------------------- coordinator


def test_coordinator_sees_new_candidates_missing_items_and_waiting_decisions_of_the_centre_only(
    centre, other_centre, staff, django_capture_on_commit_callbacks, eager_tasks
):
    new = DonorFactory(centre=centre, code="NEW-1")
    DonorFactory(centre=other_centre, code="NEW-OTHER")
    DonorFactory(centre=other_centre, code="EVAL-OTHER", status="in_evaluation")
    DonorFactory(centre=centre, code="GONE", status="withdrawn")
    evaluating = DonorFactory(centre=centre, code="EVAL-1", status="in_evaluation")
    ready = worked_up_donor(centre, staff, django_capture_on_commit_callbacks, code="READY", decision=False)

    coordinator = actor(staff["coordinator"])
    worklist = worklists.coordinator_worklist(coordinator)
    assert labels(worklist, "new_candidates") == ["NEW-1"]
    assert labels(worklist, "missing_items") == ["EVAL-1"]
    assert labels(worklist, "decisions") == ["READY"]
    assert not every_label(worklist) & {"NEW-OTHER", "EVAL-OTHER", "GONE"}
    assert [s.count for s in worklist.sections] == [1, 1, 1]

    # The missing items named in the row are as many as its count says, and as the workup page lists.
    row = section(worklist, "missing_items").rows[0]
    outstanding = evaluate(evaluating).outstanding
    assert row.detail.startswith(f"{len(outstanding)} missing: ")
    assert len(row.detail.split(": ", 1)[1].split("; ")) == len(outstanding)
    assert row.url == f"/donors/{evaluating.pk}/workup/#missing"

    # Work done: the candidate moves into evaluation and leaves the candidates.
    donor_services.transition_donor(actor=coordinator, donor=new, to_status="in_evaluation", reason="consent signed")
    worklist = worklists.coordinator_worklist(coordinator)
    assert labels(worklist, "new_candidates") == []
    assert "NEW-1" in labels(worklist, "missing_items")

    # A proposed decision waits for its sign-offs; once all signed it leaves the list.
    decision = workup_services.propose_decision(
        actor=actor(staff["surgeon"]), donor=ready, outcome="suitable", reasons="complete workup"
    )
    rows = section(worklists.coordinator_worklist(coordinator), "decisions").rows
    assert [r.label for r in rows] == ["READY"] and "awaiting radiologist, hepatologist, surgeon" in rows[0].detail
    for role in ("radiologist", "hepatologist", "surgeon"):
        workup_services.sign_decision(actor=actor(staff[role]), donor=ready, decision_id=decision.pk, signed_as=role)
    assert labels(worklists.coordinator_worklist(coordinator), "decisions") == []


# ---------------------------------------------------------------- radiologist


def _study(donor, uid, **values):
    return Study.objects.create(centre=donor.centre, donor=donor, study_instance_uid=uid, **values)


def test_radiologist_sees_unread_studies_drafts_identity_warnings_and_unmatched_studies(
    centre, other_centre, staff, foreign_staff, django_capture_on_commit_callbacks, eager_tasks
):
    unread = DonorFactory(centre=centre, code="UNREAD", status="in_evaluation")
    _study(unread, "1.2.1", description="MRCP 3D")
    doubtful = DonorFactory(centre=centre, code="DOUBT", status="in_evaluation")
    doubtful_study = _study(
        doubtful, "1.2.2", identity_state=Study.Identity.UNRESOLVED, identity_warning="patient name: SMITH^JOHN"
    )
    stray = DonorFactory(centre=centre, code="STRAY", status="in_evaluation")
    stray_study = _study(stray, "1.2.3", identity_state=Study.Identity.UNRESOLVED, identity_warning="patient ID: X")
    foreign = DonorFactory(centre=other_centre, code="FOREIGN", status="in_evaluation")
    _study(foreign, "9.9.1", identity_state=Study.Identity.UNRESOLVED, identity_warning="patient ID: Y")
    withdrawn = DonorFactory(centre=centre, code="WITHDRAWN", status="withdrawn")
    _study(withdrawn, "1.2.4")

    radiologist = actor(staff["radiologist"])
    worklist = worklists.radiologist_worklist(radiologist)
    assert labels(worklist, "unread_studies") == ["UNREAD", "DOUBT", "STRAY"]
    assert section(worklist, "unread_studies").rows[0].url == f"/anatomy/donors/{unread.pk}/"
    assert labels(worklist, "identity_warnings") == ["DOUBT", "STRAY"]
    assert "SMITH^JOHN" in section(worklist, "identity_warnings").rows[0].detail
    assert labels(worklist, "draft_anatomies") == [] and labels(worklist, "unmatched_studies") == []
    assert not every_label(worklist) & {"FOREIGN", "WITHDRAWN"}
    assert section(worklist, "unread_studies").count == 3

    # A draft anatomy moves the study out of "not yet read" into the drafts; finalising clears it.
    annotation = annotate(unread, staff["radiologist"], django_capture_on_commit_callbacks, final=False)
    worklist = worklists.radiologist_worklist(radiologist)
    assert "UNREAD" not in labels(worklist, "unread_studies")
    assert labels(worklist, "draft_anatomies") == ["UNREAD"]
    classification_services.finalise_annotation(
        actor=radiologist, annotation=annotation, expected_version=annotation.version
    )
    assert labels(worklists.radiologist_worklist(radiologist), "draft_anatomies") == []

    # Confirming one study and detaching the other clears the warnings; the detached one waits unmatched.
    imaging_services.confirm_identity(actor=radiologist, study=doubtful_study, reason="same person, maiden name")
    imaging_services.detach_study(actor=radiologist, study=stray_study, reason="another patient's study")
    worklist = worklists.radiologist_worklist(radiologist)
    assert labels(worklist, "identity_warnings") == []
    assert [row.detail for row in section(worklist, "unmatched_studies").rows] == ["detached from STRAY; 0 series"]
    # The other centre's radiologist sees none of this centre's studies.
    other = worklists.radiologist_worklist(actor(foreign_staff["radiologist"]))
    assert labels(other, "identity_warnings") == ["FOREIGN"] and labels(other, "unmatched_studies") == []


# ---------------------------------------------------------------- hepatologist


def test_hepatologist_sees_missing_and_out_of_date_labs_by_the_workup_rule(centre, other_centre, staff):
    hepatologist = actor(staff["hepatologist"])
    no_labs = DonorFactory(centre=centre, code="NO-LABS", status="in_evaluation")
    partial = DonorFactory(centre=centre, code="PARTIAL", status="in_evaluation")
    old = DonorFactory(centre=centre, code="OLD", status="suitable")
    DonorFactory(centre=centre, code="CANDIDATE")  # not in workup yet
    DonorFactory(centre=other_centre, code="FOREIGN", status="in_evaluation")
    record = workup_services.record_workup
    record(actor=hepatologist, donor=partial, kind="labs", values=full_labs(serology="", platelets=None))
    stale_day = TODAY - datetime.timedelta(days=checklist.LABS_CURRENT_FOR_DAYS + 1)
    record(actor=hepatologist, donor=old, kind="labs", values=full_labs(measured_on=stale_day))

    worklist = worklists.hepatologist_worklist(hepatologist)
    assert labels(worklist, "labs_missing") == ["NO-LABS", "PARTIAL"]
    details = {row.label: row.detail for row in section(worklist, "labs_missing").rows}
    assert details == {"NO-LABS": "missing: laboratory results", "PARTIAL": "missing: platelets, serology"}
    assert labels(worklist, "labs_out_of_date") == ["OLD"]
    assert section(worklist, "labs_missing").rows[0].url == f"/donors/{no_labs.pk}/workup/#labs"
    assert not every_label(worklist) & {"CANDIDATE", "FOREIGN"}
    # Labs exactly at the limit are still current.
    edge = worklists.hepatologist_worklist(
        hepatologist, today=stale_day + datetime.timedelta(days=checklist.LABS_CURRENT_FOR_DAYS)
    )
    assert "OLD" not in labels(edge, "labs_out_of_date")

    for donor in (no_labs, partial, old):
        record(actor=hepatologist, donor=donor, kind="labs", values=full_labs())
    worklist = worklists.hepatologist_worklist(hepatologist)
    assert labels(worklist, "labs_missing") == [] and labels(worklist, "labs_out_of_date") == []


# ---------------------------------------------------------------- surgeon


def test_surgeon_sees_sign_offs_accepted_donors_and_operations_without_outcome(
    centre, other_centre, staff, foreign_staff, django_capture_on_commit_callbacks, eager_tasks
):
    surgeon = actor(staff["surgeon"])
    waiting = DonorFactory(centre=centre, code="WAITING", status="in_evaluation")
    decision = workup_services.propose_decision(
        actor=actor(staff["coordinator"]),
        donor=waiting,
        outcome="suitable",
        reasons="team meeting",
        override_reason="accepted despite the open checks",
    )
    workup_services.sign_decision(
        actor=actor(staff["radiologist"]), donor=waiting, decision_id=decision.pk, signed_as="radiologist"
    )
    accepted = DonorFactory(centre=centre, code="ACCEPTED", status="in_evaluation")
    annotate(accepted, staff["radiologist"], django_capture_on_commit_callbacks)
    work_up(accepted, staff)
    decide(accepted, staff)
    legacy = DonorFactory(centre=centre, code="LEGACY")
    Donor.objects.filter(pk=legacy.pk).update(status="donated")  # operated before outcomes were recorded here
    foreign = DonorFactory(centre=other_centre, code="FOREIGN", status="in_evaluation")
    workup_services.propose_decision(
        actor=actor(foreign_staff["coordinator"]),
        donor=foreign,
        outcome="suitable",
        reasons="team meeting",
        override_reason="accepted despite the open checks",
    )

    worklist = worklists.surgeon_worklist(surgeon)
    assert labels(worklist, "sign_off") == ["WAITING"]
    assert "awaiting hepatologist, surgeon" in section(worklist, "sign_off").rows[0].detail
    assert labels(worklist, "not_operated") == ["ACCEPTED"]
    assert section(worklist, "not_operated").rows[0].url == f"/anatomy/donors/{accepted.pk}/outcome/"
    assert "anatomy final" in section(worklist, "not_operated").rows[0].detail
    assert ("Surgical worklist", "/anatomy/worklist/") in section(worklist, "not_operated").links
    assert labels(worklist, "outcome_missing") == ["LEGACY"]
    assert "FOREIGN" not in every_label(worklist)
    # The radiologist already signed: the decision is not on the radiologist's list.
    assert labels(worklists.radiologist_worklist(actor(staff["radiologist"])), "sign_off") == []
    assert labels(worklists.hepatologist_worklist(actor(staff["hepatologist"])), "sign_off") == ["WAITING"]

    workup_services.sign_decision(actor=surgeon, donor=waiting, decision_id=decision.pk, signed_as="surgeon")
    classification_services.record_outcome(
        actor=surgeon,
        donor=accepted,
        values={"operated_on": TODAY, "anastomoses": 1, "technique": "end-to-end"},
    )
    worklist = worklists.surgeon_worklist(surgeon)
    assert labels(worklist, "sign_off") == []
    assert labels(worklist, "not_operated") == [] and labels(worklist, "outcome_missing") == ["LEGACY"]


# ---------------------------------------------------------------- auditor


def test_auditor_sees_refusals_and_locked_out_logins_of_the_centre_highlighted(
    centre, other_centre, staff, foreign_staff, donor
):
    prober = UserFactory(centre=other_centre, roles=["coordinator"], username="prober")
    donor_services.record_refused_access(
        actor=actor(prober), record_type="donors.Donor", record_id=donor.pk, target_centre_id=centre.pk
    )
    record_login_lockout(username=staff["coordinator"].username, ip_address="10.9.9.9", failures=5, cool_off_minutes=15)
    record_login_lockout(username="surgeon-other", ip_address="10.8.8.8", failures=5, cool_off_minutes=15)
    donor_services.record_donor_read(actor=actor(staff["coordinator"]), donor=donor)

    worklist = worklists.auditor_worklist(actor(staff["auditor"]))
    alerts = section(worklist, "alerts").rows
    assert [row.alert for row in alerts] == ["Failed logins", "Refused"]
    assert "login locked out for coordinator-r" in alerts[0].detail
    assert alerts[0].label == "Refused by a login as coordinator-r" and alerts[0].url == "/donors/audit/?kind=denied"
    assert alerts[1].label == "Refused by prober"
    assert section(worklist, "alerts").count == 2
    latest = section(worklist, "latest_events").rows
    assert len(latest) == 3 and [row.alert for row in latest] == ["", "Failed logins", "Refused"]
    assert not any("surgeon-other" in row.detail for row in latest)

    # Refusals older than the window leave the alerts (they stay in the full trail).
    later = timezone.now() + datetime.timedelta(days=worklists.AUDIT_ALERT_DAYS + 1)
    assert section(worklists.auditor_worklist(actor(staff["auditor"]), now=later), "alerts").rows == []


# ---------------------------------------------------------------- the page


def test_the_page_shows_a_section_per_role_with_counts_matching_rows_and_audits_the_donors_shown(
    centre, other_centre, make_user
):
    user = make_user("coordinator", "hepatologist", "auditor", username="multi")
    DonorFactory(centre=centre, code="CAND-1")
    evaluating = DonorFactory(centre=centre, code="EVAL-1", status="in_evaluation")
    DonorFactory(centre=other_centre, code="FOREIGN")
    client = Client()
    client.force_login(user)
    response = client.get("/donors/worklist/")
    assert response.status_code == 200
    page = response.content.decode()
    for role in ("coordinator", "hepatologist", "auditor"):
        assert f'data-role="{role}"' in page
    assert 'data-role="surgeon"' not in page and "FOREIGN" not in page
    counts = {s.key: s.count for s in worklists.coordinator_worklist(actor(user)).sections}
    assert counts == {"new_candidates": 1, "missing_items": 1, "decisions": 0}
    assert 'data-testid="count-coordinator-new_candidates">1<' in page
    assert 'data-testid="count-hepatologist-labs_missing">1<' in page
    assert f'href="/donors/{evaluating.pk}/workup/#labs"' in page

    listed = AuditEvent.objects.filter(user=user, kind="list", summary="worklist (page)").get()
    assert sorted(listed.changes["donor_codes"]) == ["CAND-1", "EVAL-1"]
    assert AuditEvent.objects.filter(user=user, kind="read", summary="viewed the audit trail (shown=worklist)").exists()


def test_a_user_without_a_centre_is_refused_and_the_home_link_leads_to_the_worklist(db, make_user):
    lost = UserFactory(centre=None, roles=["coordinator"], username="lost")
    client = Client()
    client.force_login(lost)
    assert client.get("/donors/worklist/").status_code == 403
    client.force_login(make_user("surgeon", username="cutter"))
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/donors/worklist/"
    assert 'href="/donors/worklist/">Worklist</a>' in client.get("/donors/worklist/").content.decode()
