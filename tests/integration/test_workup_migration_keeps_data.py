"""Moving the workup's models from `donors` to `workup` keeps their rows: a database holding data from
before the move (built with the historical models of that state) is migrated forward, and every row is
found again through workup.models, with its history and its content type."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# The state just before the move: the donors app's last migration with the workup models, and no
# workup app. (When donors' migrations are renumbered, this names the one before the move.)
LAST_BEFORE_THE_MOVE = ("donors", "0005_audit_target_centre")
BEFORE_THE_MOVE = [LAST_BEFORE_THE_MOVE, ("workup", None)]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor


def _latest():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


@pytest.fixture
def old_database():
    """The database migrated back to before the move; migrated to the latest again afterwards,
    whatever the test did."""
    latest = _latest()
    try:
        executor = _migrate(BEFORE_THE_MOVE)
        yield executor.loader.project_state([LAST_BEFORE_THE_MOVE]).apps
    finally:
        _migrate(latest)


def _rows_from_before_the_move(apps) -> dict:
    """What the current head's code would have written: a donor with a lab result (and its history
    row), the centre's thresholds and a decision with a sign-off."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    Centre = apps.get_model("donors", "Centre")
    User = apps.get_model("donors", "User")
    Donor = apps.get_model("donors", "Donor")
    LabResult = apps.get_model("donors", "LabResult")
    HistoricalLabResult = apps.get_model("donors", "HistoricalLabResult")
    CentreThresholds = apps.get_model("donors", "CentreThresholds")
    Decision = apps.get_model("donors", "Decision")
    DecisionSignOff = apps.get_model("donors", "DecisionSignOff")

    centre = Centre.objects.create(name="Before the move", code="before")
    surgeon = User.objects.create(username="old-surgeon", centre=centre, roles=["surgeon"])
    hepatologist = User.objects.create(username="old-hepatologist", centre=centre, roles=["hepatologist"])
    donor = Donor.objects.create(
        centre=centre,
        code="OLD-001",
        mrn="M-OLD-1",
        given_name="Ada",
        family_name="Old",
        sex="female",
        abo="O",
        relationship="sibling",
        planned_graft="right_lobe",
        status="in_evaluation",
    )
    labs = LabResult.objects.create(
        donor=donor,
        measured_on=datetime.date(2026, 11, 1),
        recorded_by=hepatologist,
        ast=Decimal("31.0"),
        alt=Decimal("28.0"),
        platelets=Decimal("240.0"),
        serology="HBsAg negative",
    )
    HistoricalLabResult.objects.create(
        id=labs.pk,
        donor=donor,
        measured_on=labs.measured_on,
        recorded_by=hepatologist,
        recorded_at=labs.recorded_at,
        ast=labs.ast,
        alt=labs.alt,
        platelets=labs.platelets,
        serology=labs.serology,
        note="",
        history_date=labs.recorded_at,
        history_type="+",
        history_user=hepatologist,
    )
    thresholds = CentreThresholds.objects.create(centre=centre, age_max=55, updated_by=surgeon, version=2)
    decision = Decision.objects.create(
        donor=donor,
        decision_outcome="suitable",
        reasons="team meeting",
        proposed_by=surgeon,
        biliary_type="1",
    )
    sign_off = DecisionSignOff.objects.create(decision=decision, signed_as="surgeon", user=surgeon, comment="agreed")
    lab_type, _ = ContentType.objects.get_or_create(app_label="donors", model="labresult")
    return {
        "donor": donor.pk,
        "labs": labs.pk,
        "thresholds": thresholds.pk,
        "decision": decision.pk,
        "sign_off": sign_off.pk,
        "surgeon": surgeon.pk,
        "lab_content_type": lab_type.pk,
    }


def test_the_workup_rows_are_found_through_workup_models_after_the_move(old_database):
    before = _rows_from_before_the_move(old_database)

    _migrate(_latest())

    from django.contrib.contenttypes.models import ContentType

    from workup.models import CentreThresholds, Decision, LabResult

    labs = LabResult.objects.get(pk=before["labs"])
    assert (labs.donor_id, labs.ast, labs.platelets, labs.serology) == (
        before["donor"],
        Decimal("31.0"),
        Decimal("240.0"),
        "HBsAg negative",
    )
    past = labs.history.get()
    assert (past.history_type, past.ast, past.history_user.username) == ("+", Decimal("31.0"), "old-hepatologist")

    thresholds = CentreThresholds.objects.get(pk=before["thresholds"])
    assert (thresholds.age_max, thresholds.version, thresholds.centre.code) == (55, 2, "before")

    decision = Decision.objects.get(pk=before["decision"])
    assert (decision.donor_id, decision.decision_outcome, decision.biliary_type) == (before["donor"], "suitable", "1")
    assert [(s.pk, s.signed_as, s.user_id) for s in decision.sign_offs.all()] == [
        (before["sign_off"], "surgeon", before["surgeon"])
    ]
    assert list(decision.donor.decisions.all()) == [decision]

    # The content type moved with the model (same row), so what points at it still does.
    ContentType.objects.clear_cache()
    assert ContentType.objects.get_for_model(LabResult).pk == before["lab_content_type"]
    assert not ContentType.objects.filter(app_label="donors", model="labresult").exists()


def test_the_move_is_undone_without_losing_the_rows(old_database):
    """Migrating back to before the move (as the fixture does) finds the rows under donors again."""
    before = _rows_from_before_the_move(old_database)
    _migrate(_latest())
    executor = _migrate(BEFORE_THE_MOVE)
    apps = executor.loader.project_state([LAST_BEFORE_THE_MOVE]).apps

    assert apps.get_model("donors", "LabResult").objects.filter(pk=before["labs"]).exists()
    assert (
        apps.get_model("donors", "DecisionSignOff").objects.get(pk=before["sign_off"]).decision_id == before["decision"]
    )
    ContentType = apps.get_model("contenttypes", "ContentType")
    assert ContentType.objects.get(app_label="donors", model="labresult").pk == before["lab_content_type"]
