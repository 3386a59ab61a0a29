from django.core.management.base import BaseCommand

from donors.demo import DEMO_PASSWORD, seed_demo_centre


class Command(BaseCommand):
    help = "Create (or complete) the demo centre, one user per role and donors DEMO-001..DEMO-020. Idempotent."

    def handle(self, *args, **options):
        centre, users = seed_demo_centre()
        extra = []
        for hook in _extra_seeders():
            extra.append(hook(centre=centre, users=users) or "")
        self.stdout.write(self.style.SUCCESS(f"Demo centre: {centre.name}"))
        self.stdout.write("Demo users (demo only; password for all: %s):" % DEMO_PASSWORD)
        for role, user in users.items():
            self.stdout.write(f"  {user.username:14s} {role}")
        for line in extra:
            if line:
                self.stdout.write(line)


def _extra_seeders():
    """Other apps add their demo data (annotations, images, cohorts) through `demo_seeders`."""
    from django.apps import apps
    from importlib import import_module

    seeders = []
    for config in apps.get_app_configs():
        try:
            module = import_module(f"{config.name}.demo")
        except ModuleNotFoundError:
            continue
        seeders.extend(getattr(module, "SEEDERS", []))
    return seeders
