"""A series' slices in order, and the geometry summary shown to people."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from django.db import connection

from .dicom import Geometry
from .dicom.geometry import NOMINAL_SPACING, dot
from .models import Instance, Series

_PARALLEL = 0.999
# What ordering and rendering a series read of its instances (the rest stays in the database).
SLICE_FIELDS = (
    "id",
    "series",
    "sop_instance_uid",
    "instance_number",
    "slice_index",
    "depth",
    "rows",
    "columns",
    "frames",
    "position",
    "orientation",
    "pixel_spacing",
    "file",
)
_ROWS_PER_STATEMENT = 1000  # 3 parameters a row stays far below SQLite's limit of 32766


def geometry_of(instance: Instance) -> Geometry | None:
    position, orientation, spacing = instance.position, instance.orientation, instance.pixel_spacing
    if not (position and orientation):  # the instance's has_geometry
        return None
    from .dicom.geometry import _unit

    # Rows stored before zero spacings were refused at import may still hold one.
    usable = _usable_spacing(spacing)
    try:
        return Geometry(
            position=tuple(position),
            row_direction=_unit(orientation[:3], instance.sop_instance_uid),
            column_direction=_unit(orientation[3:], instance.sop_instance_uid),
            pixel_spacing=usable or NOMINAL_SPACING,
            rows=instance.rows,
            columns=instance.columns,
            spacing_known=usable is not None,
        )
    except ValueError:
        return None


def _usable_spacing(spacing) -> tuple[float, float] | None:
    try:
        row, column = (float(v) for v in spacing or ())
    except (TypeError, ValueError):
        return None
    return (row, column) if all(math.isfinite(v) and v > 0 for v in (row, column)) else None


def orientation_label(normal) -> str:
    axis = int(np.argmax(np.abs(normal)))
    name = ("sagittal", "coronal", "axial")[axis]
    return name if abs(normal[axis]) > 0.97 else f"oblique {name}"


def finalise_series(series: Series, *, extra_warnings=(), adding: Sequence[Instance] = ()) -> list[Instance]:
    """Order the slices along the normal (not by instance number) and refresh the summary.

    Called inside the transaction that finishes an import; marks the series for rendering.
    `adding` are instances of the series not written yet (the import's last batch): they get
    their place in memory before they are inserted, so only instances already stored are
    updated. Returns every instance of the series in slice order.
    """
    stored = list(series.instances.only(*SLICE_FIELDS).order_by("pk"))
    before = {i.pk: (i.slice_index, i.depth) for i in stored}
    instances = stored + list(adding)
    arrival = {id(instance): number for number, instance in enumerate(instances)}  # new ones have no pk yet
    geometries = {id(i): geometry for i in instances if (geometry := geometry_of(i)) is not None}
    warnings = set(series.warnings or []) | set(extra_warnings)
    placed = [i for i in instances if id(i) in geometries]
    first = geometries[id(placed[0])] if placed else None
    if first is not None and len(placed) == len(instances):
        normal = first.normal
        parallel = all(abs(dot(normal, geometries[id(i)].normal)) >= _PARALLEL for i in placed)
        if not parallel:
            warnings.add("slices are not parallel: the series cannot be projected")
        for instance in instances:
            instance.depth = dot(geometries[id(instance)].position, normal)
        instances.sort(key=lambda i: (i.depth, i.instance_number or 0, arrival[id(i)]))
        depths = np.array([i.depth for i in instances])
        gaps = np.diff(depths)
        spacing = float(np.median(gaps)) if len(gaps) else None
        series.slice_spacing = spacing
        if spacing is not None and (np.any(gaps < 1e-3) or np.ptp(gaps) > 0.1 * max(abs(spacing), 1e-3)):
            warnings.add("slices are unevenly spaced or repeated: check the series")
        series.orientation = orientation_label(normal)
        series.pixel_spacing = list(first.pixel_spacing) if first.spacing_known else None
    else:
        instances.sort(key=lambda i: (i.instance_number or 0, arrival[id(i)]))
        series.slice_spacing = None
        series.orientation = ""
    for index, instance in enumerate(instances):
        instance.slice_index = index
    _store_places([i for i in stored if before[i.pk] != (i.slice_index, i.depth)])
    if instances:
        series.rows, series.columns = instances[0].rows, instances[0].columns
    series.instance_count = len(instances)
    series.warnings = sorted(warnings)
    series.render_state = Series.Render.PENDING
    series.render_error = ""
    series.skip_history_when_saving = True  # derived facts, not a clinical change
    series.save()
    del series.skip_history_when_saving
    return instances


def _store_places(instances: list[Instance]) -> None:
    """Write these slices' index and depth, in one statement per thousand slices.

    A statement per row (or ``executemany``, which is the same on psycopg2) costs a round
    trip each; a joined VALUES list costs one. The CASTs give PostgreSQL the column types
    when a whole column is NULL; SQLite reads them as type affinities.
    """
    table = connection.ops.quote_name(Instance._meta.db_table)
    row = "(CAST(%s AS INTEGER), CAST(%s AS INTEGER), CAST(%s AS DOUBLE PRECISION))"
    with connection.cursor() as cursor:
        for start in range(0, len(instances), _ROWS_PER_STATEMENT):
            chunk = instances[start : start + _ROWS_PER_STATEMENT]
            cursor.execute(
                f"WITH places (id, slice_index, depth) AS (VALUES {', '.join([row] * len(chunk))}) "
                f"UPDATE {table} SET slice_index = places.slice_index, depth = places.depth "
                f"FROM places WHERE {table}.id = places.id",
                [value for i in chunk for value in (i.pk, i.slice_index, i.depth)],
            )
