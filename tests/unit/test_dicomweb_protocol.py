"""The pure DICOMweb pieces: query parameters, Accept, and the streaming multipart reader."""

from __future__ import annotations

import io

import pytest

from imaging.dicomweb.protocol import (
    BadMultipart,
    BadQuery,
    TooLarge,
    accepts,
    multipart_body,
    multipart_boundary,
    parse_query,
    split_multipart,
)


def test_a_query_takes_keywords_tags_ranges_and_paging():
    query = parse_query(
        "study",
        [("00100020", "MRN-1"), ("StudyDate", "20240101-"), ("limit", "5"), ("offset", "10"), ("includefield", "all")],
    )
    assert query.filters == {"PatientID": "MRN-1"}
    assert query.date_range == ("20240101", "")
    assert (query.limit, query.offset) == (5, 10)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ([("Colour", "blue")], "Colour"),
        ([("SOPInstanceUID", "1.2")], "SOPInstanceUID"),  # an instance key at the study level
        ([("StudyDate", "2024-01-01")], "StudyDate"),
        ([("StudyDate", "20241301")], "StudyDate"),
        ([("StudyDate", "-")], "StudyDate"),
        ([("limit", "0")], "limit"),
        ([("offset", "x")], "offset"),
        ([("PatientID", "MRN*")], "PatientID"),
    ],
)
def test_a_bad_query_names_its_parameter(params, named):
    with pytest.raises(BadQuery) as bad:
        parse_query("study", params)
    assert bad.value.parameter == named


def test_accept_picks_the_first_acceptable_offer_or_none():
    offers = [("multipart/related", "application/dicom")]
    assert accepts("", offers) == offers[0]
    assert accepts('multipart/related; type="application/dicom"; transfer-syntax=*', offers) == offers[0]
    assert accepts('multipart/related; type="image/jpeg"', offers) is None
    assert accepts("image/jpeg, image/png", [("image/png", None), ("image/jpeg", None)]) == ("image/jpeg", None)
    assert accepts("image/gif", [("image/png", None)]) is None


class Part:
    """A file for one part: what was written to it, and whether the reader closed it."""

    def __init__(self):
        self.data = b""
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.data += data

    def close(self) -> None:
        self.closed = True


def _split(body: bytes, boundary: str, chunk: int, **kwargs) -> list[bytes]:
    parts: list[Part] = []

    def open_part(headers):
        parts.append(Part())
        return parts[-1]

    split_multipart(io.BytesIO(body), boundary, open_part, chunk=chunk, **kwargs)
    assert all(part.closed for part in parts)
    return [part.data for part in parts]


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 1 << 20])
def test_the_parts_written_are_the_parts_sent_whatever_the_chunk_size(chunk):
    sent = [b"first\r\n--almost", b"", bytes(range(256)) * 3]
    body = b"".join(multipart_body([({"Content-Type": "application/dicom"}, lambda p=p: p) for p in sent], "bnd"))
    assert _split(body, "bnd", chunk) == sent


def test_a_truncated_body_or_one_without_the_boundary_is_refused():
    with pytest.raises(BadMultipart):
        _split(b"--bnd\r\n\r\nno end", "bnd", 4)
    with pytest.raises(BadMultipart):
        _split(b"nothing here", "bnd", 4)


def test_a_body_over_the_limit_is_refused_while_reading():
    body = b"".join(multipart_body([({}, lambda: b"x" * 1000)], "bnd"))
    with pytest.raises(TooLarge):
        _split(body, "bnd", 100, max_bytes=500)


def test_a_boundary_longer_than_rfc_2046_allows_is_read_as_orthanc_sends_it():
    orthanc = "ea45fc41-8d0c-43ee-828e-3e797ac407c7-ea45fc41-8d0c-43ee-828e-3e797ac407c7"  # 73 characters
    assert multipart_boundary(f'multipart/related; type="application/dicom"; boundary={orthanc}') == (
        "application/dicom",
        orthanc,
    )
    with pytest.raises(BadMultipart):
        multipart_boundary("multipart/related; type=application/dicom; boundary=" + "b" * 201)
    with pytest.raises(BadMultipart):
        multipart_boundary("multipart/related; type=application/dicom")
