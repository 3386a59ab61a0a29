"""Decoding pixel data to float32 in modality units.

Why float32 in modality units: MIPs, windows and thresholds then mean the same thing
for every file of a series, whatever its rescale or photometric interpretation.
"""

from __future__ import annotations

import warnings as _pywarnings

import numpy as np
from pydicom.dataset import Dataset

from .header import DicomRejected, InstanceHeader, check_decodable


def decode(dataset: Dataset, header: InstanceHeader) -> np.ndarray:
    name = header.name
    photometric = header.photometric_interpretation
    if photometric == "PALETTE COLOR":
        raise DicomRejected("palette colour image, not a greyscale MR image", name)
    if header.compressed:
        check_decodable(header.transfer_syntax_uid, name)
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
