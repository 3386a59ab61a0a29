"""Strict reading of uploaded DICOM instances.

An upload may hold anything: reports, screenshots, half-copied files. This module
accepts a file only when pydicom reads it under its normal rules (``force=False``):
a 128-byte preamble, the ``DICM`` marker and a File Meta Information group with a
transfer syntax. Raw datasets without that header (pydicom's ``no_meta.dcm`` and
``ExplVR_LitEndNoMeta.dcm`` are examples) are rejected as "not a DICOM file ... no
DICOM file header": reading them needs ``force=True``, which also "reads" many files
that are not DICOM at all, and every scanner and PACS can export the standard form.

Every refusal is a :class:`DicomRejected` whose ``reason`` a transplant coordinator
can act on. A non-MR modality is *not* a refusal: the header reports it and
:func:`imaging.dicom.checks.warnings` explains that the file is kept but never used
as MRCP.
"""

from __future__ import annotations

import io
import os
import re
import struct
import warnings as _pywarnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, Union

import numpy as np
import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import get_decoder
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, MediaStorageDirectoryStorage

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes]]

PIXEL_DATA = 0x7FE00010
FLOAT_PIXEL_DATA = (0x7FE00008, 0x7FE00009)
UNDEFINED_LENGTH = 0xFFFFFFFF
# Elements larger than this are skipped (not loaded) when only the header is wanted.
HEADER_DEFER_BYTES = 1024
_UID_PATTERN = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_LOSSY_SYNTAXES = {
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51",  # JPEG Extended
    "1.2.840.10008.1.2.4.81",  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000 (lossy allowed)
    "1.2.840.10008.1.2.4.93",  # JPEG 2000 Part 2 (lossy allowed)
    "1.2.840.10008.1.2.4.203",  # HTJ2K (lossy allowed)
}


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


# --------------------------------------------------------------------------- API


def read_header(source: Source, *, name: str) -> InstanceHeader:
    """Read and check one instance's header; pixel data is located, not loaded."""
    with _opened(source, name) as (fp, end):
        dataset = _parse(fp, end, name, defer=True)
        return _checked_header(dataset, name)


def load_pixels(source: Source, header: InstanceHeader) -> np.ndarray:
    """Decode the pixels as float32 in modality units (rescaled, MONOCHROME1 inverted).

    Shape is ``(rows, columns)`` for one frame, ``(frames, rows, columns)`` for several.
    """
    name = header.name
    with _opened(source, name) as (fp, end):
        dataset = _parse(fp, end, name, defer=False)
    _checked_header(dataset, name)
    return _decode(dataset, header)


def read_instance(source: Source, *, name: str) -> tuple[InstanceHeader, np.ndarray]:
    """Header and pixels from a single read of the file (the ingest path)."""
    with _opened(source, name) as (fp, end):
        dataset = _parse(fp, end, name, defer=False)
    header = _checked_header(dataset, name)
    return header, _decode(dataset, header)


# --------------------------------------------------------------------- reading


@contextmanager
def _opened(source: Source, name: str) -> Iterator[tuple[IO[bytes], int]]:
    """Yield a seekable binary file and the absolute offset of its end."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        fp: IO[bytes] = io.BytesIO(bytes(source))
        yield fp, fp.getbuffer().nbytes
    elif isinstance(source, (str, os.PathLike)):
        try:
            handle = open(source, "rb")
        except OSError as exc:
            raise DicomRejected(f"file cannot be opened ({exc.strerror})", name) from exc
        with handle:
            yield handle, os.fstat(handle.fileno()).st_size
    else:
        fp = source
        if not (hasattr(fp, "seekable") and fp.seekable()):
            fp = io.BytesIO(fp.read())
        start = fp.tell()
        end = fp.seek(0, io.SEEK_END)
        fp.seek(start)
        yield fp, end


def _parse(fp: IO[bytes], end: int, name: str, *, defer: bool) -> Dataset:
    start = fp.tell()
    remaining = end - start
    if remaining <= 0:
        raise DicomRejected("file is empty", name)
    head = fp.read(132)
    fp.seek(start)
    if len(head) < 132 or head[128:132] != b"DICM":
        raise DicomRejected(_not_dicom_reason(head), name)
    watched = _ShortReadWatch(fp)
    try:
        with _pywarnings.catch_warnings(record=True) as caught:
            _pywarnings.simplefilter("always")
            dataset = pydicom.dcmread(
                watched,  # type: ignore[arg-type]
                defer_size=HEADER_DEFER_BYTES if defer else None,
                force=False,
            )
    except InvalidDicomError as exc:
        raise DicomRejected("not a DICOM file", name) from exc
    except (EOFError, struct.error, zlib.error) as exc:
        raise DicomRejected("file is truncated", name) from exc
    except Exception as exc:  # pydicom raises many types on damaged input
        raise DicomRejected(f"damaged DICOM file ({type(exc).__name__})", name) from exc
    # On an early end of file pydicom only warns, and drops what it had read.
    if watched.cut_in_a_tag or any("End of file" in str(w.message) for w in caught):
        raise DicomRejected("file is truncated", name)
    syntax = dataset.file_meta.get("TransferSyntaxUID")
    inflated = syntax == DeflatedExplicitVRLittleEndian
    if _is_truncated(dataset, end, check_positions=not inflated):
        raise DicomRejected("file is truncated", name)
    return dataset


class _ShortReadWatch:
    """A file wrapper noticing when the file ends inside an element's tag or length.

    pydicom reads tags and lengths 4 or 8 bytes at a time and stops silently when
    fewer bytes come back; a clean end of file returns none at all.
    """

    def __init__(self, fp: IO[bytes]) -> None:
        self._fp = fp
        self.cut_in_a_tag = False

    def read(self, size: int = -1) -> bytes:
        data = self._fp.read(size)
        if size in (4, 8) and 0 < len(data) < size:
            self.cut_in_a_tag = True
        return data

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._fp, attribute)


def _not_dicom_reason(head: bytes) -> str:
    if _looks_like_raw_dataset(head):
        return (
            "not a DICOM file: it has no DICOM file header (preamble and 'DICM' marker); "
            "export the images again as standard DICOM files"
        )
    return "not a DICOM file"


def _looks_like_raw_dataset(head: bytes) -> bool:
    """A dataset written without the Part 10 header starts with a group 0002/0008 tag."""
    if len(head) < 8:
        return False
    group_le, group_be = struct.unpack("<H", head[:2])[0], struct.unpack(">H", head[:2])[0]
    return group_le in (0x0002, 0x0008) or group_be in (0x0002, 0x0008)


def _is_truncated(dataset: Dataset, end: int, *, check_positions: bool) -> bool:
    """True when an element claims more bytes than the file holds.

    pydicom stops silently at the end of the file; it leaves short values, values
    past the end (when skipped by ``defer_size``) or a few stray bytes of a tag.
    """
    last_end = None
    for tag in dataset.keys():
        element = dataset.get_item(tag, keep_deferred=True)
        if not isinstance(element, RawDataElement) or element.length == UNDEFINED_LENGTH:
            last_end = None
            continue
        if element.value is not None and len(element.value) < element.length:
            return True
        last_end = element.value_tell + element.length
        if check_positions and last_end > end:
            return True
    return check_positions and last_end is not None and 0 < end - last_end < 8


# ---------------------------------------------------------------------- checks


def _checked_header(dataset: Dataset, name: str) -> InstanceHeader:
    meta = dataset.file_meta
    syntax = str(meta.get("TransferSyntaxUID", "") or "").strip()
    if not syntax:
        raise DicomRejected("the DICOM file header has no transfer syntax", name)
    if not UID(syntax).is_transfer_syntax:
        raise DicomRejected(f"unknown transfer syntax {syntax}, which this server cannot read", name)
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
        _check_decodable(syntax, name)
    return header


def _check_pixel_data(dataset: Dataset, syntax: str, name: str) -> int | None:
    """Return the native pixel byte count (None if encapsulated) after checking it."""
    if PIXEL_DATA not in dataset:
        if any(tag in dataset for tag in FLOAT_PIXEL_DATA):
            raise DicomRejected("floating-point pixel data is not supported", name)
        raise DicomRejected("no pixel data", name)
    for keyword, label in (
        ("Rows", "image height (Rows)"),
        ("Columns", "image width (Columns)"),
        ("BitsAllocated", "Bits Allocated"),
    ):
        if not _int(dataset, keyword):
            raise DicomRejected(f"missing {label}", name)
    if not _text(dataset, "PhotometricInterpretation"):
        raise DicomRejected("missing Photometric Interpretation", name)
    element = dataset.get_item(PIXEL_DATA, keep_deferred=True)
    length = element.length if isinstance(element, RawDataElement) else len(element.value or b"")
    if UID(syntax).is_encapsulated:
        return None
    frames = max(_int(dataset, "NumberOfFrames") or 1, 1)
    bits = (
        _int(dataset, "Rows")
        * _int(dataset, "Columns")
        * (_int(dataset, "SamplesPerPixel") or 1)
        * _int(dataset, "BitsAllocated")
    )
    frame = (bits + 7) // 8
    expected = (bits * frames + 7) // 8
    # Trailing padding shorter than a frame is tolerated (pydicom's MR_small_padded.dcm).
    if length == UNDEFINED_LENGTH or length < expected or length - expected >= max(frame, 2):
        found = "undefined length" if length == UNDEFINED_LENGTH else f"found {length}"
        raise DicomRejected(
            f"pixel data does not match its header (expected {expected} bytes, {found})", name
        )
    return expected


def _check_decodable(syntax: str, name: str) -> None:
    reason = f"compressed with {transfer_syntax_name(syntax)}, which this server cannot decode"
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError as exc:
        raise DicomRejected(reason, name) from exc
    if not decoder.is_available:
        raise DicomRejected(reason, name)


def _build_header(
    ds: Dataset, name: str, syntax: str, sop_class: str, uids: dict[str, str], pixel_bytes: int | None
) -> InstanceHeader:
    return InstanceHeader(
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
        series_description=_text(ds, "SeriesDescription"),
        protocol_name=_text(ds, "ProtocolName"),
        series_number=_int(ds, "SeriesNumber"),
        instance_number=_int(ds, "InstanceNumber"),
        echo_time=_float(ds, "EchoTime"),
        repetition_time=_float(ds, "RepetitionTime"),
        mr_acquisition_type=_text(ds, "MRAcquisitionType").upper(),
        rows=_int(ds, "Rows") or 0,
        columns=_int(ds, "Columns") or 0,
        samples_per_pixel=_int(ds, "SamplesPerPixel") or 1,
        bits_allocated=_int(ds, "BitsAllocated") or 0,
        bits_stored=_int(ds, "BitsStored") or _int(ds, "BitsAllocated") or 0,
        pixel_representation=_int(ds, "PixelRepresentation") or 0,
        number_of_frames=max(_int(ds, "NumberOfFrames") or 1, 1),
        photometric_interpretation=_text(ds, "PhotometricInterpretation").upper(),
        pixel_spacing=_floats(ds, "PixelSpacing", 2),  # type: ignore[arg-type]
        image_position=_floats(ds, "ImagePositionPatient", 3),  # type: ignore[arg-type]
        image_orientation=_floats(ds, "ImageOrientationPatient", 6),  # type: ignore[arg-type]
        slice_thickness=_float(ds, "SliceThickness"),
        spacing_between_slices=_float(ds, "SpacingBetweenSlices"),
        transfer_syntax_uid=syntax,
        rescale_slope=_float(ds, "RescaleSlope") or 1.0,
        rescale_intercept=_float(ds, "RescaleIntercept") or 0.0,
        window_center=_float(ds, "WindowCenter"),
        window_width=_float(ds, "WindowWidth"),
        lossy=syntax in _LOSSY_SYNTAXES or _text(ds, "LossyImageCompression") == "01",
        pixel_data_bytes=pixel_bytes,
    )


# -------------------------------------------------------------------- decoding


def _decode(dataset: Dataset, header: InstanceHeader) -> np.ndarray:
    name = header.name
    photometric = header.photometric_interpretation
    if photometric == "PALETTE COLOR":
        raise DicomRejected("palette colour image, not a greyscale MR image", name)
    if header.compressed:
        _check_decodable(header.transfer_syntax_uid, name)
    try:
        with _pywarnings.catch_warnings():
            _pywarnings.simplefilter("ignore")
            stored = dataset.pixel_array
    except Exception as exc:  # the decoder's own message goes to the logs via __cause__
        raise DicomRejected(
            f"pixel data could not be decoded ({header.transfer_syntax_name})", name
        ) from exc
    if header.samples_per_pixel == 3:
        # pydicom returns RGB; keep the luminance (ITU-R BT.601) for a greyscale view.
        pixels = stored.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    else:
        pixels = stored.astype(np.float32)
    if header.rescale_slope != 1.0:
        pixels *= np.float32(header.rescale_slope)
    if header.rescale_intercept != 0.0:
        pixels += np.float32(header.rescale_intercept)
    if photometric == "MONOCHROME1":
        low, high = _stored_range(header)
        # Invert around the representable range so every slice of a series flips alike.
        pixels = np.float32(low + high) - pixels
    return pixels


def _stored_range(header: InstanceHeader) -> tuple[float, float]:
    bits = header.bits_stored or header.bits_allocated
    if header.pixel_representation:
        low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    else:
        low, high = 0, 2**bits - 1
    ends = sorted(v * header.rescale_slope + header.rescale_intercept for v in (low, high))
    return ends[0], ends[1]


# ------------------------------------------------------------- value helpers


def _value(ds: Dataset, keyword: str) -> Any:
    try:
        return ds.get(keyword)
    except Exception:  # a malformed value; treat as absent
        return None


def _text(ds: Dataset, keyword: str) -> str:
    value = _value(ds, keyword)
    if value is None:
        return ""
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        value = "\\".join(str(v) for v in value)
    return str(value).strip().strip("\x00").strip()


def _first_number(ds: Dataset, keyword: str) -> Any:
    value = _value(ds, keyword)
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        value = value[0] if len(value) else None
    return value


def _float(ds: Dataset, keyword: str) -> float | None:
    value = _first_number(ds, keyword)
    try:
        number = float(value) if value is not None and str(value).strip() != "" else None
    except (TypeError, ValueError):
        return None
    return number if number is None or np.isfinite(number) else None


def _int(ds: Dataset, keyword: str) -> int | None:
    number = _float(ds, keyword)
    return int(number) if number is not None else None


def _floats(ds: Dataset, keyword: str, count: int) -> tuple[float, ...] | None:
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
