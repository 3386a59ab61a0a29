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
import mmap
import os
import struct
import warnings as _pywarnings
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from typing import IO, Any, Union

import numpy as np
import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from .header import PIXEL_DATA, UNDEFINED_LENGTH, DicomRejected, InstanceHeader, checked_header, element_as_parsed
from .pixels import decode, decode_frame, decode_frames

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes]]

# Elements larger than this are skipped (not loaded) when only the header is wanted.
HEADER_DEFER_BYTES = 1024


def read_header(source: Source, *, name: str) -> InstanceHeader:
    """Read and check one instance's header; pixel data is located, not loaded."""
    with _opened(source, name) as (fp, end):
        dataset = _parse(fp, end, name, defer=True)
        return checked_header(dataset, name)


def load_pixels(source: Source, header: InstanceHeader) -> np.ndarray:
    """Decode the pixels as float32 in modality units (rescaled, MONOCHROME1 inverted).

    Shape is ``(rows, columns)`` for one frame, ``(frames, rows, columns)`` for several.
    The file is checked again in full, since it may have changed since ``read_header``.
    """
    name = header.name
    with _opened(source, name) as (fp, end):
        dataset = _parse(fp, end, name, defer=False)
    current = checked_header(dataset, name)
    if current.sop_instance_uid != header.sop_instance_uid:
        raise DicomRejected("file is not the one whose header was read", name)
    return decode(dataset, current)


def read_instance(source: Source, *, name: str) -> tuple[InstanceHeader, np.ndarray]:
    """Header and pixels from a single read of the file (the ingest path)."""
    with _opened(source, name) as (fp, end):
        dataset = _parse(fp, end, name, defer=False)
    header = checked_header(dataset, name)
    return header, decode(dataset, header)


class Frames:
    """An instance's header and its frames, decoded one at a time (see :func:`open_frames`)."""

    def __init__(self, dataset: Dataset, header: InstanceHeader) -> None:
        self._dataset = dataset
        self.header = header

    def __len__(self) -> int:
        return self.header.number_of_frames

    def __iter__(self) -> Iterator[np.ndarray]:
        """Each frame in file order as float32 (rows, columns) in modality units."""
        return decode_frames(self._dataset, self.header)

    def frame(self, index: int) -> np.ndarray:
        """One frame (0-based, in file order)."""
        return decode_frame(self._dataset, self.header, index)


@contextmanager
def open_frames(source: Source, *, name: str, header: InstanceHeader | None = None) -> Iterator[Frames]:
    """Read and check one instance, and give its frames one at a time while the block runs.

    Memory stays near the size of the pixel data, whatever the number of frames: uncompressed
    little-endian frames are views of the bytes given (no copy at all when ``source`` is bytes)
    or of the file mapped into memory (a frame read is only that frame's pages), other syntaxes
    are decoded a frame at a time, and only one frame is ever held in floats.

    ``header``, when given, is this file's header as read before (a stored file never changes):
    an Enhanced MR's functional groups take pydicom far longer to read than one frame takes to
    decode. The file must still be the same instance.
    """
    data = bytes(source) if isinstance(source, (bytearray, memoryview)) else source
    with ExitStack() as stack:
        fp, end = stack.enter_context(_opened(data, name))
        dataset = _parse(fp, end, name, defer=True)
        if header is None:
            header = checked_header(dataset, name)
        elif str(dataset.get("SOPInstanceUID", "")).strip() != header.sop_instance_uid:
            raise DicomRejected("file is not the one whose header was read", name)
        pixels = data if isinstance(data, bytes) else _mapped(fp, stack)
        if pixels is None or not _share_pixel_bytes(dataset, pixels):
            fp.seek(0)
            dataset = _parse(fp, end, name, defer=False)
        try:
            yield Frames(dataset, header)
        finally:
            del dataset  # the views of a mapped file go before the mapping is closed


def _mapped(fp: IO[bytes], stack: ExitStack) -> mmap.mmap | None:
    """The file mapped read-only (closed when the stack ends), or None when it is not a real file."""
    try:
        mapping = mmap.mmap(fp.fileno(), 0, access=mmap.ACCESS_READ)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    stack.callback(_close_mapping, mapping)
    return mapping


def _close_mapping(mapping: mmap.mmap) -> None:
    # A caller still holding a view of the pixels keeps the mapping open until the view goes.
    with suppress(BufferError):
        mapping.close()


def _share_pixel_bytes(dataset: Dataset, data: bytes | mmap.mmap) -> bool:
    """Point the deferred uncompressed pixel data of a dataset read from ``data`` at those bytes.

    False when the pixel data is not a deferred little-endian native value (the caller then
    reads the dataset in full): only that case can be decoded straight from a view.
    """
    element = element_as_parsed(dataset, PIXEL_DATA)
    syntax = str(dataset.file_meta.get("TransferSyntaxUID", ""))
    if (
        syntax not in (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
        or not isinstance(element, RawDataElement)
        or element.value is not None
        or element.value_tell is None
        or element.length == UNDEFINED_LENGTH
        or element.value_tell + element.length > len(data)
    ):
        return False
    start = element.value_tell
    view = memoryview(data)[start : start + element.length]
    # numpy reads the view as it would the bytes; pydicom's annotation only names bytes.
    dataset[PIXEL_DATA] = element._replace(value=view)  # type: ignore[arg-type]
    return True


# --------------------------------------------------------------------- reading


@contextmanager
def _opened(source: Source, name: str) -> Iterator[tuple[IO[bytes], int]]:
    """Yield a seekable binary file and the absolute offset of its end."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        # BytesIO shares the bytes until written to; asking it for a buffer would copy them.
        yield io.BytesIO(data), len(data)
    elif isinstance(source, (str, os.PathLike)):
        # Opened outside the `with` so that only a failure to open becomes "cannot be opened",
        # not an error raised by the caller's body.
        try:
            handle = open(source, "rb")  # noqa: SIM115
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
    dataset = _read(fp, name, defer=defer)
    if _ends_with_the_file(dataset, end):
        return dataset
    # The quick test cannot vouch for the file (deflated, an unusual last element, or cut
    # short): read it again watching every read, and check every element.
    fp.seek(start)
    watched = _ShortReadWatch(fp)
    dataset = _read(watched, name, defer=defer)  # type: ignore[arg-type]
    inflated = dataset.file_meta.get("TransferSyntaxUID") == DeflatedExplicitVRLittleEndian
    if watched.cut_in_a_tag or _is_truncated(dataset, end, check_positions=not inflated):
        raise DicomRejected("file is truncated", name)
    return dataset


def _read(fp: IO[bytes], name: str, *, defer: bool) -> Dataset:
    try:
        with _pywarnings.catch_warnings(record=True) as caught:
            _pywarnings.simplefilter("always")
            dataset = pydicom.dcmread(fp, defer_size=HEADER_DEFER_BYTES if defer else None, force=False)
    except InvalidDicomError as exc:
        raise DicomRejected("not a DICOM file", name) from exc
    except (EOFError, struct.error, zlib.error) as exc:
        raise DicomRejected("file is truncated", name) from exc
    except Exception as exc:  # pydicom raises many types on damaged input
        raise DicomRejected(f"damaged DICOM file ({type(exc).__name__})", name) from exc
    # On an early end of file pydicom only warns, and drops what it had read.
    if any("End of file" in str(w.message) for w in caught):
        raise DicomRejected("file is truncated", name)
    return dataset


def _ends_with_the_file(dataset: Dataset, end: int) -> bool:
    """True when the element with the highest tag is whole and its value ends where the file ends.

    pydicom stops silently when the file ends inside a tag, and keeps a value that came
    back short; either way the last element read does not end at the end of the file,
    and only the last element read can be short. Tags are in ascending order in a valid
    file, so the highest is the last; when it is not, this says False and the caller
    checks the slow way. A deflated dataset's positions are in the inflated stream, so
    it is always left to the slow way.
    """
    if not len(dataset) or dataset.file_meta.get("TransferSyntaxUID") == DeflatedExplicitVRLittleEndian:
        return False
    element = element_as_parsed(dataset, max(dataset.keys()))
    if not isinstance(element, RawDataElement) or element.value_tell is None:
        return False
    if element.length == UNDEFINED_LENGTH:
        # Encapsulated pixel data: its value stops before the 8-byte sequence delimiter.
        return element.value is not None and element.value_tell + len(element.value) + 8 == end
    if element.value is not None and len(element.value) != element.length:
        return False
    return element.value_tell + element.length == end


class _ShortReadWatch:
    """A file wrapper noticing when the file ends inside an element's tag or length.

    pydicom reads a tag with its length 8 bytes at a time (none come back at a clean
    end of file), and 4 bytes at a time for long lengths, item tags and delimiters,
    which are never at a clean end; it stops silently when the bytes run out.
    """

    def __init__(self, fp: IO[bytes]) -> None:
        self._fp = fp
        self.cut_in_a_tag = False

    def read(self, size: int = -1) -> bytes:
        data = self._fp.read(size)
        if (size == 8 and 0 < len(data) < 8) or (size == 4 and len(data) < 4):
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

    pydicom keeps a value that came back short, and a value skipped by
    ``defer_size`` may point past the end of the file.
    """
    for tag in dataset.keys():  # noqa: SIM118 - iterating a Dataset yields elements, not tags
        element = element_as_parsed(dataset, tag)
        if not isinstance(element, RawDataElement) or element.length == UNDEFINED_LENGTH:
            continue
        if element.value is not None and len(element.value) < element.length:
            return True
        if check_positions and element.value_tell + element.length > end:
            return True
    return False


__all__ = [
    "DicomRejected",
    "Frames",
    "InstanceHeader",
    "Source",
    "load_pixels",
    "open_frames",
    "read_header",
    "read_instance",
]
