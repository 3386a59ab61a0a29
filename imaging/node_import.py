"""Importing what the DICOM node received, with what it learned while the files arrived.

The node reads every file with the strict reader before it answers the C-STORE, so by the end
of the association it holds each file's header and, for each series, the coronal MIP built
one slice at a time as the slices came (`IncrementalMip`, in arrival order). The import of its
uploads (the usual `ingest.IngestRun`: duplicates, report lines, identity, ordering, audit)
then runs in the node itself, at once, without reading the files again, and rendering uses the
MIP as it stands: at the end of an association only the database rows and the pictures remain.

The MIP built on arrival is used only when the import kept exactly the files it was built from,
in the same order (the order the import adds them in); otherwise (a file already stored, a
series sent in two associations, a file the node could not project) rendering reads the series'
files again, as it does for any upload. Either way the pictures are the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np

from . import ingest, rendering
from .dicom import Geometry, IncrementalMip, InstanceHeader, MissingGeometry
from .models import Series, Upload

# An import in the node stops after this long and leaves the rest to the worker.
TIME_BUDGET = 120.0


@dataclass
class ArrivalMip:
    """A series' MIP built as its slices arrived, and the SOP Instance UIDs in the order added."""

    builder: IncrementalMip | None = field(default_factory=IncrementalMip)
    uids: list[str] = field(default_factory=list)


@dataclass
class Arrivals:
    """What the node learned of an association's stored files: headers by stored path, MIPs by series."""

    headers: dict[str, InstanceHeader] = field(default_factory=dict)
    mips: dict[tuple[str, str], ArrivalMip] = field(default_factory=dict)

    def add(self, path: str, header: InstanceHeader, pixels: np.ndarray) -> None:
        """A file stored at `path`: keep its header, and add its slice to its series' MIP."""
        self.headers[path] = header
        mip = self.mips.setdefault((header.study_instance_uid, header.series_instance_uid), ArrivalMip())
        if mip.builder is None:
            return
        try:
            if pixels.ndim != 2:
                raise ValueError("not a single frame")
            mip.builder.add(pixels, Geometry.from_header(header))
        except (ValueError, MissingGeometry):
            mip.builder = None  # not projectable one slice at a time: rendering reads the files
            mip.uids.clear()
            return
        mip.uids.append(header.sop_instance_uid)


class ArrivalsIngestRun(ingest.IngestRun):
    """The usual import, taking headers and MIPs from `Arrivals` instead of reading the files again."""

    def __init__(self, upload: Upload, *, arrivals: Arrivals, deadline: float | None = None):
        super().__init__(upload, deadline=deadline)
        self.arrivals = arrivals
        self.imported_uids: dict[int, list[str]] = {}
        self.arrival_mips: dict[int, ArrivalMip] = {}
        self.arrival_keys: dict[int, list[tuple[str, int]]] = {}

    def _known_header(self, item: ingest.Item) -> InstanceHeader | None:
        return self.arrivals.headers.get(item.source.path) if item.data is None else None

    def _add_to_mip(self, series: Series, header, frames, planes) -> bool:
        if frames is not None:
            return super()._add_to_mip(series, header, frames, planes)
        if series.pk in self.broken_mips or not series.used_as_mrcp:
            return True
        arrived = self.arrivals.mips.get((header.study_instance_uid, header.series_instance_uid))
        if arrived is None or arrived.builder is None:
            self._break_mip(series)
            return True
        uids = self.imported_uids.setdefault(series.pk, [])
        uids.append(header.sop_instance_uid)
        keys = self.arrival_keys.setdefault(series.pk, [])
        keys.append((header.sop_instance_uid, 0))  # a file the node projected on arrival has one frame
        self.arrival_mips[series.pk] = arrived
        self.mips[series.pk] = (arrived.builder, keys)
        return True

    def _finish(self, *, channel: str) -> Upload:
        upload = super()._finish(channel=channel)
        for series_id, arrived in self.arrival_mips.items():
            if self.imported_uids[series_id] != arrived.uids:
                self.broken_mips.add(series_id)  # built from other files than those imported
        return upload


def import_arrivals(*, upload_id: int, arrivals: Arrivals) -> str:
    """Import an upload of the DICOM node and render its series (returns an `ingest` outcome).

    MORE (the time budget ran out) and BUSY leave the upload for the worker to take over."""
    result = ingest.run_ingest(
        upload_id=upload_id,
        time_budget=TIME_BUDGET,
        channel="dicom",
        start=partial(ArrivalsIngestRun, arrivals=arrivals),
    )
    for series, slices, mip in result.series:
        rendering.render(series, instances=slices, mip=mip)
    return result.outcome
