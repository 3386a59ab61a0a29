"""Write the DICOM structured report of a donor's final biliary anatomy to a file."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from core.errors import DomainError
from donors.models import Donor
from reports.selectors import anatomy_sr, final_anatomy_of, record_anatomy_sr_read


class Command(BaseCommand):
    help = "Write the DICOM SR (Comprehensive 3D SR, TID 1500) of the donor CODE's final biliary anatomy to FILE."

    def add_arguments(self, parser):
        parser.add_argument("--donor", required=True, help="donor code")
        parser.add_argument("--centre", default="", help="centre code, when the donor code is used in several centres")
        parser.add_argument("--out", required=True, help="the file to write (DICOM Part 10)")

    def handle(self, *args, **options):
        code, centre = options["donor"].strip(), options["centre"].strip()
        donors = Donor.objects.select_related("centre").filter(code=code)
        if centre:
            donors = donors.filter(centre__code=centre)
        found = list(donors[:2])
        if not found:
            raise CommandError(f"no donor {code!r}" + (f" in centre {centre!r}" if centre else ""))
        if len(found) > 1:
            raise CommandError(f"donor code {code!r} is used in several centres: name one with --centre")
        out = Path(options["out"])
        if not out.parent.is_dir():
            raise CommandError(f"--out: no folder {str(out.parent)!r} to write {out.name!r} in")
        try:
            with transaction.atomic():
                annotation = final_anatomy_of(donor=found[0])
                dataset = anatomy_sr(annotation)
                dataset.save_as(out, enforce_file_format=True)
                record_anatomy_sr_read(
                    actor=None, annotation=annotation, channel="command", what=f"exported to {out.name}"
                )
        except DomainError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"wrote {out}: the biliary anatomy of {found[0].code} (revision {annotation.revision}) as "
            f"SR instance {dataset.SOPInstanceUID}"
        )
