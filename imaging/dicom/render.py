"""Greyscale images for the browser: window/level, PNG and thumbnails.

The window follows the DICOM linear VOI function (PS3.3 C.11.2.1.2.1) so what the
app shows matches what a workstation shows for the same centre and width:

    x <= c - 0.5 - (w - 1) / 2          -> 0
    x >  c - 0.5 + (w - 1) / 2          -> 255
    else ((x - (c - 0.5)) / (w - 1) + 0.5) * 255

rounded half up to an integer.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image


def window(image: np.ndarray, center: float, width: float) -> np.ndarray:
    if width < 1:
        raise ValueError(f"window width must be at least 1, got {width}")
    values = np.asarray(image, dtype=np.float64)
    if width == 1:
        return np.where(values <= center - 0.5, 0, 255).astype(np.uint8)
    scaled = ((values - (center - 0.5)) / (width - 1) + 0.5) * 255.0
    return np.floor(np.clip(scaled, 0.0, 255.0) + 0.5).astype(np.uint8)


def auto_window(image: np.ndarray, low_percentile: float = 1.0, high_percentile: float = 99.8) -> tuple[float, float]:
    """(center, width) spanning the given percentiles of the finite pixel values.

    Percentiles rather than min/max so that a few hot pixels or an empty background
    do not wash the ducts out.
    """
    values = np.asarray(image)
    values = values[np.isfinite(values)] if values.dtype.kind == "f" else values.ravel()
    if values.size == 0:
        return 0.5, 1.0
    if values.size > 1_000_000:  # a regular subsample is plenty for percentiles
        values = values[:: values.size // 1_000_000 + 1]
    low, high = np.percentile(values, [low_percentile, high_percentile])
    width = max(float(high - low), 1.0)
    return float(low) + width / 2.0, width


def square_pixels(image: np.ndarray, pixel_spacing: tuple[float, float] | None) -> np.ndarray:
    """Resample a uint8 image so that rows and columns are equally spaced (left as it is without
    a usable spacing: one stored before zero or negative spacings were refused must not fail)."""
    if pixel_spacing is None or not all(math.isfinite(v) and v > 0 for v in pixel_spacing):
        return image
    row_spacing, col_spacing = pixel_spacing
    if abs(row_spacing - col_spacing) < 1e-3 * max(row_spacing, col_spacing):
        return image
    finest = min(row_spacing, col_spacing)
    rows = max(1, round(image.shape[0] * row_spacing / finest))
    cols = max(1, round(image.shape[1] * col_spacing / finest))
    return np.asarray(Image.fromarray(image).resize((cols, rows), Image.Resampling.BILINEAR))


def to_png(image: np.ndarray, *, pixel_spacing: tuple[float, float] | None = None) -> bytes:
    """PNG bytes of a uint8 greyscale image (resampled to square pixels if spacing given)."""
    _require_uint8(image)
    buffer = io.BytesIO()
    # Fast zlib level: 5x quicker than the default for about 15 % more bytes (slices are rendered on request).
    Image.fromarray(square_pixels(image, pixel_spacing)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def thumbnail(image: np.ndarray, size: int = 128, *, pixel_spacing: tuple[float, float] | None = None) -> bytes:
    """PNG no larger than size x size, keeping the aspect ratio.

    A non-uint8 image is windowed with :func:`auto_window` first.
    """
    if image.dtype != np.uint8:
        image = window(image, *auto_window(image))
    _require_uint8(image)
    picture = Image.fromarray(square_pixels(image, pixel_spacing))
    picture.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=1)  # as to_png: quick, a little larger
    return buffer.getvalue()


def _require_uint8(image: np.ndarray) -> None:
    if image.dtype != np.uint8 or image.ndim != 2:
        raise ValueError(f"expected a 2D uint8 image, got {image.dtype} {image.shape}")
