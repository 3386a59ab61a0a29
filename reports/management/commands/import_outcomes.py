"""Import historical surgical outcomes from a CSV file into a centre (all rows or none)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from reports.services import HEADER, ImportRefused, import_outcomes


class Command(BaseCommand):
    help = (
        "Import historical outcomes from CSV rows " + ",".join(HEADER) + " into the centre NAME (created when "
        "unknown). graft: right_lobe, left_lobe or left_lateral_segment; proposed_type: 1, 2 or 3; anastomoses: "
        "1-8; technique: as named in the study's Table 1 (end-to-end, Roux-en-Y, double end-to-end, double "
        "Roux-en-Y, triple Roux-en-Y, other) or empty. Donors the centre does not know are created with "
        "as historical records (MRN IMPORTED, given name Imported, family name = the code; birth date, height "
        "and weight unknown; sex/ABO/relationship empty) and status donated. The whole "
        "file is one transaction: when any row is refused, nothing is imported and every refused line is listed."
    )

    def add_arguments(self, parser):
        parser.add_argument("csv", help="path of the CSV file (UTF-8)")
        parser.add_argument("--centre", required=True, help="centre name (created when it does not exist)")

    def handle(self, *args, **options):
        path = Path(options["csv"])
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except OSError as error:
            raise CommandError(f"cannot read {path}: {error.strerror or error}") from None
        except UnicodeDecodeError as error:
            raise CommandError(f"{path} is not UTF-8 text (byte {error.start})") from None
        try:
            result = import_outcomes(centre_name=options["centre"], text=text, source_name=path.name)
        except ImportRefused as refused:
            for line, reason in refused.result.refused:
                self.stderr.write(f"line {line}: {reason}" if line else reason)
            raise CommandError(
                f"{len(refused.result.refused)} row(s) refused: nothing imported (the file is imported as a whole)"
            ) from None
        centre = result.centre
        assert centre is not None  # a successful import names its centre
        created = " (new centre)" if result.centre_created else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"imported {result.outcomes_created} outcome(s) into {centre.name} [{centre.code}]{created}; "
                f"{result.donors_created} donor(s) created with placeholder demographics; all rows accepted"
            )
        )
