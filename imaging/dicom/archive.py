"""Safe reading of uploaded zip archives.

A zip from the outside world can try to write outside its folder (``../``, absolute
paths, drive letters, backslashes), smuggle symlinks, or expand to gigabytes from a
few kilobytes. Nothing here extracts to disk: members are read into memory in
chunks, and reading stops as soon as a limit is passed, whatever the zip's own
headers declare.

Per-member problems yield a :class:`Rejection` and reading goes on; problems with the
archive as a whole (not a zip, too many files, too many bytes in total) raise
:class:`ArchiveRejected`, because a partial study would be misleading. Directories,
``__MACOSX/`` resource forks, ``._*`` AppleDouble files, ``.DS_Store`` and
``Thumbs.db`` are skipped silently.
"""

from __future__ import annotations

import io
import os
import posixpath
import re
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Union

ZipSource = Union[str, "os.PathLike[str]", bytes, bytearray, IO[bytes]]

CHUNK_BYTES = 64 * 1024
# Below this many output bytes the ratio test is not applied: tiny members (a text
# file of spaces, an empty DICOM tag block) compress very well and are harmless.
RATIO_GRACE_BYTES = 1024 * 1024
_SKIPPED_NAMES = {".ds_store", "thumbs.db", "desktop.ini"}
_DRIVE = re.compile(r"^[A-Za-z]:")


class ArchiveRejected(Exception):
    """The archive as a whole is refused."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Member:
    name: str
    data: bytes


@dataclass(frozen=True)
class Rejection:
    name: str
    reason: str


def iter_zip_members(
    zip_source: ZipSource,
    *,
    max_files: int,
    max_total_bytes: int,
    max_member_bytes: int,
    max_ratio: float,
) -> Iterator[Member | Rejection]:
    """Yield each file of the archive as a Member, or a Rejection saying why not."""
    archive = _open_zip(zip_source)
    with archive:
        entries = [info for info in archive.infolist() if not _skipped(info)]
        if len(entries) > max_files:
            raise ArchiveRejected(f"too many files ({len(entries)}; the limit is {max_files})")
        seen: set[str] = set()
        total = 0
        for info in entries:
            problem = _entry_problem(info, seen, max_member_bytes)
            seen.add(info.filename)
            if problem:
                yield Rejection(info.filename, problem)
                continue
            data, problem, used = _read_member(archive, info, max_member_bytes, max_ratio, max_total_bytes - total)
            total += used
            if total > max_total_bytes:
                raise ArchiveRejected(f"archive expands to more than {max_total_bytes} bytes")
            yield Rejection(info.filename, problem) if problem else Member(info.filename, data)


def declared_members(zip_source: ZipSource) -> tuple[int, int]:
    """(files, bytes) the archive's directory declares, skipped entries left out.

    For counting and early refusals only: what a member really expands to is checked while
    it is read. Raises ``ArchiveRejected`` when the source is not a readable zip.
    """
    with _open_zip(zip_source) as archive:
        entries = [info for info in archive.infolist() if not _skipped(info)]
    return len(entries), sum(info.file_size for info in entries)


def _open_zip(source: ZipSource) -> zipfile.ZipFile:
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(bytes(source))
    try:
        return zipfile.ZipFile(source)
    except Exception as exc:  # hostile input can upset zipfile in many ways
        raise ArchiveRejected("not a valid zip archive") from exc


def _skipped(info: zipfile.ZipInfo) -> bool:
    if info.is_dir():
        return True
    parts = info.filename.replace("\\", "/").split("/")
    base = parts[-1].lower()
    return "__MACOSX" in parts or base in _SKIPPED_NAMES or base.startswith("._")


def unsafe_path_reason(name: str) -> str | None:
    """Why a member name could escape the upload folder, or None if it is safe."""
    if not name or "\x00" in name:
        return "empty or invalid file name"
    if "\\" in name:
        return "file name contains a backslash"
    if name.startswith("/"):
        return "absolute path"
    if _DRIVE.match(name) or _DRIVE.match(posixpath.normpath(name)):  # "./C:x" is "C:x"
        return "path with a drive letter"
    if ".." in name.split("/"):
        return "path leaves the folder ('..')"
    return None


def _entry_problem(info: zipfile.ZipInfo, seen: set[str], max_member_bytes: int) -> str | None:
    unsafe = unsafe_path_reason(info.filename)
    if unsafe:
        return f"refused: {unsafe}"
    if info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16):
        return "refused: symbolic link"
    if info.flag_bits & 0x1:
        return "refused: encrypted"
    if info.filename in seen:
        return "refused: duplicate file name"
    if info.file_size > max_member_bytes:
        return f"file too large ({info.file_size} bytes; the limit is {max_member_bytes})"
    return None


def _read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, max_member: int, max_ratio: float, budget: int
) -> tuple[bytes, str | None, int]:
    """Read one member in chunks; returns (data, problem, bytes decompressed)."""
    chunks: list[bytes] = []
    size = 0
    compressed = max(info.compress_size, 1)
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(CHUNK_BYTES):
                size += len(chunk)
                if size > budget:
                    return b"", "archive too large", size
                if size > max_member:
                    return b"", f"file too large (more than {max_member} bytes)", size
                if size > RATIO_GRACE_BYTES and size / compressed > max_ratio:
                    return b"", f"refused: compression ratio above {max_ratio:g} (zip bomb?)", size
                chunks.append(chunk)
    except NotImplementedError:
        return b"", "compressed with a zip method this server cannot read", size
    except RuntimeError as exc:  # zipfile raises it for encrypted members
        return b"", f"refused: {exc}", size
    except Exception as exc:  # hostile input can upset zipfile and zlib in many ways
        return b"", f"damaged zip entry ({exc or type(exc).__name__})", size
    return b"".join(chunks), None, size
