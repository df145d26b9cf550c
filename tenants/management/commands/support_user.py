import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from tenants.models import SupportGrant, SupportRole


class Command(BaseCommand):
    help = (
        "Create or update a local support account: support_viewer (the console, read-only) or support_operator "
        "(also retries and re-verifies). The password is read from an environment variable, never the command line."
    )

    def add_arguments(self, parser) -> None:  # noqa: ANN001 - argparse's parser
        parser.add_argument("username")
        parser.add_argument("--role", choices=[r.value for r in SupportRole], default=SupportRole.VIEWER)
        parser.add_argument("--password-env", help="Environment variable holding the account's password.")
        parser.add_argument("--revoke", action="store_true", help="Remove the account's support role.")

    def handle(self, *args, **options) -> None:
        users = get_user_model()
        user = users.objects.filter(username=options["username"]).first()
        if options["revoke"]:
            if user is not None:
                SupportGrant.objects.filter(user=user).delete()
            self.stdout.write(f"{options['username']} is no longer support staff.")
            return
        if user is None:
            user = users.objects.create_user(options["username"])
        if options["password_env"]:
            password = os.environ.get(options["password_env"])
            if not password:
                raise CommandError(f"The environment variable {options['password_env']} is empty or unset.")
            user.set_password(password)
            user.save(update_fields=["password"])
        SupportGrant.objects.update_or_create(user=user, defaults={"role": options["role"]})
        self.stdout.write(f"{user.get_username()} is {options['role']}.")
