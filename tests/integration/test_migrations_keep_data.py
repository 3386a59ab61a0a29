"""Moving models between apps keeps their rows: a database with data from before the moves migrates
to the latest state, and every row is found again through the model's new home.

The test migrates the test database back to the state before the moves (BEFORE_MOVES), writes rows
with the models of that state, migrates forward to the latest migrations and reads the rows through
today's models, field by field; the content types (and so the admin permissions) follow the models.
At the end the database is back at the latest state, whatever happened.

A further move adds its app to BEFORE_MOVES, a row (or more) to `write_rows` and one line per moved
model to MOVED.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.apps import apps as current_apps
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from core.audit import record_type_of

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# Each app's last migration before the moves; None: the app did not exist yet.
BEFORE_MOVES = [
    ("donors", "0005_audit_target_centre"),
    ("core", None),
    ("classification", "0002_anatomies_classified_under_old_rules_are_pending"),
    ("imaging", "0002_series_identity_state"),
    ("reports", "0001_initial"),
]

# Rows written before the moves (keys of `write_rows`) -> (model label then, model label now).
MOVED = {
    "audit_event": ("donors.AuditEvent", "core.AuditEvent"),
    "api_client": ("donors.ApiClient", "core.ApiClient"),
}

# Rows of models that did not move, written so that the moved rows have something to point at.
STAYED = {"centre": "donors.Centre", "user": "donors.User", "donor": "donors.Donor"}


def write_rows(old_apps) -> dict:
    """Rows as the application wrote them before the moves, through the models of that state."""
    model = old_apps.get_model
    now = datetime.datetime(2026, 11, 20, 9, 30, tzinfo=datetime.UTC)
    rows: dict = {}
    rows["centre"] = model("donors", "Centre").objects.create(name="Migration Centre", code="migr")
    rows["user"] = model("donors", "User").objects.create(
        username="migr-coordinator",
        centre=rows["centre"],
        roles=["coordinator"],
        is_centre_admin=True,
    )
    rows["donor"] = model("donors", "Donor").objects.create(
        centre=rows["centre"],
        code="MIG-001",
        mrn="MRN-MIG-1",
        given_name="Ada",
        family_name="Moved",
        date_of_birth=datetime.date(1988, 3, 4),
        sex="female",
        height_cm=Decimal("168.0"),
        weight_kg=Decimal("61.5"),
        abo="A",
        relationship="sibling",
        planned_graft="right_lobe",
    )
    service_user = model("donors", "User").objects.create(
        username="api-migr-1",
        centre=rows["centre"],
        roles=["integration_client"],
    )
    rows["api_client"] = model("donors", "ApiClient").objects.create(
        name="Hospital system",
        user=service_user,
        key_prefix="a1b2c3d4",
        key_hash="f" * 64,
        expires_at=now + datetime.timedelta(days=365),
        last_used_at=now,
    )
    rows["audit_event"] = model("donors", "AuditEvent").objects.create(
        user=service_user,
        api_client=rows["api_client"],
        centre=rows["centre"],
        target_centre=rows["centre"],
        kind="update",
        record_type="donors.ApiClient",
        record_id=str(rows["api_client"].pk),
        donor_id=rows["donor"].pk,
        donor_code="MIG-001",
        channel="api",
        ip_address="10.1.2.3",
        summary="revoked API token a1b2c3d4…",
        changes={"revoked_at": [None, now.isoformat()]},
    )
    return rows


def _migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    ContentType.objects.clear_cache()
    return MigrationExecutor(connection)  # a fresh loader sees what is applied now


def _latest() -> list:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _field_values(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


@pytest.fixture
def database_before_the_moves():
    latest = _latest()
    try:
        executor = _migrate(BEFORE_MOVES)
        yield executor.loader.project_state([t for t in BEFORE_MOVES if t[1] is not None]).apps
    finally:
        _migrate(latest)


def test_rows_written_before_the_moves_are_found_after_them(database_before_the_moves):
    old_apps = database_before_the_moves
    rows = write_rows(old_apps)
    old_content_type = old_apps.get_model("contenttypes", "ContentType")
    old_permission = old_apps.get_model("auth", "Permission")
    content_types_before = {}
    for key, (label_then, _) in MOVED.items():
        app_label, model_name = label_then.lower().split(".")
        content_type, _ = old_content_type.objects.get_or_create(app_label=app_label, model=model_name)
        old_permission.objects.get_or_create(
            content_type=content_type,
            codename=f"view_{model_name}",
            defaults={"name": f"Can view {model_name}"},
        )
        content_types_before[key] = content_type.pk
    values_before = {key: _field_values(row) for key, row in rows.items()}

    _migrate(_latest())

    for key, (_, label_now) in MOVED.items():
        model = current_apps.get_model(label_now)
        found = model.objects.get(pk=rows[key].pk)
        assert _field_values(found) == values_before[key], key
        content_type = ContentType.objects.get_for_model(model)
        assert content_type.pk == content_types_before[key], f"{key}: the content type moved with the model"
        assert Permission.objects.filter(content_type=content_type, codename=f"view_{model._meta.model_name}").exists()
    for key, label in STAYED.items():
        assert _field_values(current_apps.get_model(label).objects.get(pk=rows[key].pk)) == values_before[key], key


def test_moved_models_keep_the_record_type_their_events_were_filed_under(database_before_the_moves):
    """Events are append-only and searched by record type: one written before the move is found
    with the events written after it under the same name."""
    rows = write_rows(database_before_the_moves)

    _migrate(_latest())

    from core.models import ApiClient, AuditEvent
    from core.tokens import revoke_api_client

    client = ApiClient.objects.get(pk=rows["api_client"].pk)
    revoke_api_client(client=client)
    events = AuditEvent.objects.filter(record_type=record_type_of(ApiClient), record_id=str(client.pk))
    assert [(e.pk == rows["audit_event"].pk, e.summary) for e in events.order_by("pk")] == [
        (True, "revoked API token a1b2c3d4…"),
        (False, "revoked API token a1b2c3d4…"),
    ]
    for label_then, label_now in MOVED.values():
        assert record_type_of(current_apps.get_model(label_now)) == label_then
