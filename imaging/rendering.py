"""Pictures of a series: the coronal MIP of an MRCP series, thumbnails, slices on request.

The MIP is made once per series and kept in storage as a PNG (default window), a
thumbnail, and an ``.npz`` with the projected values and, for each MIP pixel, the slice,
row and column its maximum came from (to re-window it and to map clicks back to the
patient). Slices are rendered on request from the stored file: reading one file, windowing
and encoding a PNG takes a few milliseconds, and the browser caches each answer.
"""

from __future__ import annotations

import io
import logging
from collections import OrderedDict
from datetime import timedelta

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from .dicom import IncrementalMip, auto_window, thumbnail, to_png, window
from .dicom.reader import InstanceHeader, open_frames
from .models import Instance, Series, donor_folder, unmatched_folder
from .slices import SLICE_FIELDS, geometry_of

log = logging.getLogger(__name__)

THUMBNAIL_PX = 160


def series_folder(series: Series) -> str:
    study = series.study  # a detached study keeps its pictures beside its files, under the donor it came from
    donor_id = study.donor_id or study.detached_from_id
    if donor_id is None:  # received for the centre and never filed under a donor
        return f"{unmatched_folder(study.centre_id)}/series-{series.pk}"
    return f"{donor_folder(donor_id)}/series-{series.pk}"


# Headers of the multi-frame files read last by this process: scrolling an Enhanced MR reads one
# frame of the same file again and again, and its functional groups cost pydicom far more than the
# frame (a stored file never changes).
_MULTI_FRAME_HEADERS: OrderedDict[str, InstanceHeader] = OrderedDict()
_HEADERS_KEPT = 8


def instance_pixels(instance: Instance, frame: int = 0) -> np.ndarray:
    """One frame of the instance (0-based, in file order) as float32 in modality units."""
    known = _MULTI_FRAME_HEADERS.get(instance.file) if instance.frames > 1 else None
    with (
        default_storage.open(instance.file, "rb") as handle,
        open_frames(handle, name=instance.sop_instance_uid, header=known) as frames,
    ):
        pixels = frames.frame(frame)
        if instance.frames > 1:
            _MULTI_FRAME_HEADERS[instance.file] = frames.header
            _MULTI_FRAME_HEADERS.move_to_end(instance.file)
            while len(_MULTI_FRAME_HEADERS) > _HEADERS_KEPT:
                _MULTI_FRAME_HEADERS.popitem(last=False)
        return pixels


def middle_slice(instances: list[Instance]) -> tuple[Instance, int]:
    """The instance and frame of the series' middle slice (instances in slice order)."""
    total = sum(i.frames for i in instances)
    wanted = total // 2
    for instance in instances:
        if wanted < instance.slice_index + instance.frames:
            return instance, instance.slice_frames()[max(wanted - instance.slice_index, 0)]
    return instances[-1], 0


def _put(name: str, data: bytes) -> str:
    if default_storage.exists(name):
        default_storage.delete(name)
    return default_storage.save(name, ContentFile(data))


def _mark(series: Series, **values) -> None:
    values["updated_at"] = timezone.now()
    Series.objects.filter(pk=series.pk).update(**values)
    for name, value in values.items():
        setattr(series, name, value)


def render_series(*, series_id: int) -> Series:
    """Render the series' pictures from its stored files (the render task).

    Pictures already up to date are left alone, so a task delivered twice renders once.
    """
    series = Series.objects.select_related("study").get(pk=series_id)
    if series.render_state == Series.Render.DONE and not needs_render(series):
        return series
    return render(series)


def render(
    series: Series,
    *,
    instances: list[Instance] | None = None,
    mip: tuple[IncrementalMip, list[tuple[str, int]]] | None = None,
) -> Series:
    """Render a series already read (with its study); returns it updated.

    The import passes the series' slices in order (`instances`) and the projection it built
    while reading (`mip`); that projection is used only when it covers exactly the series'
    instances, otherwise the files are read again, one at a time.
    """
    if instances is None:
        instances = list(series.instances.only(*SLICE_FIELDS).order_by("slice_index"))
    _mark(series, render_state=Series.Render.RENDERING, render_error="")
    try:
        values = _render(series, instances, mip)
    except Exception as error:  # noqa: BLE001 - recorded on the series for people to see
        log.exception("rendering series %s failed", series.pk)
        _mark(series, render_state=Series.Render.FAILED, render_error=f"could not render: {error}"[:300])
        return series
    _mark(series, render_state=Series.Render.DONE, render_error="", rendered_instances=len(instances), **values)
    return series


def _render(series: Series, instances: list[Instance], mip) -> dict[str, object]:
    if not instances:
        raise ValueError("the series has no images")
    folder = series_folder(series)
    middle, middle_frame = middle_slice(instances)
    middle_pixels = instance_pixels(middle, middle_frame)
    slice_window = [round(v, 2) for v in auto_window(middle_pixels)]
    values: dict[str, object] = {"slice_window": slice_window}
    projectable = (
        series.used_as_mrcp
        and all(i.has_geometry for i in instances)
        and not any("not parallel" in w for w in series.warnings or [])
    )
    if not projectable:
        spacing = tuple(middle.pixel_spacing) if middle.pixel_spacing else None
        picture = thumbnail(window(middle_pixels, *slice_window), THUMBNAIL_PX, pixel_spacing=spacing)
        values["thumbnail_path"] = _put(f"{folder}/thumbnail.png", picture)
        values.update(mip_path="", mip_data_path="", mip_shape=None, mip_spacing=None, mip_window=None)
        return values
    result, order = _projection(instances, mip)
    slice_of = {
        (inst.sop_instance_uid, frame): inst.slice_index + place
        for inst in instances
        for place, frame in enumerate(inst.slice_frames())
    }
    to_slice = np.array([slice_of[key] for key in order], dtype=np.int32)
    image = result.image
    # Without a known pixel spacing the picture keeps its pixels as they are (no aspect
    # correction, no scale bar) and nothing on it can be measured.
    mip_spacing = result.pixel_spacing if result.spacing_known else None
    center, width = auto_window(image, 1.0, 99.9)
    shown = window(image, center, width)
    data = io.BytesIO()
    np.savez(
        data,
        image=image.astype(np.float32),
        slice_index=_compact(to_slice[result.slice_index]),
        row_index=_compact(result.row_index),
        col_index=_compact(result.col_index),
        pixel_spacing=np.array(mip_spacing if mip_spacing else (np.nan, np.nan)),
    )
    values.update(
        mip_path=_put(f"{folder}/mip.png", to_png(shown, pixel_spacing=mip_spacing)),
        thumbnail_path=_put(f"{folder}/thumbnail.png", thumbnail(shown, THUMBNAIL_PX, pixel_spacing=mip_spacing)),
        mip_data_path=_put(f"{folder}/mip.npz", data.getvalue()),
        mip_shape=list(image.shape),
        mip_spacing=list(mip_spacing) if mip_spacing else None,
        mip_window=[round(center, 2), round(width, 2)],
    )
    return values


def _compact(indices: np.ndarray) -> np.ndarray:
    """Indices in 16 bits when they fit (they nearly always do): a third less to write and keep."""
    if indices.size and indices.min() >= 0 and indices.max() <= np.iinfo(np.uint16).max:
        return indices.astype(np.uint16)
    return indices.astype(np.int32)


def _projection(instances: list[Instance], mip):
    """(Mip, the (SOP Instance UID, frame) of each slice in the order they were added)."""
    wanted = {(i.sop_instance_uid, frame) for i in instances for frame in range(i.frames)}
    if mip is not None:
        builder, keys = mip
        if len(keys) == len(wanted) and set(keys) == wanted:
            return builder.result(), list(keys)
    builder = IncrementalMip()
    keys = []
    for instance in instances:
        planes = [plane for frame in range(instance.frames) if (plane := geometry_of(instance, frame)) is not None]
        if len(planes) != instance.frames:
            raise ValueError(f"instance {instance.sop_instance_uid} has no usable position and orientation")
        with (
            default_storage.open(instance.file, "rb") as handle,
            open_frames(handle, name=instance.sop_instance_uid) as frames,
        ):
            for frame, pixels in enumerate(frames):
                builder.add(pixels, planes[frame])
                keys.append((instance.sop_instance_uid, frame))
    return builder.result(), keys


def load_mip_data(series: Series) -> dict[str, np.ndarray]:
    if not series.mip_data_path:
        raise FileNotFoundError("the series has no MIP")
    with default_storage.open(series.mip_data_path, "rb") as handle, np.load(io.BytesIO(handle.read())) as data:
        return {key: data[key] for key in data.files}


def mip_png(series: Series, center: float | None, width: float | None) -> bytes:
    """The MIP as PNG: the stored picture for the default window, else re-windowed."""
    if center is None or width is None or [center, width] == series.mip_window:
        with default_storage.open(series.mip_path, "rb") as handle:
            return handle.read()
    data = load_mip_data(series)
    return to_png(window(data["image"], center, width), pixel_spacing=tuple(data["pixel_spacing"]))


def slice_png(instance: Instance, center: float | None, width: float | None, frame: int = 0) -> bytes:
    """One slice (a frame of the instance) as PNG; without a window, the slice's own (auto) window."""
    spacing = tuple(instance.pixel_spacing) if instance.pixel_spacing else None
    pixels = instance_pixels(instance, frame)
    if center is None or width is None:
        center, width = auto_window(pixels)
    return to_png(window(pixels, center, width), pixel_spacing=spacing)


def stored_bytes(path: str) -> bytes:
    with default_storage.open(path, "rb") as handle:
        return handle.read()


# A render runs for at most the render task's hard time limit; a "rendering" mark older than
# that was left by a worker that died, and the series needs rendering again.
RENDER_STALE_SECONDS = 180


def needs_render(series: Series) -> bool:
    if series.render_state == Series.Render.RENDERING:
        return series.updated_at < timezone.now() - timedelta(seconds=RENDER_STALE_SECONDS)
    return series.render_state in (Series.Render.PENDING, Series.Render.FAILED) or (
        series.render_state == Series.Render.DONE and series.rendered_instances != series.instance_count
    )
