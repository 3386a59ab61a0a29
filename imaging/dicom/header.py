"""What an instance's header says, and whether it is acceptable.

The checks here are the ones every reading path shares: UIDs present and well formed,
pixel data present and as long as the header says, a transfer syntax this server
can decode. Each failure is a :class:`DicomRejected` with a reason in plain words.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass, replace
from typing import Any, Final, Literal, overload

import numpy as np
import pydicom
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.pixels import get_decoder
from pydicom.uid import UID, MediaStorageDirectoryStorage

from .functional import FramePlane, functional_groups, has_functional_groups

PIXEL_DATA = 0x7FE00010
NUMBER_OF_FRAMES = 0x00280008
FLOAT_PIXEL_DATA = (0x7FE00008, 0x7FE00009)
UNDEFINED_LENGTH = 0xFFFFFFFF
_UID_PATTERN = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_LOSSY_SYNTAXES = {
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51",  # JPEG Extended
    "1.2.840.10008.1.2.4.81",  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000 (lossy allowed)
    "1.2.840.10008.1.2.4.93",  # JPEG 2000 Part 2 (lossy allowed)
    "1.2.840.10008.1.2.4.203",  # HTJ2K (lossy allowed)
}


def element_as_parsed(dataset: Dataset, tag: int) -> DataElement | RawDataElement | None:
    """The element as the parser left it, without converting its value; None when absent.

    pydicom's annotations promise a DataElement, but an element whose value was never read
    comes back raw, which is the case the fast paths here look for."""
    return dataset.get_item(tag, keep_deferred=True)


class DicomRejected(Exception):
    """A file that cannot be used, with a reason in plain words."""

    def __init__(self, reason: str, name: str = "") -> None:
        super().__init__(f"{name}: {reason}" if name else reason)
        self.reason = reason
        self.name = name


@dataclass(frozen=True)
class InstanceHeader:
    """What the app needs to know about one instance, read without its pixels."""

    name: str
    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    frame_of_reference_uid: str
    modality: str
    patient_id: str
    patient_name: str
    study_description: str
    series_description: str
    protocol_name: str
    series_number: int | None
    instance_number: int | None
    echo_time: float | None
    repetition_time: float | None
    mr_acquisition_type: str
    rows: int
    columns: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    number_of_frames: int
    photometric_interpretation: str
    pixel_spacing: tuple[float, float] | None
    image_position: tuple[float, float, float] | None
    image_orientation: tuple[float, float, float, float, float, float] | None
    slice_thickness: float | None
    spacing_between_slices: float | None
    transfer_syntax_uid: str
    rescale_slope: float
    rescale_intercept: float
    window_center: float | None
    window_width: float | None
    lossy: bool
    pixel_data_bytes: int | None  # None when the pixel data is encapsulated
    # Why a Pixel Spacing present in the file was not used (e.g. 0\0); `pixel_spacing` is then None.
    pixel_spacing_refused: str = ""
    study_date: str = ""  # YYYYMMDD, empty when the file has none or a malformed one
    # A multi-frame image's frames, from its functional groups (empty otherwise, or when they do not
    # give one plane per frame); the fields above then describe the first frame.
    frame_planes: tuple[FramePlane, ...] = ()
    # Why a multi-frame image's frames cannot be placed in 3D (empty when they can, or for one frame).
    frame_geometry_refused: str = ""

    @property
    def transfer_syntax_name(self) -> str:
        return transfer_syntax_name(self.transfer_syntax_uid)

    @property
    def compressed(self) -> bool:
        return UID(self.transfer_syntax_uid).is_encapsulated

    @property
    def frame_bytes(self) -> int:
        """Bytes one uncompressed frame needs according to the header."""
        bits = self.rows * self.columns * self.samples_per_pixel * self.bits_allocated
        return (bits + 7) // 8


def transfer_syntax_name(uid: str) -> str:
    name = UID(uid).name
    return name if name and name != uid else f"unknown transfer syntax {uid}"


# ---------------------------------------------------------------------- checks


def checked_header(dataset: Dataset, name: str) -> InstanceHeader:
    meta = dataset.file_meta
    syntax = str(meta.get("TransferSyntaxUID", "") or "").strip()
    if not syntax:
        raise DicomRejected("the DICOM file header has no transfer syntax", name)
    if not UID(syntax).is_transfer_syntax:
        raise DicomRejected(f"unknown transfer syntax {syntax[:64]}, which this server cannot read", name)
    sop_class = _text(dataset, "SOPClassUID") or _text(meta, "MediaStorageSOPClassUID")
    if sop_class == MediaStorageDirectoryStorage:
        raise DicomRejected("DICOMDIR index file, not an image", name)
    uids = {}
    for keyword, label in (
        ("StudyInstanceUID", "Study Instance UID"),
        ("SeriesInstanceUID", "Series Instance UID"),
        ("SOPInstanceUID", "SOP Instance UID"),
    ):
        value = _text(dataset, keyword)
        if not value:
            raise DicomRejected(f"missing {label}", name)
        if len(value) > 64 or not _UID_PATTERN.match(value):
            raise DicomRejected(f"invalid {label} ({value[:70]!r})", name)
        uids[keyword] = value
    pixel_bytes = _check_pixel_data(dataset, syntax, name)
    header = _build_header(dataset, name, syntax, sop_class, uids, pixel_bytes)
    if header.compressed:
        check_decodable(syntax, name)
    return header


def _check_pixel_data(dataset: Dataset, syntax: str, name: str) -> int | None:
    """Return the native pixel byte count (None if encapsulated) after checking it."""
    element = element_as_parsed(dataset, PIXEL_DATA)
    if element is None:
        if any(tag in dataset for tag in FLOAT_PIXEL_DATA):
            raise DicomRejected("floating-point pixel data is not supported", name)
        raise DicomRejected("no pixel data", name)
    required: dict[str, int] = {}
    for keyword, label in (
        ("Rows", "image height (Rows)"),
        ("Columns", "image width (Columns)"),
        ("BitsAllocated", "Bits Allocated"),
    ):
        value = _uint(dataset, keyword)
        if not value:
            raise DicomRejected(f"missing {label}", name)
        required[keyword] = value
    if not _text(dataset, "PhotometricInterpretation"):
        raise DicomRejected("missing Photometric Interpretation", name)
    length = element.length if isinstance(element, RawDataElement) else len(element.value or b"")
    if UID(syntax).is_encapsulated:
        return None
    frames = max(_int(dataset, "NumberOfFrames") or 1, 1)
    samples = _uint(dataset, "SamplesPerPixel") or 1
    if samples == 3 and _text(dataset, "PhotometricInterpretation").upper() == "YBR_FULL_422":
        # Two luminance samples share one Cb and one Cr: 2 values a pixel, not 3 (PS3.3 C.7.6.3.1.2).
        samples = 2
    bits = required["Rows"] * required["Columns"] * samples * required["BitsAllocated"]
    frame = (bits + 7) // 8
    expected = (bits * frames + 7) // 8
    # Trailing padding shorter than a frame is tolerated (pydicom's MR_small_padded.dcm).
    if length == UNDEFINED_LENGTH or length < expected or length - expected >= max(frame, 2):
        found = "undefined length" if length == UNDEFINED_LENGTH else f"found {length}"
        raise DicomRejected(f"pixel data does not match its header (expected {expected} bytes, {found})", name)
    return expected


def check_decodable(syntax: str, name: str) -> None:
    reason = f"compressed with {transfer_syntax_name(syntax)}, which this server cannot decode"
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError as exc:
        raise DicomRejected(reason, name) from exc
    if not decoder.is_available:
        raise DicomRejected(reason, name)


def _build_header(
    ds: Dataset,
    name: str,
    syntax: str,
    sop_class: str,
    uids: dict[str, str],
    pixel_bytes: int | None,
) -> InstanceHeader:
    spacing, spacing_refused = _pixel_spacing(ds)
    header = InstanceHeader(
        name=name,
        sop_class_uid=sop_class,
        sop_instance_uid=uids["SOPInstanceUID"],
        study_instance_uid=uids["StudyInstanceUID"],
        series_instance_uid=uids["SeriesInstanceUID"],
        frame_of_reference_uid=_text(ds, "FrameOfReferenceUID"),
        modality=_text(ds, "Modality").upper(),
        patient_id=_text(ds, "PatientID"),
        patient_name=_text(ds, "PatientName"),
        study_description=_text(ds, "StudyDescription"),
        study_date=_study_date(ds),
        series_description=_text(ds, "SeriesDescription"),
        protocol_name=_text(ds, "ProtocolName"),
        series_number=_int(ds, "SeriesNumber"),
        instance_number=_int(ds, "InstanceNumber"),
        echo_time=_float(ds, "EchoTime"),
        repetition_time=_float(ds, "RepetitionTime"),
        mr_acquisition_type=_text(ds, "MRAcquisitionType").upper(),
        rows=_uint(ds, "Rows") or 0,
        columns=_uint(ds, "Columns") or 0,
        samples_per_pixel=_uint(ds, "SamplesPerPixel") or 1,
        bits_allocated=_uint(ds, "BitsAllocated") or 0,
        bits_stored=_uint(ds, "BitsStored") or _uint(ds, "BitsAllocated") or 0,
        pixel_representation=_uint(ds, "PixelRepresentation") or 0,
        number_of_frames=max(_int(ds, "NumberOfFrames") or 1, 1),
        photometric_interpretation=_text(ds, "PhotometricInterpretation").upper(),
        pixel_spacing=spacing,
        image_position=_floats(ds, "ImagePositionPatient", 3),
        image_orientation=_floats(ds, "ImageOrientationPatient", 6),
        slice_thickness=_float(ds, "SliceThickness"),
        spacing_between_slices=_float(ds, "SpacingBetweenSlices"),
        transfer_syntax_uid=syntax,
        rescale_slope=_float(ds, "RescaleSlope") or 1.0,
        rescale_intercept=_float(ds, "RescaleIntercept") or 0.0,
        window_center=_float(ds, "WindowCenter"),
        window_width=_float(ds, "WindowWidth"),
        lossy=syntax in _LOSSY_SYNTAXES or _text(ds, "LossyImageCompression") == "01",
        pixel_data_bytes=pixel_bytes,
        pixel_spacing_refused=spacing_refused,
    )
    if has_functional_groups(ds):
        header = _with_functional_groups(ds, header)
    return header


def _with_functional_groups(ds: Dataset, header: InstanceHeader) -> InstanceHeader:
    """The header of a multi-frame image, its geometry, rescale and MR facts read from the functional groups.

    Values at the top of the dataset (a classic image's place for them) are kept only where the
    functional groups say nothing.
    """
    groups = functional_groups(ds, header.number_of_frames)
    first = groups.frames[0] if groups.frames else None
    placed = first is not None and not groups.geometry_refused
    changes: dict[str, Any] = {
        "frame_planes": groups.frames,
        "frame_geometry_refused": groups.geometry_refused,
        "echo_time": groups.echo_time if groups.echo_time is not None else header.echo_time,
        "repetition_time": groups.repetition_time if groups.repetition_time is not None else header.repetition_time,
        "mr_acquisition_type": header.mr_acquisition_type or groups.mr_acquisition_type,
        "spacing_between_slices": groups.spacing_between_slices or header.spacing_between_slices,
        "window_center": groups.window_center if groups.window_width else header.window_center,
        "window_width": groups.window_width or header.window_width,
    }
    if first is not None:
        changes["rescale_slope"] = first.rescale_slope
        changes["rescale_intercept"] = first.rescale_intercept
        changes["pixel_spacing"] = first.pixel_spacing or header.pixel_spacing
        changes["slice_thickness"] = first.slice_thickness or header.slice_thickness
        changes["image_position"] = first.position if placed else None
        changes["image_orientation"] = first.orientation if placed else None
    elif groups.geometry_refused:
        changes["image_position"] = changes["image_orientation"] = None
    return replace(header, **changes)


# ------------------------------------------------------------- value helpers
#
# Reading a value through pydicom (``ds.get(keyword)``) converts the raw element into a
# typed one (DSfloat, IS, UID, PersonName...) and costs about 10 us; a header needs about
# 40 of them per file, more than pydicom takes to parse the whole file. The common cases
# (one plain ASCII value, a little-endian US) are decoded here straight from the raw
# bytes, giving exactly what the conversion through pydicom gives; anything else
# (several values, other characters, escape sequences, an unexpected VR, a value that
# does not parse) goes through pydicom as before.

_TEXT_VRS = frozenset({"CS", "UI", "SH", "LO", "PN"})
_NUMBER_TEXT_VRS = frozenset({"DS", "IS"})
_ESCAPE = b"\x1b"
_BACKSLASH = b"\\"


class _Decode(enum.Enum):
    SLOW = "decode through pydicom"


_SLOW: Final = _Decode.SLOW
_KEYWORDS: dict[str, tuple[int, str]] = {}


def _spec(keyword: str) -> tuple[int, str]:
    spec = _KEYWORDS.get(keyword)
    if spec is None:
        tag = pydicom.datadict.tag_for_keyword(keyword)
        spec = _KEYWORDS[keyword] = (tag, pydicom.datadict.dictionary_VR(tag)) if tag else (0, "")
    return spec


def _raw(ds: Dataset, keyword: str, vrs: frozenset[str]) -> tuple[bytes, str] | None | Literal[_Decode.SLOW]:
    """(raw bytes, VR) of a plain element, None when absent, ``_SLOW`` when pydicom must decode it."""
    tag, dictionary_vr = _spec(keyword)
    if not tag:
        return _SLOW
    element = element_as_parsed(ds, tag)
    if element is None:
        return None
    if not isinstance(element, RawDataElement):
        return _SLOW
    vr = element.VR or dictionary_vr  # implicit VR: pydicom uses the dictionary's VR too
    value = element.value
    if (
        vr != dictionary_vr
        or vr not in vrs
        or value is None
        or not value
        or _BACKSLASH in value
        or not value.isascii()
        or _ESCAPE in value
    ):
        return _SLOW
    return value, vr


def _value(ds: Dataset, keyword: str) -> Any:
    try:
        return ds.get(keyword)
    except Exception:  # a malformed value; treat as absent
        return None


def _study_date(ds: Dataset) -> str:
    value = _text(ds, "StudyDate")
    return value if len(value) == 8 and value.isdigit() else ""


def _text(ds: Dataset, keyword: str) -> str:
    raw = _raw(ds, keyword, _TEXT_VRS)
    if raw is None:
        return ""
    if raw is not _SLOW:
        # One value in ASCII: pydicom drops trailing spaces and NULs, whatever the character set.
        text = raw[0].decode("ascii").rstrip(" \x00")
        return text.strip().strip("\x00").strip()
    value = _value(ds, keyword)
    if value is None:
        return ""
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        value = "\\".join(str(v) for v in value)
    return str(value).strip().strip("\x00").strip()


def _first_number(ds: Dataset, keyword: str) -> Any:
    raw = _raw(ds, keyword, _NUMBER_TEXT_VRS)
    if raw is None:
        return None
    if raw is not _SLOW:
        number = _plain_number(*raw)
        if number is not _SLOW:
            return number
    value = _value(ds, keyword)
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        value = value[0] if len(value) else None
    return value


def _plain_number(data: bytes, vr: str) -> int | float | Literal[_Decode.SLOW]:
    """The number pydicom would give for one DS or IS value, or ``_SLOW``."""
    text = data.decode("ascii").strip().rstrip(" \x00")
    if not text:
        return _SLOW
    if vr == "IS":
        digits = text[1:] if text[0] in "+-" else text
        return int(text) if digits.isdigit() and digits.isascii() else _SLOW
    try:
        return float(text)
    except ValueError:
        return _SLOW


def _us(ds: Dataset, keyword: str) -> Any:
    """One little-endian US value straight from its two bytes, else as pydicom reads it."""
    tag, dictionary_vr = _spec(keyword)
    element = element_as_parsed(ds, tag) if tag else None
    if element is None and tag:
        return None
    if (
        isinstance(element, RawDataElement)
        and element.is_little_endian
        and (element.VR or dictionary_vr) == dictionary_vr == "US"
        and element.value is not None
        and len(element.value) == 2
    ):
        return element.value[0] | element.value[1] << 8
    value = _value(ds, keyword)
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        value = value[0] if len(value) else None
    return value


def _float(ds: Dataset, keyword: str) -> float | None:
    return _as_float(_first_number(ds, keyword))


def _as_float(value: Any) -> float | None:
    if isinstance(value, (int, float)):  # the common case, without the text round trip
        number: float | None = float(value)
    else:
        try:
            number = float(value) if value is not None and str(value).strip() != "" else None
        except (TypeError, ValueError):
            return None
    return number if number is None or math.isfinite(number) else None


def _int(ds: Dataset, keyword: str) -> int | None:
    number = _float(ds, keyword)
    return int(number) if number is not None else None


def _uint(ds: Dataset, keyword: str) -> int | None:
    """An unsigned short (Rows, Bits Allocated...), as ``_int`` reads it."""
    number = _as_float(_us(ds, keyword))
    return int(number) if number is not None else None


def _pixel_spacing(ds: Dataset) -> tuple[tuple[float, float] | None, str]:
    """Pixel Spacing, and why it is not used when present but not two positive numbers: a zero
    or negative spacing would make every distance and every resampled picture wrong."""
    spacing = _floats(ds, "PixelSpacing", 2)
    if spacing is None or all(value > 0 for value in spacing):
        return spacing, ""
    shown = "\\".join(f"{value:g}" for value in spacing)
    return None, f"pixel spacing {shown} is not two positive numbers"


# The tuple has exactly `count` numbers (else None); the overloads tell the type checker so.
@overload
def _floats(ds: Dataset, keyword: str, count: Literal[2]) -> tuple[float, float] | None: ...
@overload
def _floats(ds: Dataset, keyword: str, count: Literal[3]) -> tuple[float, float, float] | None: ...
@overload
def _floats(ds: Dataset, keyword: str, count: Literal[6]) -> tuple[float, float, float, float, float, float] | None: ...
def _floats(ds: Dataset, keyword: str, count: int) -> tuple[float, ...] | None:
    tag, dictionary_vr = _spec(keyword)
    element = element_as_parsed(ds, tag) if tag else None
    if element is None and tag:
        return None
    if (
        isinstance(element, RawDataElement)
        and (element.VR or dictionary_vr) == dictionary_vr == "DS"
        and element.value
        and element.value.isascii()
    ):
        numbers = _plain_numbers(element.value)
        if numbers is not None:
            if len(numbers) != count or not all(math.isfinite(n) for n in numbers):
                return None
            return numbers
    value = _value(ds, keyword)
    if value is None:
        return None
    try:
        numbers = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if len(numbers) != count or not all(np.isfinite(numbers)):
        return None
    return numbers


def _plain_numbers(data: bytes) -> tuple[float, ...] | None:
    """The DS values pydicom would give, when every one is a plain number (else None)."""
    items = data.decode("ascii").strip().rstrip(" \x00").split("\\")
    try:
        return tuple(float(item) for item in items if item.strip() or _empty_item())
    except ValueError:
        return None


def _empty_item() -> bool:
    raise ValueError("an empty value among several")
