"""Syntaxes other viewers read: the pixels match DCMTK's decoder, an independent implementation.

pydicom's ``JPEG-lossy.dcm`` (12-bit JPEG Extended whose scan header has a spectral
selection of 0 to 0) and ``SC_ybr_full_422_uncompressed.dcm`` (native YBR_FULL_422) are
read by GDCM, DCMTK and Orthanc. Both ship in pydicom's wheel (MIT licence).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pydicom.data
import pytest
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import JPEGExtended12Bit

from imaging.dicom import DicomRejected, read_instance
from imaging.dicom.pixels import _repaired_frame
from tests.conftest import IN_CI

TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"
JPEG_EXTENDED = TEST_FILES / "JPEG-lossy.dcm"
YBR_422 = TEST_FILES / "SC_ybr_full_422_uncompressed.dcm"


@pytest.fixture
def dcmtk(tmp_path):
    """Runs a DCMTK tool; skipped only outside CI when DCMTK is not installed (CI installs it)."""
    if shutil.which("dcmdjpeg") is None or shutil.which("dcm2pnm") is None:
        if IN_CI:
            pytest.fail("dcmtk is not installed (.ci/run installs it)")
        pytest.skip("dcmtk is not installed")

    def run(tool: str, source: Path, output_name: str, *options: str) -> Path:
        output = tmp_path / output_name
        subprocess.run([tool, *options, str(source), str(output)], check=True, capture_output=True, timeout=60)
        return output

    return run


def test_twelve_bit_jpeg_extended_is_accepted_and_matches_dcmtk(dcmtk):
    header, pixels = read_instance(JPEG_EXTENDED, name="JPEG-lossy.dcm")
    assert header.transfer_syntax_uid == JPEGExtended12Bit
    assert header.lossy
    assert pixels.shape == (1024, 256)

    decompressed = dcmtk("dcmdjpeg", JPEG_EXTENDED, "native.dcm")
    reference = pydicom.dcmread(decompressed).pixel_array.astype(np.float32)
    reference = reference * header.rescale_slope + header.rescale_intercept
    assert reference.max() > 200  # a real image, not a blank one
    # Both are IJG-style integer IDCTs, which may round a value differently.
    difference = np.abs(pixels - reference)
    assert difference.max() <= 1
    assert np.count_nonzero(difference) < 0.05 * difference.size


def test_every_frame_of_a_multi_frame_jpeg_extended_file_is_repaired(tmp_path):
    dataset = pydicom.dcmread(JPEG_EXTENDED)
    frame = next(generate_frames(dataset.PixelData, number_of_frames=1))
    repaired = _repaired_frame(frame)
    assert repaired is not None and len(repaired) == len(frame)
    assert _repaired_frame(repaired) is None  # a conformant frame is left as it is
    scan = repaired.index(b"\xff\xda")
    assert repaired[scan + 7 : scan + 10] == b"\x00\x3f\x00"  # Ss, Se, Ah/Al of one component
    changed = [i for i in range(len(frame)) if frame[i] != repaired[i]]
    assert changed == [scan + 8]  # only the end of spectral selection

    dataset.PixelData = encapsulate([frame, frame])
    dataset.NumberOfFrames = 2
    path = tmp_path / "two.dcm"
    dataset.save_as(path, enforce_file_format=True)
    _, pixels = read_instance(path, name="two.dcm")
    single = read_instance(JPEG_EXTENDED, name="one.dcm")[1]
    assert pixels.shape == (2, 1024, 256)
    np.testing.assert_array_equal(pixels[0], single)
    np.testing.assert_array_equal(pixels[1], single)


def test_native_ybr_full_422_is_accepted_as_its_stored_luminance():
    header, pixels = read_instance(YBR_422, name="ybr.dcm")
    assert header.photometric_interpretation == "YBR_FULL_422"
    assert pixels.shape == (100, 100)
    # Stored as Y0 Y1 Cb Cr for each pair of pixels (PS3.3 C.7.6.3.1.2): Y is read straight
    # from the bytes, independently of any decoder.
    raw = np.frombuffer(pydicom.dcmread(YBR_422).PixelData, np.uint8).reshape(100, 50, 4)
    luminance = raw[:, :, :2].reshape(100, 100).astype(np.float32)
    assert len(np.unique(luminance)) > 5
    np.testing.assert_array_equal(pixels, luminance)


def test_native_ybr_full_422_luminance_matches_dcmtk_colour(dcmtk):
    _, pixels = read_instance(YBR_422, name="ybr.dcm")
    bitmap = dcmtk("dcm2pnm", YBR_422, "ybr.ppm", "+op").read_bytes()
    magic, size, maximum, data = bitmap.split(b"\n", 3)
    assert (magic, size, maximum) == (b"P6", b"100 100", b"255")
    rgb = np.frombuffer(data, np.uint8).reshape(100, 100, 3).astype(np.float32)
    luminance = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    # DCMTK rounds and clips to 8-bit RGB; Y is the exact luminance.
    assert np.abs(pixels - luminance).max() < 2


def test_full_ybr_needs_three_values_a_pixel(tmp_path):
    dataset = pydicom.dcmread(YBR_422)
    dataset.PhotometricInterpretation = "YBR_FULL"  # same bytes, but no longer subsampled
    path = tmp_path / "wrong.dcm"
    dataset.save_as(path, enforce_file_format=True)
    with pytest.raises(DicomRejected, match=r"expected 30000 bytes, found 20000"):
        read_instance(path, name="wrong.dcm")
