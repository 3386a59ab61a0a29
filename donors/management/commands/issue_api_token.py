from django.core.management.base import BaseCommand, CommandError

from donors.models import ApiClient, Centre
from donors.tokens import issue_api_client, revoke_api_client


class Command(BaseCommand):
    help = "Issue a token for a hospital system bound to a centre (printed once), or revoke one by prefix."

    def add_arguments(self, parser):
        parser.add_argument("--centre", help="centre code")
        parser.add_argument("--name", help="name of the client system")
        parser.add_argument("--days", type=int, default=None, help="lifetime in days")
        parser.add_argument("--revoke", metavar="PREFIX", help="revoke the token with this prefix")

    def handle(self, *args, centre=None, name=None, days=None, revoke=None, **options):
        if revoke:
            client = ApiClient.objects.filter(key_prefix=revoke).first()
            if client is None:
                raise CommandError(f"no token with prefix {revoke}")
            revoke_api_client(client=client)
            self.stdout.write(f"revoked {revoke}")
            return
        if not centre or not name:
            raise CommandError("--centre and --name are required to issue a token")
        try:
            centre_obj = Centre.objects.get(code=centre)
        except Centre.DoesNotExist:
            raise CommandError(f"no centre with code {centre}") from None
        client, key = issue_api_client(centre=centre_obj, name=name, lifetime_days=days)
        self.stdout.write(f"token for {client.name} (expires {client.expires_at:%Y-%m-%d}); shown once:")
        self.stdout.write(key)
