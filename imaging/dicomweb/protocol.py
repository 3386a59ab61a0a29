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


def _allowed_keys(level: str) -> set[str]:
    allowed = set(LEVEL_KEYS["study"])
    if level in ("series", "instance"):
        allowed |= set(LEVEL_KEYS["series"])
    if level == "instance":
        allowed |= set(LEVEL_KEYS["instance"])
    return allowed


def _date_range(value: str, parameter: str) -> tuple[str, str]:
    if "-" not in value:
        return (_valid_date(value, parameter),) * 2
    start, _, end = value.partition("-")
    found = (_valid_date(start, parameter), _valid_date(end, parameter))
    if not any(found):
        raise BadQuery(parameter, "a range needs at least one date")
    return found


def _matching_value(key: str, value: str, parameter: str) -> str:
    if "*" in value or "?" in value:
        raise BadQuery(parameter, "wildcards are not supported: give the exact value")
    if key in ("SeriesNumber", "InstanceNumber") and not value.lstrip("-").isdigit():
        raise BadQuery(parameter, f"'{value}' is not a whole number")
    return value


def parse_query(level: str, params: Iterable[tuple[str, str]]) -> Query:
    """The QIDO-RS query of a level (study, series or instance) from its (key, value) parameters.

    A study-level key may be given at the lower levels too (PS3.18 allows study attributes
    there). Unknown keys, bad dates and bad counts raise BadQuery naming the parameter."""
    allowed = _allowed_keys(level)
    query = Query()
    for raw_key, raw_value in params:
        value = raw_value.strip()
        key = TAGS.get(raw_key.upper(), raw_key)
        if raw_key in IGNORED_KEYS:
            continue
        if raw_key == "limit":
            query.limit = min(_count(value, "limit", minimum=1), MAX_LIMIT)
        elif raw_key == "offset":
            query.offset = _count(value, "offset", minimum=0)
        elif key not in allowed:
            raise BadQuery(raw_key, f"not a query key of the {level} level (known: {', '.join(sorted(allowed))})")
        elif key == "StudyDate":
            query.date_range = _date_range(value, raw_key)
        else:
            query.filters[key] = _matching_value(key, value, raw_key)
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


# RFC 2046 allows 70 characters, but real senders go past it (Orthanc's are two UUIDs: 73), so a
# longer one is read; the bound only keeps a silly header from being searched for.
MAX_BOUNDARY = 200


def multipart_boundary(content_type: str) -> tuple[str, str]:
    """(part type, boundary) of a multipart/related Content-Type; BadMultipart if it is none."""
    ranges = parse_accept(content_type)
    if len(ranges) != 1 or ranges[0].media_type != "multipart/related":
        raise BadMultipart("expected multipart/related")
    boundary = ranges[0].parameters.get("boundary", "")
    if not boundary or len(boundary) > MAX_BOUNDARY:
        raise BadMultipart("the multipart/related content type has no usable boundary")
    return ranges[0].parameters.get("type", "").lower(), boundary


class TooLarge(ValueError):
    pass


class _Reader:
    """The body read a chunk at a time, with what has been read but not yet used."""

    def __init__(self, stream: BinaryIO, chunk: int, max_bytes: int | None):
        self.stream, self.chunk, self.max_bytes = stream, chunk, max_bytes
        self.buffer = b"\r\n"  # the first delimiter may open the body without a line break before it
        self.total = 0

    def fill(self) -> bool:
        data = self.stream.read(self.chunk)
        if not data:
            return False
        self.total += len(data)
        if self.max_bytes is not None and self.total > self.max_bytes:
            raise TooLarge(f"the body is larger than {self.max_bytes} bytes")
        self.buffer += data
        return True

    def skip_to(self, delimiter: bytes) -> None:
        while (start := self.buffer.find(delimiter)) < 0:
            self.buffer = self.buffer[-len(delimiter) :]
            if not self.fill():
                raise BadMultipart("no part found: the body does not contain the boundary")
        self.buffer = self.buffer[start + len(delimiter) :]

    def at_end(self) -> bool:
        while len(self.buffer) < 2 and self.fill():
            pass
        return self.buffer.startswith(b"--")

    def headers(self) -> dict[str, str]:
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            if len(self.buffer) > 64 * 1024 or not self.fill():
                raise BadMultipart("a part's headers do not end")
        found: dict[str, str] = {}
        for line in self.buffer[:end].decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.strip():
                found[name.strip().lower()] = value.strip()
        self.buffer = self.buffer[end + 4 :]
        return found

    def copy_to(self, delimiter: bytes, target: BinaryIO) -> None:
        keep = len(delimiter)
        while (found := self.buffer.find(delimiter)) < 0:
            if len(self.buffer) > keep:
                target.write(self.buffer[:-keep])
                self.buffer = self.buffer[-keep:]
            if not self.fill():
                raise BadMultipart("the body ends inside a part (no closing boundary)")
        target.write(self.buffer[:found])
        self.buffer = self.buffer[found + keep :]


def split_multipart(
    stream: BinaryIO,
    boundary: str,
    open_part: Callable[[dict[str, str]], BinaryIO],
    *,
    chunk: int = 1 << 20,
    max_bytes: int | None = None,
) -> int:
    """Copy each part of a multipart body read from `stream` into the file `open_part(headers)` gives
    (closed here), holding no more than about two chunks in memory. Returns the number of parts.

    BadMultipart when the body is not well formed; TooLarge past `max_bytes`."""
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    reader = _Reader(stream, chunk, max_bytes)
    reader.skip_to(delimiter)
    parts = 0
    while not reader.at_end():
        target = open_part(reader.headers())
        try:
            reader.copy_to(delimiter, target)
        finally:
            target.close()
        parts += 1
    return parts
