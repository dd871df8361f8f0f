from typing import Any

from django.core.management.base import BaseCommand

from conversations.services.sweeper import generations_sweep_stale


class Command(BaseCommand):
    help = "Mark replies orphaned by a stopped server process as interrupted (run at start-up)."

    def handle(self, *args: Any, **options: Any) -> None:
        swept = generations_sweep_stale()
        self.stdout.write(f"{swept} orphaned repl{'y' if swept == 1 else 'ies'} marked interrupted")
