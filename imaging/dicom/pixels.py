"""Decoding pixel data to float32 in modality units.

Why float32 in modality units: MIPs, windows and thresholds then mean the same thing
for every file of a series, whatever its rescale or photometric interpretation.
"""

from __future__ import annotations

import warnings as _pywarnings
from collections.abc import Iterator

import numpy as np
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.pixels import iter_pixels, pixel_array
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGBaseline8Bit, JPEGExtended12Bit

from .header import (
    FLOAT_PIXEL_DATA,
    NUMBER_OF_FRAMES,
    PIXEL_DATA,
    DicomRejected,
    InstanceHeader,
    _int,
    _text,
    _uint,
    check_decodable,
    element_as_parsed,
)


def decode(dataset: Dataset, header: InstanceHeader) -> np.ndarray:
    """All the pixels: ``(rows, columns)`` for one frame, ``(frames, rows, columns)`` for several."""
    if header.number_of_frames == 1:
        return next(decode_frames(dataset, header))
    pixels = np.empty((header.number_of_frames, header.rows, header.columns), dtype=np.float32)
    for index, frame in enumerate(decode_frames(dataset, header)):
        pixels[index] = frame
    return pixels


def decode_frames(dataset: Dataset, header: InstanceHeader) -> Iterator[np.ndarray]:
    """Each frame in turn as float32 in modality units (rows, columns), with its own rescale.

    One frame's floats at a time: a 130-frame Enhanced MR never has its volume in floats.
    Uncompressed little-endian frames are views of the pixel bytes; anything else is decoded
    frame by frame by pydicom.
    """
    name = header.name
    luminance_stored = _decodable(header)
    try:
        stored = _plain_native(dataset)
        if stored is None:
            if header.transfer_syntax_uid in _JPEG_SEQUENTIAL:
                _repair_sequential_scans(dataset, header.number_of_frames)
            frames = _decoded_frames(dataset, header, luminance_stored)
        elif stored.ndim == 2:
            frames = iter([stored])
        else:
            frames = (_native_frame(frame, header) for frame in stored)
    except Exception as exc:  # the decoder's own message goes to the logs via __cause__
        raise DicomRejected(f"pixel data could not be decoded ({header.transfer_syntax_name})", name) from exc
    for index in range(header.number_of_frames):
        try:
            frame = next(frames, None)
        except Exception as exc:
            raise DicomRejected(f"pixel data could not be decoded ({header.transfer_syntax_name})", name) from exc
        if frame is None:
            raise DicomRejected(f"pixel data holds fewer than {header.number_of_frames} frames", name)
        yield _to_modality(frame, header, luminance_stored, *_rescale(header, index))


def decode_frame(dataset: Dataset, header: InstanceHeader, index: int) -> np.ndarray:
    """One frame (0-based) as float32 in modality units, without decoding the others where the syntax allows."""
    if not 0 <= index < header.number_of_frames:
        raise DicomRejected(f"no frame {index + 1} (the image has {header.number_of_frames})", header.name)
    if header.number_of_frames == 1:
        return next(decode_frames(dataset, header))
    luminance_stored = _decodable(header)
    try:
        stored = _plain_native(dataset)
        if stored is not None:
            frame = _native_frame(stored[index], header)
        else:
            if header.transfer_syntax_uid in _JPEG_SEQUENTIAL:
                _repair_sequential_scans(dataset, header.number_of_frames)
            with _pywarnings.catch_warnings():
                _pywarnings.simplefilter("ignore")
                frame = pixel_array(dataset, index=index, as_rgb=not luminance_stored)
    except Exception as exc:  # the decoder's own message goes to the logs via __cause__
        raise DicomRejected(f"pixel data could not be decoded ({header.transfer_syntax_name})", header.name) from exc
    return _to_modality(frame, header, luminance_stored, *_rescale(header, index))


def _decodable(header: InstanceHeader) -> bool:
    """Refuse what cannot be decoded; True when the luminance is stored (native YBR), kept as it is."""
    if header.photometric_interpretation == "PALETTE COLOR":
        raise DicomRejected("palette colour image, not a greyscale MR image", header.name)
    if header.compressed:
        check_decodable(header.transfer_syntax_uid, header.name)
    return not header.compressed and header.photometric_interpretation in _NATIVE_YBR


def _rescale(header: InstanceHeader, index: int) -> tuple[float, float]:
    """(slope, intercept) of a frame: its functional groups' when it has them, else the header's."""
    planes = header.frame_planes
    if index < len(planes):
        return planes[index].rescale_slope, planes[index].rescale_intercept
    return header.rescale_slope, header.rescale_intercept


def _decoded_frames(dataset: Dataset, header: InstanceHeader, luminance_stored: bool) -> Iterator[np.ndarray]:
    if header.number_of_frames == 1:
        if luminance_stored:
            # Keep Y as stored rather than going to RGB and back (which rounds and clips).
            dataset.pixel_array_options(as_rgb=False)
        with _pywarnings.catch_warnings():
            _pywarnings.simplefilter("ignore")
            pixels = dataset.pixel_array
        return iter([pixels])
    return _quietly(iter_pixels(dataset, as_rgb=not luminance_stored))


def _quietly(frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    while True:
        with _pywarnings.catch_warnings():
            _pywarnings.simplefilter("ignore")
            frame = next(frames, None)
        if frame is None:
            return
        yield frame


def _native_frame(frame: np.ndarray, header: InstanceHeader) -> np.ndarray:
    stored_bits, allocated = header.bits_stored, header.bits_allocated
    if stored_bits < allocated and not _within_stored_bits(frame, stored_bits, header.pixel_representation):
        shift = allocated - stored_bits
        frame = np.left_shift(frame, shift)
        np.right_shift(frame, shift, out=frame)
    return frame


def _to_modality(
    stored: np.ndarray, header: InstanceHeader, luminance_stored: bool, slope: float, intercept: float
) -> np.ndarray:
    if luminance_stored and header.samples_per_pixel == 3:
        pixels = stored[..., 0].astype(np.float32)
    elif header.samples_per_pixel == 3:
        # pydicom returns RGB; keep the luminance (ITU-R BT.601) for a greyscale view.
        pixels = stored.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    else:
        pixels = stored.astype(np.float32)
    if slope != 1.0:
        pixels *= np.float32(slope)
    if intercept != 0.0:
        pixels += np.float32(intercept)
    if header.photometric_interpretation == "MONOCHROME1":
        low, high = _stored_range(header, slope, intercept)
        # Invert around the representable range so every slice of a series flips alike.
        pixels = np.float32(low + high) - pixels
    return pixels


_NATIVE_YBR = frozenset({"YBR_FULL", "YBR_FULL_422"})
_JPEG_SEQUENTIAL = frozenset({JPEGBaseline8Bit, JPEGExtended12Bit})
# Start of Frame markers of the sequential DCT processes (baseline, extended).
_SEQUENTIAL_SOF = frozenset({0xC0, 0xC1})
_SOS = 0xDA
# Start and end of spectral selection, successive approximation: fixed for sequential scans.
_SEQUENTIAL_SPECTRAL = b"\x00\x3f\x00"
_STANDALONE_MARKERS = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})


def _repair_sequential_scans(dataset: Dataset, number_of_frames: int) -> None:
    """Give sequential JPEG scans the spectral selection the standard requires (0 to 63).

    Some encoders write other values (pydicom's 12-bit ``JPEG-lossy.dcm`` has 0 to 0).
    For the sequential processes these fields carry no information (ISO 10918-1
    B.2.3): the IJG library in DCMTK and GDCM warns and decodes, libjpeg refuses.
    Writing the required values lets libjpeg decode the same pixels.
    """
    count = max(number_of_frames, 1)
    # Only the repaired frames are kept: a file that needs none costs no copy of its frames.
    repaired = [_repaired_frame(frame) for frame in generate_frames(dataset.PixelData, number_of_frames=count)]
    if any(new is not None for new in repaired):
        frames = generate_frames(dataset.PixelData, number_of_frames=count)
        dataset.PixelData = encapsulate(
            [new if new is not None else old for new, old in zip(repaired, frames, strict=True)]
        )


def _repaired_frame(frame: bytes) -> bytes | None:
    """The frame with its sequential scan headers corrected, or None when none needed it."""
    patches: list[int] = []
    position, sequential, size = 0, False, len(frame)
    while True:
        # Jump to the next 0xFF: the entropy-coded data between markers is most of the frame.
        position = frame.find(b"\xff", position)
        if position < 0 or position + 4 > size:
            break
        marker = frame[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == 0x00 or marker in _STANDALONE_MARKERS:  # stuffed 0xFF in the data, restarts
            position += 2
            continue
        if marker == 0xD9:  # end of image
            break
        length = int.from_bytes(frame[position + 2 : position + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            sequential = marker in _SEQUENTIAL_SOF
        if marker == _SOS and sequential and length >= 6:
            spectral = position + 5 + 2 * frame[position + 4]
            if spectral + 3 <= size and frame[spectral : spectral + 3] != _SEQUENTIAL_SPECTRAL:
                patches.append(spectral)
        position += 2 + length
    if not patches:
        return None
    data = bytearray(frame)
    for spectral in patches:
        data[spectral : spectral + 3] = _SEQUENTIAL_SPECTRAL
    return bytes(data)


_PLAIN_SYNTAXES = frozenset({ExplicitVRLittleEndian, ImplicitVRLittleEndian})
_PLAIN_DTYPES = {(8, 0): "<u1", (8, 1): "<i1", (16, 0): "<u2", (16, 1): "<i2"}
_MONOCHROME = frozenset({"MONOCHROME1", "MONOCHROME2"})


def _plain_native(dataset: Dataset) -> np.ndarray | None:
    """The stored values of the common case, as ``dataset.pixel_array`` gives them, or None.

    One greyscale frame of 8 or 16 bits, uncompressed little endian: the array is a view
    of the pixel bytes, with the unused high bits corrected the way pydicom does it (shifted
    out and back, which sign-extends signed values). pydicom's decoder setup costs more
    than the decoding itself here; everything else (and anything it would refuse) still
    goes through pydicom.
    """
    if str(dataset.file_meta.get("TransferSyntaxUID", "")) not in _PLAIN_SYNTAXES:
        return None
    if any(tag in dataset for tag in FLOAT_PIXEL_DATA):
        return None
    frames = 1
    if NUMBER_OF_FRAMES in dataset:
        frames = _int(dataset, "NumberOfFrames") or 0
        if frames < 1:
            return None
    element = element_as_parsed(dataset, PIXEL_DATA)
    if not isinstance(element, RawDataElement) or not isinstance(element.value, (bytes, memoryview)):
        return None
    rows, columns = _uint(dataset, "Rows"), _uint(dataset, "Columns")
    allocated, stored_bits = _uint(dataset, "BitsAllocated"), _uint(dataset, "BitsStored")
    representation, samples = _uint(dataset, "PixelRepresentation"), _uint(dataset, "SamplesPerPixel")
    if allocated is None or representation is None:
        return None
    dtype = _PLAIN_DTYPES.get((allocated, representation))
    if (
        dtype is None
        or samples != 1
        or not rows
        or not columns
        or stored_bits is None
        or not 1 <= stored_bits <= allocated
        or _text(dataset, "PhotometricInterpretation") not in _MONOCHROME
    ):
        return None
    count = rows * columns
    if len(element.value) < count * frames * np.dtype(dtype).itemsize:
        return None
    if frames > 1 or NUMBER_OF_FRAMES in dataset:
        # Several frames stay one view of the bytes; each is corrected as it is read.
        return np.frombuffer(element.value, dtype=dtype, count=count * frames).reshape(frames, rows, columns)
    pixels = np.frombuffer(element.value, dtype=dtype, count=count).reshape(rows, columns)
    if stored_bits < allocated and not _within_stored_bits(pixels, stored_bits, representation):
        shift = allocated - stored_bits
        pixels = np.left_shift(pixels, shift)
        np.right_shift(pixels, shift, out=pixels)
    return pixels


def _within_stored_bits(pixels: np.ndarray, stored_bits: int, signed: int) -> bool:
    """True when no value uses the unused high bits, so the shifts would change nothing.

    The usual case; two reductions over the pixels cost less than the copy the shifts make.
    """
    if signed:
        limit = 1 << (stored_bits - 1)
        return bool(pixels.min() >= -limit and pixels.max() < limit)
    return bool(pixels.max() < (1 << stored_bits))


def _stored_range(header: InstanceHeader, slope: float, intercept: float) -> tuple[float, float]:
    bits = header.bits_stored or header.bits_allocated
    if header.pixel_representation:
        low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    else:
        low, high = 0, 2**bits - 1
    ends = sorted(v * slope + intercept for v in (low, high))
    return ends[0], ends[1]
