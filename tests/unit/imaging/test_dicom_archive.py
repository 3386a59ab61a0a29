"""Safe zip reading: traversal, links, encryption, bombs and limits."""

from __future__ import annotations

import io
import os
import posixpath
import stat
import struct
import tracemalloc
import warnings
import zipfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imaging.dicom import ArchiveRejected, Member, Rejection, iter_zip_members
from imaging.dicom.archive import unsafe_path_reason

LIMITS = dict(max_files=100, max_total_bytes=50_000_000, max_member_bytes=20_000_000, max_ratio=100)


def make_zip(entries, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are made on purpose
        with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
            for name, data in entries:
                archive.writestr(name, data)
    return buffer.getvalue()


def read_all(data, **limits):
    return list(iter_zip_members(data, **{**LIMITS, **limits}))


def test_plain_members_are_returned_and_clutter_skipped():
    data = make_zip(
        [
            ("study/", b""),
            ("study/IM1.dcm", b"one"),
            ("study/sub/IM2.dcm", b"two"),
            ("__MACOSX/study/._IM1.dcm", b"fork"),
            ("study/.DS_Store", b"finder"),
            ("._IM3.dcm", b"apple double"),
        ]
    )
    assert read_all(data) == [Member("study/IM1.dcm", b"one"), Member("study/sub/IM2.dcm", b"two")]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../evil.dcm", "refused: path leaves the folder ('..')"),
        ("study/../../evil.dcm", "refused: path leaves the folder ('..')"),
        ("/etc/passwd", "refused: absolute path"),
        ("C:/Windows/evil.dcm", "refused: path with a drive letter"),
        ("c:evil.dcm", "refused: path with a drive letter"),
        ("study\\..\\evil.dcm", "refused: file name contains a backslash"),
    ],
)
def test_paths_escaping_the_folder_are_refused(name, reason):
    data = make_zip([(zipfile.ZipInfo(name), b"x"), ("ok.dcm", b"fine")])
    assert read_all(data) == [Rejection(name, reason), Member("ok.dcm", b"fine")]


def test_symbolic_links_are_refused():
    link = zipfile.ZipInfo("study/link.dcm")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    assert read_all(make_zip([(link, b"/etc/passwd")])) == [Rejection("study/link.dcm", "refused: symbolic link")]


def _set_flag(data: bytes, bit: int) -> bytes:
    """Set a general-purpose flag bit in every local and central header."""
    patched = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (start := patched.find(signature, start)) != -1:
            flags = struct.unpack_from("<H", patched, start + offset)[0]
            struct.pack_into("<H", patched, start + offset, flags | bit)
            start += 4
    return bytes(patched)


def _set_sizes(data: bytes, size: int) -> bytes:
    """Declare a different uncompressed size in the local and central headers."""
    patched = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = patched.find(signature)
        struct.pack_into("<I", patched, start + offset, size)
    return bytes(patched)


def test_encrypted_members_are_refused():
    data = _set_flag(make_zip([("secret.dcm", b"data")]), 0x1)
    assert read_all(data) == [Rejection("secret.dcm", "refused: encrypted")]


def test_zip_bomb_is_stopped_early_without_reading_it_all():
    bomb = make_zip([("bomb.dcm", bytes(30_000_000))])
    assert len(bomb) < 100_000
    tracemalloc.start()
    try:
        result = read_all(bomb, max_member_bytes=100_000_000, max_total_bytes=100_000_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result == [Rejection("bomb.dcm", "refused: compression ratio above 100 (zip bomb?)")]
    assert peak < 8_000_000


def test_member_larger_than_the_limit_is_refused():
    data = make_zip([("big.dcm", os.urandom(300_000)), ("small.dcm", b"ok")])
    result = read_all(data, max_member_bytes=200_000)
    assert result == [
        Rejection("big.dcm", "file too large (300000 bytes; the limit is 200000)"),
        Member("small.dcm", b"ok"),
    ]


def test_declared_size_is_never_trusted():
    # Declared 1,000 bytes, holds 3 MB: the reader stops at the declared size and the
    # checksum fails; the real size never reaches memory.
    liar = _set_sizes(make_zip([("liar.dcm", bytes(3_000_000))]), 1000)
    [result] = read_all(liar)
    assert isinstance(result, Rejection) and result.reason.startswith("damaged zip entry")
    # Declared huge: refused before reading.
    huge = _set_sizes(make_zip([("huge.dcm", b"tiny")]), 0xFFFFFFF0)
    [result] = read_all(huge)
    assert result == Rejection("huge.dcm", f"file too large ({0xFFFFFFF0} bytes; the limit is 20000000)")


def test_total_size_limit_refuses_the_archive():
    data = make_zip([(f"IM{i}.dcm", os.urandom(1_000_000)) for i in range(4)], compression=zipfile.ZIP_STORED)
    members = iter_zip_members(data, **{**LIMITS, "max_total_bytes": 2_500_000})
    assert isinstance(next(members), Member) and isinstance(next(members), Member)
    with pytest.raises(ArchiveRejected, match="more than 2500000 bytes"):
        next(members)


def test_too_many_files_refuses_the_archive():
    data = make_zip([(f"IM{i}.dcm", b"x") for i in range(11)] + [("__MACOSX/._x", b"")])
    with pytest.raises(ArchiveRejected, match=r"too many files \(11; the limit is 10\)"):
        read_all(data, max_files=10)
    assert len(read_all(data, max_files=11)) == 11


def test_duplicates_and_non_zips():
    data = make_zip([("IM1.dcm", b"first"), ("IM1.dcm", b"second")])
    assert read_all(data) == [
        Member("IM1.dcm", b"first"),
        Rejection("IM1.dcm", "refused: duplicate file name"),
    ]
    with pytest.raises(ArchiveRejected, match="not a valid zip archive"):
        read_all(b"this is not a zip file")


@given(st.text(alphabet="a./\\:C", max_size=12))
def test_names_judged_safe_stay_inside_the_folder(name):
    if unsafe_path_reason(name) is None:
        normal = posixpath.normpath(name)
        assert not normal.startswith("/") and normal.split("/")[0] != ".." and "\\" not in normal
        assert not (len(normal) > 1 and normal[1] == ":" and normal[0].isalpha())  # no drive


def test_a_drive_letter_behind_a_dot_folder_is_refused():
    assert unsafe_path_reason("./C:x.dcm") == "path with a drive letter"
    assert unsafe_path_reason("a/C:x.dcm") is None  # a colon inside the folder names no drive
