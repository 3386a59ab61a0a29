from django.core.management.base import BaseCommand, CommandError

from core.audit_archive import archive_cutoff, archive_old_events, months_to_archive
from core.errors import InvalidInput


class Command(BaseCommand):
    help = (
        "Move audit events older than AUDIT_ARCHIVE_AFTER_MONTHS (whole months) to compressed files in "
        "storage (audit-archive/), checked before they leave the table. Refuses to run without the setting."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="name the months that would move, move nothing")

    def handle(self, *args, dry_run=False, **options):
        try:
            cutoff = archive_cutoff()
        except InvalidInput as error:
            raise CommandError(f"{error.message}: set AUDIT_ARCHIVE_AFTER_MONTHS") from None
        if dry_run:
            months = months_to_archive(cutoff)
            self.stdout.write(f"{len(months)} months before {cutoff:%Y-%m-%d} would be archived")
            for month in months:
                self.stdout.write(f"  {month:%Y-%m}")
            return
        archived = archive_old_events(actor=None)
        for done in archived:
            self.stdout.write(f"{done.month:%Y-%m}: {done.rows} events -> {done.name} (sha256 {done.sha256})")
        self.stdout.write(f"archived {sum(done.rows for done in archived)} events in {len(archived)} files")
