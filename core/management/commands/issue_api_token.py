from django.apps import apps
from django.core.management.base import BaseCommand, CommandError

from core.models import CENTRE_MODEL, ApiClient
from core.tokens import issue_api_client, revoke_api_client


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
        centre_model = apps.get_model(CENTRE_MODEL)
        try:
            centre_obj = centre_model.objects.get(code=centre)
        except centre_model.DoesNotExist:
            raise CommandError(f"no centre with code {centre}") from None
        client, key = issue_api_client(centre=centre_obj, name=name, lifetime_days=days)
        self.stdout.write(f"token for {client.name} (expires {client.expires_at:%Y-%m-%d}); shown once:")
        self.stdout.write(key)
