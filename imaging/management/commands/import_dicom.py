"""Import a folder of DICOM files or a zip for a donor, through the same service as uploads."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from donors.models import Donor
from imaging import jobs, services
from imaging.models import Upload, UploadFile
from imaging.selectors import upload_series


class Command(BaseCommand):
    help = "Import DICOM files (a folder, searched recursively, a zip or one file) for a donor."

    def add_arguments(self, parser):
        parser.add_argument("path", help="a folder, a zip archive or a DICOM file")
        parser.add_argument("--donor", required=True, help="the donor's code")
        parser.add_argument("--centre", help="the centre's code (needed when the donor code is used in several)")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, path, donor, centre=None, json=False, **options):
        root = Path(path)
        if not root.exists():
            raise CommandError(f"{root} does not exist")
        donors = Donor.objects.filter(code=donor)
        if centre:
            donors = donors.filter(centre__code=centre)
        found = list(donors[:2])
        if not found:
            raise CommandError(f"no donor {donor}" + (f" in centre {centre}" if centre else ""))
        if len(found) > 1:
            raise CommandError(f"donor code {donor} is used in several centres: give --centre")
        paths = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        if not paths:
            raise CommandError(f"no files in {root}")
        handles = [p.open("rb") for p in paths]
        try:
            incoming = [
                services.Incoming(str(p.relative_to(root)) if root.is_dir() else p.name, p.stat().st_size, handle)
                for p, handle in zip(paths, handles, strict=True)
            ]
            upload = services.create_upload(actor=None, donor=found[0], files=incoming, channel="command")
        finally:
            for handle in handles:
                handle.close()
        jobs.ingest_upload(upload_id=upload.pk, channel="command")
        upload = Upload.objects.get(pk=upload.pk)
        report = _report(upload)
        if json:
            self.stdout.write(_json(report))
            return
        self.stdout.write(
            f"{report['accepted']} accepted, {report['duplicates']} already stored, {len(report['rejected'])} rejected"
        )
        for line in report["rejected"]:
            self.stdout.write(f"  rejected {line['file']}: {line['reason']}")
        for series in report["series"]:
            self.stdout.write(
                f"  series {series['series_uid']} {series['description']!r}: "
                f"{series['instances']} images{', MRCP' if series['mrcp'] else ''}"
            )


def _report(upload: Upload) -> dict:
    rejected = upload.files.filter(outcome=UploadFile.Outcome.REJECTED).order_by("id")
    return {
        "accepted": upload.accepted,
        "duplicates": upload.duplicates,
        "rejected": [{"file": f.name, "reason": f.reason} for f in rejected],
        "series": [
            {
                "series_uid": s.series_instance_uid,
                "description": s.description,
                "instances": s.instance_count,
                "mrcp": s.used_as_mrcp,
            }
            for s in upload_series(upload)
        ],
    }


def _json(report: dict) -> str:
    return json.dumps(report)
