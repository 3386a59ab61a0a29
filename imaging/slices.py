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
    "frame_positions",
    "frame_order",
    "orientation",
    "pixel_spacing",
    "file",
)
_ROWS_PER_STATEMENT = 1000  # 3 parameters a row stays far below SQLite's limit of 32766


def geometry_of(instance: Instance, frame: int = 0) -> Geometry | None:
    """The plane of one of the instance's frames (0-based, in file order); None when it cannot be placed."""
    orientation, spacing = tuple(instance.orientation or ()), instance.pixel_spacing
    if not instance.has_geometry:
        return None
    position = (instance.frame_positions or [])[frame] if instance.frames > 1 else instance.position or []
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


def slice_at(series: Series, index: int) -> tuple[Instance, int] | None:
    """The instance holding the series' slice ``index`` and the frame (0-based, in file order) it is."""
    if index < 0:
        return None
    instance = series.instances.filter(slice_index__lte=index).order_by("-slice_index", "pk").first()
    if instance is None or index >= instance.slice_index + instance.frames:
        return None
    return instance, instance.slice_frames()[index - instance.slice_index]


def frame_order(geometries: Sequence[Geometry]) -> list[int] | None:
    """A multi-frame image's frames in order along the first frame's normal (None for one frame)."""
    if len(geometries) < 2:
        return None
    normal = geometries[0].normal
    return sorted(range(len(geometries)), key=lambda i: (dot(geometries[i].position, normal), i))


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
        # Every frame is a slice: an instance's depth is that of its first slice along the series' normal.
        slice_depths = {id(i): _slice_depths(i, geometries[id(i)], normal) for i in instances}
        for instance in instances:
            instance.depth = slice_depths[id(instance)][0]
        instances.sort(key=lambda i: (i.depth, i.instance_number or 0, arrival[id(i)]))
        depths = np.array([depth for i in instances for depth in slice_depths[id(i)]])
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
    index = 0
    for instance in instances:
        instance.slice_index = index
        index += instance.frames
    _store_places([i for i in stored if before[i.pk] != (i.slice_index, i.depth)])
    if instances:
        series.rows, series.columns = instances[0].rows, instances[0].columns
    series.instance_count = len(instances)
    series.slice_count = index
    series.warnings = sorted(warnings)
    series.render_state = Series.Render.PENDING
    series.render_error = ""
    series.skip_history_when_saving = True  # derived facts, not a clinical change
    series.save()
    del series.skip_history_when_saving
    return instances


def _slice_depths(instance: Instance, geometry: Geometry, normal) -> list[float]:
    """Depths of the instance's slices along the normal, in slice order."""
    if instance.frames == 1:
        return [dot(geometry.position, normal)]
    positions = instance.frame_positions or []
    return [dot(tuple(positions[frame]), normal) for frame in instance.slice_frames()]


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
