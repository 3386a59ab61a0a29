"""Strict DICOM reading: what is accepted, what is rejected and with which reason."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pydicom
import pydicom.data
import pytest
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import JPEG2000MCLossless

from imaging.dicom import DicomRejected, load_pixels, read_header, read_instance
from imaging.dicom.checks import looks_like_mrcp, warnings

# pydicom's shipped files, read straight from disk (get_testdata_file may download).
TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"
MR_VARIANTS = [
    "MR_small.dcm",
    "MR_small_RLE.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_expb.dcm",
    "MR_small_implicit.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_padded.dcm",
]


def shipped(name: str) -> Path:
    path = TEST_FILES / name
    assert path.exists(), f"pydicom test file {name} is missing"
    return path


def reference_pixels() -> np.ndarray:
    return pydicom.dcmread(shipped("MR_small.dcm")).pixel_array.astype(np.float32)


def rewritten(name: str, change) -> bytes:
    """A shipped file with one change applied, as bytes."""
    dataset = pydicom.dcmread(shipped(name))
    change(dataset)
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def reason_of(source, name: str = "upload.dcm") -> str:
    with pytest.raises(DicomRejected) as caught:
        read_instance(source, name=name)
    return caught.value.reason


@pytest.mark.parametrize("variant", MR_VARIANTS)
def test_every_mr_small_variant_is_accepted_with_the_reference_pixels(variant):
    path = shipped(variant)
    header = read_header(path, name=variant)
    assert header.modality == "MR"
    assert (header.rows, header.columns) == (64, 64)
    assert header.sop_instance_uid and header.study_instance_uid and header.series_instance_uid
    assert warnings(header) == []
    pixels = load_pixels(path, header)
    assert pixels.dtype == np.float32
    np.testing.assert_array_equal(pixels, reference_pixels())
    again_header, again_pixels = read_instance(path, name=variant)
    assert again_header == header
    np.testing.assert_array_equal(again_pixels, pixels)


def test_header_fields_of_mr_small():
    header = read_header(shipped("MR_small.dcm"), name="MR_small.dcm")
    dataset = pydicom.dcmread(shipped("MR_small.dcm"))
    assert header.name == "MR_small.dcm"
    assert header.patient_id == dataset.PatientID
    assert header.echo_time == float(dataset.EchoTime)
    assert header.pixel_spacing == tuple(float(v) for v in dataset.PixelSpacing)
    assert header.image_position == tuple(float(v) for v in dataset.ImagePositionPatient)
    assert header.image_orientation == tuple(float(v) for v in dataset.ImageOrientationPatient)
    assert header.bits_allocated == 16 and header.number_of_frames == 1
    assert header.transfer_syntax_uid == pydicom.uid.ExplicitVRLittleEndian
    assert header.transfer_syntax_name == "Explicit VR Little Endian"
    assert header.pixel_data_bytes == 64 * 64 * 2
    assert header.window_center == float(dataset.WindowCenter)


@pytest.mark.parametrize("kind", ["path", "str", "bytes", "file", "stream"])
def test_every_kind_of_source_is_read(kind):
    path = shipped("MR_small.dcm")
    data = path.read_bytes()

    class Stream(io.RawIOBase):  # readable, not seekable (like a network upload)
        def __init__(self) -> None:
            self.inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            chunk = self.inner.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    sources = {
        "path": path,
        "str": str(path),
        "bytes": data,
        "file": io.BytesIO(data),
        "stream": Stream(),
    }
    header, pixels = read_instance(sources[kind], name="x.dcm")
    assert header.sop_instance_uid == pydicom.dcmread(path).SOPInstanceUID
    np.testing.assert_array_equal(pixels, reference_pixels())


def test_truncated_file_from_pydicom_is_rejected_as_truncated():
    path = shipped("MR_truncated.dcm")
    for read in (
        lambda: read_header(path, name="t.dcm"),
        lambda: read_instance(path, name="t.dcm"),
    ):
        with pytest.raises(DicomRejected) as caught:
            read()
        assert caught.value.reason == "file is truncated"
        assert caught.value.name == "t.dcm"
        assert str(caught.value) == "t.dcm: file is truncated"


def test_a_file_cut_anywhere_before_its_end_is_rejected():
    data = shipped("MR_small.dcm").read_bytes()
    pixel_element = pydicom.dcmread(shipped("MR_small.dcm"), defer_size=1024).get_item(0x7FE00010, keep_deferred=True)
    pixel_end = pixel_element.value_tell + pixel_element.length
    cuts = sorted(
        set(range(0, pixel_end, 53)) | set(range(pixel_element.value_tell - 16, pixel_element.value_tell + 4))
    )
    for cut in cuts:
        with pytest.raises(DicomRejected) as caught:
            read_header(data[:cut], name="cut.dcm")
        if cut > pixel_element.value_tell:
            assert caught.value.reason == "file is truncated", cut
        with pytest.raises(DicomRejected):
            read_instance(data[:cut], name="cut.dcm")
    # Cut inside the trailing padding element: truncated as well.
    assert reason_of(data[: pixel_end + 10]) == "file is truncated"


def test_elements_out_of_order_are_read_and_cut_ones_still_refused():
    # A private element after the pixel data: the last element read is not the highest tag.
    value = b"AFTER PIXELS"
    extra = struct.pack("<HH2sH", 0x0009, 0x0010, b"LO", len(value)) + value
    data = shipped("MR_small.dcm").read_bytes() + extra
    header, pixels = read_instance(data, name="late.dcm")
    np.testing.assert_array_equal(pixels, reference_pixels())
    assert read_header(data, name="late.dcm").sop_instance_uid == header.sop_instance_uid
    for cut in (len(data) - 1, len(data) - len(value), len(data) - len(extra) + 3):
        assert reason_of(data[:cut]) == "file is truncated", cut


@pytest.mark.parametrize("variant", ["MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm"])
def test_compressed_file_cut_short_is_rejected(variant):
    data = shipped(variant).read_bytes()
    delimiter = data.rindex(b"\xfe\xff\xdd\xe0")  # end of the encapsulated pixel data
    cuts = [
        len(data) // 2 + 1,
        delimiter - 100,
        delimiter,
        delimiter + 3,
        delimiter + 4,
        delimiter + 7,
    ]
    cuts += range(delimiter + 9, delimiter + 20)  # inside the next element's tag and length
    for cut in cuts:
        assert reason_of(data[:cut]) == "file is truncated", cut
    # A cut exactly between two elements leaves a complete, shorter file.
    read_instance(data[: delimiter + 8], name="boundary.dcm")


def test_files_without_the_dicom_file_header_are_rejected():
    # Policy: pydicom's normal rules (force=False) need the 128-byte preamble and 'DICM'.
    assert reason_of(shipped("ExplVR_LitEndNoMeta.dcm")).startswith("not a DICOM file: it has no DICOM file header")
    assert reason_of(shipped("no_meta.dcm")).startswith("not a DICOM file")
    data = shipped("MR_small.dcm").read_bytes()
    assert reason_of(data[128:]).startswith("not a DICOM file")  # 'DICM' but no preamble
    assert reason_of(data[132:]).startswith("not a DICOM file: it has no DICOM file header")


def test_a_text_file_is_not_dicom(tmp_path):
    text = tmp_path / "report.txt"
    text.write_text("Donor MRCP report\n" * 40)
    assert reason_of(text) == "not a DICOM file"
    assert reason_of(b"") == "file is empty"
    assert reason_of(b"%PDF-1.7 short") == "not a DICOM file"


@pytest.mark.parametrize(
    ("keyword", "reason"),
    [
        ("StudyInstanceUID", "missing Study Instance UID"),
        ("SeriesInstanceUID", "missing Series Instance UID"),
        ("SOPInstanceUID", "missing SOP Instance UID"),
    ],
)
def test_missing_uids_are_rejected(keyword, reason):
    data = rewritten("MR_small.dcm", lambda ds: delattr(ds, keyword))
    assert reason_of(data) == reason
    with pytest.raises(DicomRejected, match=reason):
        read_header(data, name="x")


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_malformed_uid_is_rejected():
    data = rewritten("MR_small.dcm", lambda ds: setattr(ds, "StudyInstanceUID", "1.2.abc"))
    assert reason_of(data).startswith("invalid Study Instance UID")


def test_missing_pixel_data_is_rejected():
    assert reason_of(rewritten("MR_small.dcm", lambda ds: delattr(ds, "PixelData"))) == "no pixel data"
    assert reason_of(shipped("rtplan.dcm")) == "no pixel data"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda ds: setattr(ds, "PixelData", ds.PixelData[:-200]),
            "expected 8192 bytes, found 7992",
        ),
        (lambda ds: setattr(ds, "Rows", 65), "expected 8320 bytes, found 8192"),
        (lambda ds: setattr(ds, "PixelData", ds.PixelData * 2), "expected 8192 bytes, found 16384"),
        (lambda ds: setattr(ds, "NumberOfFrames", 2), "expected 16384 bytes, found 8192"),
    ],
)
def test_pixel_data_length_mismatch_is_rejected(change, reason):
    data = rewritten("MR_small.dcm", change)
    expected = f"pixel data does not match its header ({reason})"
    assert reason_of(data) == expected
    with pytest.raises(DicomRejected, match=r"pixel data does not match"):
        read_header(data, name="x")


def test_a_compression_nobody_can_decode_is_rejected_by_name():
    def relabel(ds):
        ds.file_meta.TransferSyntaxUID = JPEG2000MCLossless

    data = rewritten("MR_small_jp2klossless.dcm", relabel)
    expected = (
        "compressed with JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only), "
        "which this server cannot decode"
    )
    assert reason_of(data) == expected
    header = read_header(shipped("MR_small_jp2klossless.dcm"), name="x")
    with pytest.raises(DicomRejected, match="which this server cannot decode"):
        load_pixels(data, header)


def test_missing_transfer_syntax_is_rejected():
    assert reason_of(shipped("meta_missing_tsyntax.dcm")) == "the DICOM file header has no transfer syntax"


def test_ct_is_kept_with_a_warning():
    header, pixels = read_instance(shipped("CT_small.dcm"), name="ct.dcm")
    assert header.modality == "CT"
    assert "modality CT is not MR: kept, never used as MRCP" in warnings(header)
    is_mrcp, reasons = looks_like_mrcp(header)
    assert not is_mrcp and reasons == ["modality CT is not MR"]
    dataset = pydicom.dcmread(shipped("CT_small.dcm"))
    expected = dataset.pixel_array * float(dataset.RescaleSlope) + float(dataset.RescaleIntercept)
    np.testing.assert_allclose(pixels, expected)


def test_rescale_is_applied():
    def rescale(ds):
        ds.RescaleSlope = "2.5"
        ds.RescaleIntercept = "-100"

    header, pixels = read_instance(rewritten("MR_small.dcm", rescale), name="x")
    assert (header.rescale_slope, header.rescale_intercept) == (2.5, -100.0)
    np.testing.assert_allclose(pixels, reference_pixels() * 2.5 - 100)


def test_monochrome1_is_inverted_over_the_stored_range():
    def invert(ds):
        ds.PhotometricInterpretation = "MONOCHROME1"
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.PixelRepresentation = 0
        ds.PixelData = np.clip(ds.pixel_array, 0, 4095).astype(np.uint16).tobytes()

    header, pixels = read_instance(rewritten("MR_small.dcm", invert), name="x")
    assert header.photometric_interpretation == "MONOCHROME1"
    np.testing.assert_array_equal(pixels, 4095 - np.clip(reference_pixels(), 0, 4095))


@pytest.mark.parametrize("signed", [0, 1], ids=["unsigned", "signed"])
@pytest.mark.parametrize("high_bits", ["clear", "set"])
def test_unused_high_bits_are_handled_as_pydicom_does(signed, high_bits):
    def twelve_bits(ds):
        ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 11, signed
        values = np.arange(ds.Rows * ds.Columns, dtype=np.int32).reshape(ds.Rows, ds.Columns) % 4096
        if signed:
            values -= 2048  # the full 12-bit range, negative values sign-extended
        stored = values.astype(np.int16 if signed else np.uint16)
        if high_bits == "set":  # an overlay or garbage above bit 11 that readers must ignore
            stored = (stored.view(np.uint16) | np.uint16(0xA000)).view(stored.dtype)
        ds.PixelData = stored.tobytes()

    data = rewritten("MR_small.dcm", twelve_bits)
    _, pixels = read_instance(data, name="x")
    expected = pydicom.dcmread(io.BytesIO(data)).pixel_array
    assert expected.min() >= (-2048 if signed else 0) and expected.max() <= (2047 if signed else 4095)
    np.testing.assert_array_equal(pixels, expected.astype(np.float32))


def test_deflated_file_is_read():
    header, pixels = read_instance(shipped("image_dfl.dcm"), name="dfl.dcm")
    assert header.transfer_syntax_uid == pydicom.uid.DeflatedExplicitVRLittleEndian
    np.testing.assert_array_equal(pixels, pydicom.dcmread(shipped("image_dfl.dcm")).pixel_array)


def test_lossy_compression_is_mentioned():
    header, pixels = read_instance(shipped("SC_rgb_jpeg_dcmtk.dcm"), name="rgb.dcm")
    assert header.lossy
    assert any(note.startswith("lossy compression (JPEG Baseline") for note in warnings(header))
    assert pixels.shape == (header.rows, header.columns)  # colour reduced to luminance


def test_undecodable_pixels_give_a_plain_reason():
    # A JPEG Extended frame whose Huffman tables are missing.
    def without_huffman_tables(ds):
        frame = next(generate_frames(ds.PixelData, number_of_frames=1))
        start = frame.index(b"\xff\xc4")
        length = int.from_bytes(frame[start + 2 : start + 4], "big")
        ds.PixelData = encapsulate([frame[:start] + frame[start + 2 + length :]])

    reason = reason_of(rewritten("JPEG-lossy.dcm", without_huffman_tables))
    assert reason == "pixel data could not be decoded (JPEG Extended (Process 2 and 4))"


def test_load_pixels_refuses_a_different_file():
    header = read_header(shipped("MR_small.dcm"), name="mr.dcm")
    with pytest.raises(DicomRejected, match="not the one whose header was read"):
        load_pixels(shipped("CT_small.dcm"), header)
