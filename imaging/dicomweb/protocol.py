"""DICOMweb (PS3.18) without the web framework: query parameters, Accept headers, the JSON model
and multipart/related bodies, both ways.

Pure functions: the views in `imaging.dicomweb.views` feed them the request's pieces.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from pydicom.dataset import Dataset

DICOM_JSON = "application/dicom+json"
DICOM = "application/dicom"
OCTET_STREAM = "application/octet-stream"

# Query keys answered at each level; a key may also be given as its tag (e.g. 00100020).
LEVEL_KEYS: dict[str, tuple[str, ...]] = {
    "study": ("PatientID", "StudyInstanceUID", "StudyDate", "ModalitiesInStudy"),
    "series": ("Modality", "SeriesInstanceUID", "SeriesNumber"),
    "instance": ("SOPInstanceUID", "SOPClassUID", "InstanceNumber"),
}
TAGS = {
    "00100020": "PatientID",
    "0020000D": "StudyInstanceUID",
    "00080020": "StudyDate",
    "00080061": "ModalitiesInStudy",
    "00080060": "Modality",
    "0020000E": "SeriesInstanceUID",
    "00200011": "SeriesNumber",
    "00080018": "SOPInstanceUID",
    "00080016": "SOPClassUID",
    "00200013": "InstanceNumber",
}
# Accepted and ignored: every attribute the app knows is always returned, and matching is exact.
IGNORED_KEYS = ("includefield", "fuzzymatching")
MAX_LIMIT = 1000
_DATE = re.compile(r"^\d{8}$")


class BadQuery(ValueError):
    """A query the server cannot answer; `parameter` names the culprit."""

    def __init__(self, parameter: str, reason: str):
        super().__init__(f"{parameter}: {reason}")
        self.parameter = parameter
        self.reason = reason


@dataclass
class Query:
    filters: dict[str, str] = field(default_factory=dict)
    date_range: tuple[str, str] | None = None  # inclusive, either end may be empty
    limit: int | None = None
    offset: int = 0


def _valid_date(value: str, parameter: str) -> str:
    if not value:
        return value
    if not _DATE.match(value):
        raise BadQuery(parameter, f"'{value}' is not a date YYYYMMDD or a range YYYYMMDD-YYYYMMDD")
    year, month, day = int(value[:4]), int(value[4:6]), int(value[6:])
    if not (1 <= month <= 12 and 1 <= day <= 31 and year >= 1):
        raise BadQuery(parameter, f"'{value}' is not a calendar date")
    return value


def _count(raw: str, parameter: str, *, minimum: int) -> int:
    if not raw.isdigit() or int(raw) < minimum:
        raise BadQuery(parameter, f"'{raw}' is not a whole number of at least {minimum}")
    return int(raw)


def parse_query(level: str, params: Iterable[tuple[str, str]]) -> Query:
    """The QIDO-RS query of a level (study, series or instance) from its (key, value) parameters.

    A study-level key may be given at the lower levels too (PS3.18 allows study attributes
    there). Unknown keys, bad dates and bad counts raise BadQuery naming the parameter."""
    allowed = set(LEVEL_KEYS["study"])
    if level in ("series", "instance"):
        allowed |= set(LEVEL_KEYS["series"])
    if level == "instance":
        allowed |= set(LEVEL_KEYS["instance"])
    query = Query()
    for raw_key, raw_value in params:
        value = raw_value.strip()
        if raw_key in IGNORED_KEYS:
            continue
        if raw_key == "limit":
            query.limit = min(_count(value, "limit", minimum=1), MAX_LIMIT)
            continue
        if raw_key == "offset":
            query.offset = _count(value, "offset", minimum=0)
            continue
        key = TAGS.get(raw_key.upper(), raw_key)
        if key not in allowed:
            raise BadQuery(raw_key, f"not a query key of the {level} level (known: {', '.join(sorted(allowed))})")
        if key == "StudyDate":
            if "-" in value:
                start, _, end = value.partition("-")
                query.date_range = (_valid_date(start, raw_key), _valid_date(end, raw_key))
                if not any(query.date_range):
                    raise BadQuery(raw_key, "a range needs at least one date")
            else:
                query.date_range = (_valid_date(value, raw_key),) * 2
            continue
        if "*" in value or "?" in value:
            raise BadQuery(raw_key, "wildcards are not supported: give the exact value")
        if key in ("SeriesNumber", "InstanceNumber") and not value.lstrip("-").isdigit():
            raise BadQuery(raw_key, f"'{value}' is not a whole number")
        query.filters[key] = value
    return query


# ------------------------------------------------------------------ the JSON model


def dataset(**attributes) -> Dataset:
    """A dataset of the given keywords; None and empty values are left out."""
    found = Dataset()
    for keyword, value in attributes.items():
        if value is None or value == "" or value == []:
            continue
        setattr(found, keyword, value)
    return found


def to_json(datasets: Iterable[Dataset]) -> list[dict]:
    return [item.to_json_dict() for item in datasets]


# ------------------------------------------------------------------ Accept


@dataclass(frozen=True)
class MediaRange:
    media_type: str
    parameters: dict[str, str]


def parse_accept(header: str) -> list[MediaRange]:
    """The media ranges of an Accept header (quality factors ignored: the first acceptable one wins)."""
    ranges = []
    for item in (header or "").split(","):
        media_type, *params = (part.strip() for part in item.split(";"))
        if not media_type:
            continue
        parameters = {}
        for param in params:
            name, _, value = param.partition("=")
            parameters[name.strip().lower()] = value.strip().strip('"')
        ranges.append(MediaRange(media_type.lower(), parameters))
    return ranges


def accepts(header: str, offers: Iterable[tuple[str, str | None]]) -> tuple[str, str | None] | None:
    """The first offer (media type, part type for multipart/related) that the Accept header allows;
    None when none is. No Accept header allows the first offer."""
    offers = list(offers)
    ranges = parse_accept(header)
    if not ranges:
        return offers[0]
    for accepted in ranges:
        for media_type, part_type in offers:
            if accepted.media_type in ("*/*", media_type) or (
                accepted.media_type.endswith("/*") and media_type.startswith(accepted.media_type[:-1])
            ):
                wanted_part = accepted.parameters.get("type")
                if part_type is None or wanted_part is None or wanted_part in (part_type, "*/*"):
                    syntax = accepted.parameters.get("transfer-syntax")
                    if syntax in (None, "*") or part_type != DICOM:
                        return media_type, part_type
    return None


# ------------------------------------------------------------------ multipart/related


def new_boundary() -> str:
    return f"dicomweb-{uuid.uuid4().hex}"


def multipart_content_type(part_type: str, boundary: str) -> str:
    return f'multipart/related; type="{part_type}"; boundary={boundary}'


def multipart_body(parts: Iterable[tuple[dict[str, str], Callable[[], bytes]]], boundary: str) -> Iterator[bytes]:
    """The body, one part at a time: each part's headers, then its bytes (read only when sent)."""
    for headers, read in parts:
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        yield f"--{boundary}\r\n{head}\r\n".encode("latin-1")
        yield read()
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode("latin-1")


class BadMultipart(ValueError):
    pass


def multipart_boundary(content_type: str) -> tuple[str, str]:
    """(part type, boundary) of a multipart/related Content-Type; BadMultipart if it is none."""
    ranges = parse_accept(content_type)
    if len(ranges) != 1 or ranges[0].media_type != "multipart/related":
        raise BadMultipart("expected multipart/related")
    boundary = ranges[0].parameters.get("boundary", "")
    if not boundary or len(boundary) > 70:
        raise BadMultipart("the multipart/related content type has no usable boundary")
    return ranges[0].parameters.get("type", "").lower(), boundary


def split_multipart(
    stream: BinaryIO, boundary: str, open_part: Callable[[dict[str, str]], BinaryIO], *, chunk: int = 1 << 20
) -> int:
    """Copy each part of a multipart body read from `stream` into the file `open_part(headers)` gives
    (closed here), holding no more than about two chunks in memory. Returns the number of parts."""
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    buffer = b"\r\n"  # the first delimiter may open the body without a line break before it
    ended = False

    def fill() -> bool:
        nonlocal buffer, ended
        if ended:
            return False
        data = stream.read(chunk)
        if not data:
            ended = True
            return False
        buffer += data
        return True

    # The preamble, up to the first delimiter.
    while (start := buffer.find(delimiter)) < 0:
        buffer = buffer[-len(delimiter) :]
        if not fill():
            raise BadMultipart("no part found: the body does not contain the boundary")
    buffer = buffer[start + len(delimiter) :]
    parts = 0
    while True:
        while len(buffer) < 2 and fill():
            pass
        if buffer.startswith(b"--"):
            return parts
        while (end := buffer.find(b"\r\n\r\n")) < 0:
            if len(buffer) > 64 * 1024 or not fill():
                raise BadMultipart("a part's headers do not end")
        headers: dict[str, str] = {}
        for line in buffer[:end].decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip():
                headers[name.strip().lower()] = value.strip()
        buffer = buffer[end + 4 :]
        target = open_part(headers)
        try:
            while (found := buffer.find(delimiter)) < 0:
                keep = len(delimiter)
                if len(buffer) > keep:
                    target.write(buffer[:-keep])
                    buffer = buffer[-keep:]
                if not fill():
                    raise BadMultipart("the body ends inside a part (no closing boundary)")
            target.write(buffer[:found])
        finally:
            target.close()
        buffer = buffer[found + len(delimiter) :]
        parts += 1
