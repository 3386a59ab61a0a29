"""Print a centre's cohort statistics (Table 4 with its tests, types per system, prediction agreement)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from donors.models import Centre
from reports.cohort import cohort_statistics


class Command(BaseCommand):
    help = "Print the cohort statistics of the centre NAME (or code): as text, or as one JSON object with --json."

    def add_arguments(self, parser):
        parser.add_argument("--centre", required=True, help="centre name or code")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options):
        name = options["centre"].strip()
        centre = Centre.objects.filter(name=name).first() or Centre.objects.filter(code=name).first()
        if centre is None:
            raise CommandError(f"no centre named {name!r}")
        stats = cohort_statistics(centre)
        if options["json"]:
            self.stdout.write(json.dumps(stats, sort_keys=False))
            return
        t = stats["table4"]
        self.stdout.write(
            f"{centre.name}: {stats['outcomes']['total']} operated donors "
            f"({stats['outcomes']['recorded']} recorded, {stats['outcomes']['imported']} imported)"
        )
        self.stdout.write("type   one  two+")
        for key in ("type1", "type2", "type3"):
            self.stdout.write(f"{key}  {t[key]['single']:4d}  {t[key]['multiple']:4d}")
        if stats["chi2"] is None:
            self.stdout.write("chi-square: not defined (an empty row or column)")
        else:
            self.stdout.write(
                f"chi-square {stats['chi2']:.3f} (p {stats['chi2_p']:.4f}); Yates {stats['chi2_yates']:.3f} "
                f"(p {stats['chi2_yates_p']:.4f}); Fisher p {stats['fisher_p']:.4f}"
            )
        agreement = stats["prediction_agreement"]
        if agreement["n"]:
            self.stdout.write(f"predicted count matched: {agreement['agree']} of {agreement['n']}")
