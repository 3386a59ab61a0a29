"""Print a donor's latest issued suitability report as a FHIR R4 DiagnosticReport."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from donors.models import Donor
from reports.fhir import mapping, selectors, services


class Command(BaseCommand):
    help = (
        "Print the latest issued report of a donor as a FHIR R4 DiagnosticReport (JSON), with the resources "
        "it references contained and the PDF embedded."
    )

    def add_arguments(self, parser):
        parser.add_argument("--donor", required=True, help="the donor's code")
        parser.add_argument("--centre", help="the centre's code (needed when the donor code is used in several)")

    def handle(self, *args, donor, centre=None, **options):
        donors = Donor.objects.filter(code=donor).select_related("centre")
        if centre:
            donors = donors.filter(centre__code=centre)
        found = list(donors[:2])
        if not found:
            raise CommandError(f"no donor {donor}" + (f" in centre {centre}" if centre else ""))
        if len(found) > 1:
            raise CommandError(f"donor code {donor} is used in several centres: give --centre")
        version = selectors.latest_version(donor=found[0])
        if version is None:
            raise CommandError(f"donor {donor} has no issued report")
        # Embedded: the printed resource stands alone, where a link would need a credential to follow.
        data = selectors.pdf_bytes(version)
        pdf = None
        if data is not None:
            created = version.pdf_rendered_at.isoformat() if version.pdf_rendered_at else None
            pdf = mapping.Pdf(title=selectors.pdf_title(version), created=created, data=data)
        resource = mapping.diagnostic_report(selectors.issued_report(version, pdf=pdf))
        services.record_fhir_export(version=version)
        self.stdout.write(json.dumps(mapping.as_json(resource), ensure_ascii=False, indent=2))
