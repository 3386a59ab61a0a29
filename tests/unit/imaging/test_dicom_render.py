"""Window/level by the DICOM linear formula, PNG and thumbnails."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from imaging.dicom import auto_window, square_pixels, thumbnail, to_png, window


def test_window_by_hand():
    # centre 40, width 400: at or below 40 - 0.5 - 199.5 = -160 is black,
    # above 40 - 0.5 + 199.5 = 239 is white.
    values = np.array([-1000, -160, -159, 39.5, 100, 239, 239.5, 3000], dtype=np.float32)
    # -159: ((-159 - 39.5) / 399 + 0.5) * 255 = 0.639 -> 1;  39.5 -> 127.5 -> 128 (half up)
    # 100: ((100 - 39.5) / 399 + 0.5) * 255 = 166.165 -> 166;  239: 254.68 -> 255
    assert window(values, 40, 400).tolist() == [0, 0, 1, 128, 166, 255, 255, 255]


def test_window_width_one_is_a_threshold():
    assert window(np.array([9.0, 9.5, 9.6, 10.0]), 10, 1).tolist() == [0, 0, 255, 255]
    with pytest.raises(ValueError):
        window(np.zeros(3), 0, 0.5)


@given(center=st.floats(-2000, 2000), width=st.floats(1, 5000), value=st.floats(-5000, 5000))
def test_window_is_monotonic_and_bounded(center, width, value):
    low, high = window(np.array([value, value + 1.0]), center, width)
    assert 0 <= low <= high <= 255


def test_auto_window_spans_the_percentiles():
    image = np.arange(1000, dtype=np.float32).reshape(25, 40)
    center, width = auto_window(image, 1.0, 99.0)
    assert center == pytest.approx(499.5)
    assert width == pytest.approx(989.01 - 9.99, abs=0.01)
    assert auto_window(np.full((4, 4), 7.0)) == (7.5, 1.0)


def test_png_round_trip():
    image = (np.arange(64 * 32) % 256).astype(np.uint8).reshape(32, 64)
    decoded = np.asarray(Image.open(io.BytesIO(to_png(image))))
    np.testing.assert_array_equal(decoded, image)
    with pytest.raises(ValueError):
        to_png(image.astype(np.float32))


def test_non_square_pixels_are_resampled():
    image = np.zeros((10, 30), dtype=np.uint8)
    assert square_pixels(image, (1.5, 1.0)).shape == (15, 30)
    assert square_pixels(image, (1.0, 1.0)) is image
    decoded = Image.open(io.BytesIO(to_png(image, pixel_spacing=(3.0, 1.0))))
    assert decoded.size == (30, 30)


def test_thumbnail_keeps_the_aspect_ratio():
    image = np.random.default_rng(0).normal(1000, 300, (200, 400)).astype(np.float32)
    picture = Image.open(io.BytesIO(thumbnail(image)))
    assert picture.size == (128, 64)
    assert Image.open(io.BytesIO(thumbnail(image[:, :100].astype(np.float32), size=50))).size == (
        25,
        50,
    )
