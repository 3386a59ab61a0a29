"""Allow a sending system (a PACS, a scanner) to store studies in the DICOM node for a centre."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from core.errors import IllegalState, InvalidInput
from donors.models import Centre
from imaging import services


class Command(BaseCommand):
    help = "Register the calling AE title of a system that sends studies to the DICOM node for a centre."

    def add_arguments(self, parser):
        parser.add_argument("ae_title", help="the calling AE title (1-16 characters, no backslash)")
        parser.add_argument("--centre", required=True, help="the centre's code")
        parser.add_argument("--host", default="", help="the address it must call from (default: any)")

    def handle(self, *args, ae_title, centre, host="", **options):
        found = Centre.objects.filter(code=centre).first()
        if found is None:
            known = ", ".join(Centre.objects.values_list("code", flat=True)) or "none"
            raise CommandError(f"no centre with code {centre!r} (known: {known})")
        try:
            peer = services.register_dicom_peer(actor=None, centre=found, ae_title=ae_title, host=host)
        except (InvalidInput, IllegalState) as refused:
            raise CommandError(refused.message) from None
        where = f"from {peer.host}" if peer.host else "from any address"
        self.stdout.write(f"registered {peer.ae_title} for centre {found.code}, calling {where}")
