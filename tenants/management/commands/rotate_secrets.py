from django.core.management.base import BaseCommand

from tenants.secrets import rotate_secrets


class Command(BaseCommand):
    help = "Re-encrypt every stored secret with the first key of ONRAMP_ENCRYPTION_KEYS, so older keys can go."

    def handle(self, *args, **options) -> None:
        self.stdout.write(f"Re-encrypted {rotate_secrets()} secrets with the first key.")
