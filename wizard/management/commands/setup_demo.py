import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from tenants.models import Tenant
from wizard.actions import create_tenant


class Command(BaseCommand):
    help = "Create the demo admin (printing its login once) and the demo tenant, if they do not exist."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument("--slug", default="demo")

    def handle(self, *args, username: str, slug: str, **options) -> None:
        users = get_user_model()
        user = users.objects.filter(username=username).first()
        if user is None:
            password = secrets.token_urlsafe(12)
            user = users.objects.create_user(username=username, password=password)
            login_file = settings.VAR_DIR / "demo-login.txt"
            login_file.write_text(f"{username} {password}\n")
            login_file.chmod(0o600)
            self.stdout.write(self.style.SUCCESS(f"Demo admin created. Sign in as {username} / {password}"))
        else:
            self.stdout.write(f"Demo admin {username} exists; its login is in {settings.VAR_DIR / 'demo-login.txt'}.")
        if not Tenant.objects.filter(slug=slug).exists():
            create_tenant(creator=user, display_name="Contoso (sandbox)", slug=slug)
            self.stdout.write(f"Demo tenant {slug} created.")
