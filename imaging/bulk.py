"""Many new rows in one go: PostgreSQL's COPY, or ``bulk_create`` on other databases.

An import writes a batch of instances and report lines at once. ``bulk_create`` sends them
as one INSERT with a parameter per value, and building and parsing that statement costs
several times what storing the rows does; COPY streams the same rows as text.

Only for plain rows: a model with a field history is refused, since its writes belong to
the service that records them. Primary keys are not read back.
"""

from __future__ import annotations

import io
import json
import operator
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connections, models, router

_TEXT_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
_NULL = "\\N"

# Writes a column's value as COPY text; what the value is (int, str, datetime, ...) depends on the field.
_Writer = Callable[[Any], str]


def insert_rows(objects: Sequence[models.Model]) -> None:
    """Insert unsaved objects of one model (their ``auto_now_add`` fields are filled in)."""
    if not objects:
        return
    model = type(objects[0])
    if any(type(obj) is not model for obj in objects):
        raise TypeError("insert_rows takes objects of one model at a time")
    if hasattr(model, "history"):
        raise TypeError(f"{model._meta.label} keeps a history: write it through its service")
    if any(obj.pk is not None for obj in objects):
        raise TypeError("insert_rows writes new rows only (their primary keys are generated)")
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create(objects)
        return
    columns = _columns(model)
    buffer = io.StringIO()
    for obj in objects:
        values = (value_of(obj) for _, value_of, _ in columns)
        line = "\t".join(
            _NULL if value is None else text(value) for value, (_, _, text) in zip(values, columns, strict=True)
        )
        buffer.write(line + "\n")
    buffer.seek(0)
    names = ", ".join(connection.ops.quote_name(column) for column, _, _ in columns)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor, connection.wrap_database_errors:
        cursor.copy_expert(f"COPY {table} ({names}) FROM STDIN", buffer)


@cache
def _columns(
    model: type[models.Model],
) -> list[tuple[str, Callable[[models.Model], object], _Writer]]:
    """Every column but the generated primary key: its name, how to get its value, how to write it."""
    return [
        (field.column, _getter(field), _writer(field))
        for field in model._meta.concrete_fields
        if not field.primary_key and field.column is not None  # a concrete field always has a column
    ]


def _getter(field: models.Field) -> Callable[[models.Model], object]:
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return lambda obj: field.pre_save(obj, True)  # fills in the time, as a save would
    return operator.attrgetter(field.attname)


def _writer(field: models.Field) -> _Writer:
    kind = field.get_internal_type()
    if kind == "ForeignKey" and isinstance(field, models.ForeignKey):
        return _writer(field.target_field)
    if kind in ("CharField", "TextField"):
        return lambda value: str(value).translate(_TEXT_ESCAPES)
    if kind in (
        "AutoField",
        "BigAutoField",
        "SmallAutoField",
        "IntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "SmallIntegerField",
        "BigIntegerField",
        "PositiveBigIntegerField",
    ):
        return lambda value: str(int(value))
    if kind == "FloatField":
        return lambda value: repr(float(value))
    if kind == "BooleanField":
        return lambda value: "t" if value else "f"
    if kind == "JSONField" and isinstance(field, models.JSONField):
        encoder = field.encoder
        return lambda value: json.dumps(value, cls=encoder).translate(_TEXT_ESCAPES)
    if kind == "DateTimeField":
        return _datetime_text
    raise TypeError(f"insert_rows cannot write {field.model._meta.label}.{field.name} ({kind})")


def _datetime_text(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("insert_rows writes only time-zone-aware datetimes")
    return value.isoformat()
