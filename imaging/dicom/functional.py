"""What the functional groups of a multi-frame image say (DICOM PS3.3 C.7.6.16).

Enhanced MR (and its Legacy Converted form) keep the geometry, the rescale and the
MR parameters of each frame in two sequences rather than at the top of the dataset:
the Shared Functional Groups (one item, true of every frame) and the Per-frame
Functional Groups (one item per frame). A macro found in a frame's item overrides the
shared one. A Legacy Converted image also keeps the classic attributes it could not
place (Echo Time, MR Acquisition Type...) in the Unassigned Converted Attributes
sequences, which are read when the proper macro is missing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset

Vector = tuple[float, float, float]
Orientation = tuple[float, float, float, float, float, float]

SHARED_GROUPS = 0x52009229
PER_FRAME_GROUPS = 0x52009230
# Two frames whose orientation cosines differ by less than this are in parallel planes of one stack.
_SAME_ORIENTATION = 1e-4


@dataclass(frozen=True)
class FramePlane:
    """One frame's plane and rescale, as its functional groups give them."""

    position: Vector | None
    orientation: Orientation | None
    pixel_spacing: tuple[float, float] | None
    slice_thickness: float | None
    rescale_slope: float
    rescale_intercept: float


@dataclass(frozen=True)
class FunctionalGroups:
    """The frames' planes (empty when the per-frame items do not match the frames) and MR facts."""

    frames: tuple[FramePlane, ...]
    echo_time: float | None
    repetition_time: float | None
    mr_acquisition_type: str
    spacing_between_slices: float | None
    window_center: float | None
    window_width: float | None
    # Why the frames cannot be placed in 3D although the file has functional groups (empty when they can).
    geometry_refused: str = ""


def has_functional_groups(dataset: Dataset) -> bool:
    return SHARED_GROUPS in dataset or PER_FRAME_GROUPS in dataset


def functional_groups(dataset: Dataset, number_of_frames: int) -> FunctionalGroups:
    shared = _first_item(_get(dataset, "SharedFunctionalGroupsSequence")) or Dataset()
    per_frame = list(_get(dataset, "PerFrameFunctionalGroupsSequence") or [])
    first = per_frame[0] if per_frame else Dataset()
    unassigned = [
        item
        for item in (
            _first_item(_get(first, "UnassignedPerFrameConvertedAttributesSequence")),
            _first_item(_get(shared, "UnassignedSharedConvertedAttributesSequence")),
        )
        if item is not None
    ]

    def macro_value(sequence: str, keyword: str) -> Any:
        for group in (first, shared):
            item = _first_item(_get(group, sequence))
            if item is not None and _get(item, keyword) is not None:
                return _get(item, keyword)
        return None

    def converted(keyword: str) -> Any:
        return next((value for item in unassigned if (value := _get(item, keyword)) is not None), None)

    echo = _number(macro_value("MREchoSequence", "EffectiveEchoTime"))
    if echo is None:
        echo = _number(converted("EchoTime"))
    repetition = _number(macro_value("MRTimingAndRelatedParametersSequence", "RepetitionTime"))
    if repetition is None:
        repetition = _number(converted("RepetitionTime"))
    gap = _number(macro_value("PixelMeasuresSequence", "SpacingBetweenSlices"))
    if gap is None:
        gap = _number(converted("SpacingBetweenSlices"))
    frames: tuple[FramePlane, ...] = ()
    refused = ""
    if len(per_frame) == number_of_frames:
        frames = tuple(_plane(item, shared) for item in per_frame)
        refused = _why_not_placed(frames)
    elif per_frame:
        refused = f"{len(per_frame)} per-frame functional groups for {number_of_frames} frames"
    return FunctionalGroups(
        frames=frames,
        echo_time=echo,
        repetition_time=repetition,
        mr_acquisition_type=str(converted("MRAcquisitionType") or "").strip().upper(),
        spacing_between_slices=gap,
        window_center=_number(macro_value("FrameVOILUTSequence", "WindowCenter")),
        window_width=_number(macro_value("FrameVOILUTSequence", "WindowWidth")),
        geometry_refused=refused,
    )


def _plane(frame: Dataset, shared: Dataset) -> FramePlane:
    def item(sequence: str) -> Dataset:
        return _first_item(_get(frame, sequence)) or _first_item(_get(shared, sequence)) or Dataset()

    measures = item("PixelMeasuresSequence")
    transformation = item("PixelValueTransformationSequence")
    spacing = _numbers(_get(measures, "PixelSpacing"), 2)
    return FramePlane(
        position=_numbers(_get(item("PlanePositionSequence"), "ImagePositionPatient"), 3),  # type: ignore[arg-type]
        orientation=_numbers(_get(item("PlaneOrientationSequence"), "ImageOrientationPatient"), 6),  # type: ignore[arg-type]
        pixel_spacing=spacing if spacing and all(v > 0 for v in spacing) else None,  # type: ignore[arg-type]
        slice_thickness=_number(_get(measures, "SliceThickness")),
        rescale_slope=_number(_get(transformation, "RescaleSlope")) or 1.0,
        rescale_intercept=_number(_get(transformation, "RescaleIntercept")) or 0.0,
    )


def _why_not_placed(frames: Sequence[FramePlane]) -> str:
    if any(f.position is None or f.orientation is None for f in frames):
        return "some frames carry no position or orientation"
    first = frames[0].orientation
    assert first is not None  # checked just above
    for frame in frames[1:]:
        assert frame.orientation is not None
        if max(abs(a - b) for a, b in zip(first, frame.orientation, strict=True)) > _SAME_ORIENTATION:
            return "the frames are not in parallel planes of one stack"
    return ""


def _get(dataset: Dataset, keyword: str) -> Any:
    try:
        return dataset.get(keyword)
    except Exception:  # a malformed value; treat as absent
        return None


def _first_item(sequence: Any) -> Dataset | None:
    try:
        return sequence[0] if sequence else None
    except (TypeError, IndexError):
        return None


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if not isinstance(value, (int, float, str)):
        try:
            value = value[0] if len(value) else None
        except TypeError:
            return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _numbers(value: Any, count: int) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        numbers = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if len(numbers) != count or not all(math.isfinite(n) for n in numbers):
        return None
    return numbers
