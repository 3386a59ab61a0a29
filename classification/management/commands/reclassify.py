"""Classify again every anatomy whose stored runs predate the current rules version."""

from django.core.management.base import BaseCommand

from classification.document import RULES_VERSION
from classification.services import queue_reclassification


class Command(BaseCommand):
    help = "Queue every anatomy with no classification under the current rules version (run after an upgrade)."

    def handle(self, *args, **options):
        queued = queue_reclassification()
        noun = "anatomy" if queued == 1 else "anatomies"
        self.stdout.write(f"{queued} {noun} queued for classification under rules {RULES_VERSION}")
