"""Propose the duct tree of the 3D MRCP in a folder or zip of DICOM files, without the database.

Prints what the API answers for a proposal (`--json`), or a summary to read. Nothing is stored:
the proposal is for a radiologist to check.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from imaging.tree import GRAFTS, propose_tree
from imaging.tree_files import SeriesRefused, read_largest_series
from imaging.tree_output import LOW_CONFIDENCE, extractor_version, proposal_body


class Command(BaseCommand):
    help = "Propose the biliary duct tree of the 3D MRCP series in a folder or zip of DICOM files (no database)."
    # Nothing here touches the database: no checks or migrations that would need it.
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("path", help="a folder (searched recursively) or a zip archive of DICOM files")
        parser.add_argument("--graft", required=True, choices=GRAFTS, help="the graft to name the ducts for")
        parser.add_argument("--json", action="store_true", help="print the proposal as the API gives it")

    def handle(self, *args, path, graft, json=False, **options):
        try:
            found = read_largest_series(path)
        except SeriesRefused as refused:
            raise CommandError(str(refused)) from None
        version = extractor_version()
        try:
            proposal = propose_tree(found.volume, found.geometries, graft=graft)
        except ValueError as error:
            body = proposal_body(
                graft=graft,
                state="failed",
                reason=f"no tree found: {error}",
                extractor_version=version,
                document=None,
                duct_confidence={},
                junction_confidence={},
                centrelines={},
            )
        else:
            body = proposal_body(
                graft=graft,
                state="ready",
                extractor_version=version,
                document=proposal.document,
                duct_confidence=proposal.duct_confidence,
                junction_confidence=proposal.junction_confidence,
                centrelines=proposal.centrelines,
            )
        if json:
            self.stdout.write(_json(body))
        else:
            self.stdout.write(_summary(body, found))
        if body["state"] == "failed":
            raise CommandError(body["reason"])


def _json(body: dict) -> str:
    return json.dumps(body, indent=2, ensure_ascii=False)


def _summary(body: dict, found) -> str:
    lines = [
        f"Series {found.series_instance_uid} ({found.description or 'no description'}): "
        f"{len(found.geometries)} slices from {found.files} file(s)"
        + (f"; {found.skipped} other file(s) not used" if found.skipped else ""),
        f"Graft: {body['graft'].replace('_', ' ')}; extractor {body['extractor_version']}",
    ]
    if body["state"] != "ready":
        lines.append(body["reason"])
        return "\n".join(lines)
    lines.append(f"Proposed ducts (confidence below {LOW_CONFIDENCE:.1f} marked 'uncertain'):")
    for duct in body["ducts"]:
        length = f"{duct['length_mm']:.1f} mm" if duct["length_mm"] is not None else "length unknown"
        confidence = "?" if duct["confidence"] is None else f"{duct['confidence']:.2f}"
        segments = f" segments {','.join(map(str, duct['segments']))}" if duct["segments"] else ""
        flag = "  uncertain" if duct["low_confidence"] else ""
        lines.append(
            f"  {duct['id']:<8} into {duct['drains_into']:<8} {length:<16} confidence {confidence}{segments}{flag}"
        )
    if body["undrained_segments"]:
        lines.append(
            f"No duct found draining segment(s) {', '.join(map(str, body['undrained_segments']))}: "
            "a duct was missed there; trace it on the images."
        )
    lines.append("A proposal: a radiologist checks it and confirms the anatomy.")
    return "\n".join(lines)
