"""`manage.py classify_anatomy FILE [FILE ...]`: classify anatomy documents from
files, printing one JSON result per file per line (`file` first). Invalid or
unreadable files are reported in their line, never as a failing exit status, so
a batch always runs to the end."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from classification.document import MAX_DOCUMENT_BYTES, classify_json_bytes, invalid_result


class Command(BaseCommand):
    help = "Classify biliary-anatomy/1 JSON files; prints one JSON result per line."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE", help="anatomy document (JSON)")

    def handle(self, *args, **options):
        for path in options["files"]:
            try:
                with open(path, "rb") as handle:
                    data = handle.read(MAX_DOCUMENT_BYTES + 1)  # enough to tell that it is too large
            except OSError as error:
                result = invalid_result([f"document: cannot read the file ({error.strerror or error})"])
            else:
                result = classify_json_bytes(data)
            self.stdout.write(json.dumps({"file": path, **result}, ensure_ascii=False))
