from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from chatsite.accounts.tokens import ApiTokenError, api_token_create, api_token_revoke_all


class Command(BaseCommand):
    help = (
        "Create a personal API token for USERNAME and print it (shown this once), for "
        "`Authorization: Bearer <token>`. Tokens are listed and revoked on /accounts/settings/."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="Command line", help="How the token is listed.")
        parser.add_argument(
            "--expires-in-days", type=int, default=None, help="Expire after N days (default never)."
        )
        parser.add_argument(
            "--rotate", action="store_true", help="Revoke all of USERNAME's tokens first."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: options["username"]})
        except User.DoesNotExist:
            raise CommandError(f"No user named {options['username']!r}.") from None
        try:
            # One transaction: a refused new token leaves the old ones in place.
            with transaction.atomic():
                revoked = api_token_revoke_all(user=user) if options["rotate"] else 0
                _, key = api_token_create(
                    user=user, name=options["name"], expires_in_days=options["expires_in_days"]
                )
        except ApiTokenError as exc:
            raise CommandError(exc.message) from None
        if options["rotate"]:
            self.stderr.write(f"Revoked {revoked} token(s) of {options['username']}.")
        # Only the token on stdout, so scripts can capture it: TOKEN=$(manage.py create_api_token u)
        self.stdout.write(key)
