from collections.abc import Callable

from django.core.management.base import BaseCommand
from django.db import transaction

from donors.demo import DEMO_PASSWORD, seed_demo_centre
from reports.demo import seed_imaging, seed_study_cohort
from reports.demo_story import seed_workflow_stages

# What follows the demo centre and its users, in this order (each called with centre= and users=).
SEEDERS: list[Callable[..., str]] = [seed_imaging, seed_workflow_stages, seed_study_cohort]

# What each demo user does in the demo centre (the role's permissions in core.roles).
ROLE_WORK = {
    "coordinator": "registers donors and recipients, moves statuses, records clearances; administers the centre",
    "radiologist": "uploads and reads the MRCP, resolves image identity, marks the anatomy final, signs decisions",
    "hepatologist": "records labs and biopsies, signs decisions, issues reports",
    "surgeon": "proposes and signs decisions, issues reports, records operations",
    "auditor": "reads the audit trail (/donors/audit/) and the cohort page, no donor records",
}


class Command(BaseCommand):
    help = (
        "Create (or complete) the demo centre, one user per role and donors DEMO-001..DEMO-020 at every "
        "stage of the workup, and the study cohort centre. Idempotent."
    )

    def handle(self, *args, **options):
        # One transaction: all or nothing, and one commit instead of hundreds (slow on SQLite).
        with transaction.atomic():
            centre, users = seed_demo_centre()
            extra = [seeder(centre=centre, users=users) or "" for seeder in SEEDERS]
        self.stdout.write(self.style.SUCCESS(f"Demo centre: {centre.name}"))
        self.stdout.write(f"Demo users (demo only; password for all: {DEMO_PASSWORD}):")
        for role, user in users.items():
            self.stdout.write(f"  {user.username:14s} {ROLE_WORK.get(role, role)}")
        for line in extra:
            if line:
                self.stdout.write(line)
