"""`manage.py run_simulator`: serve the offline Anthropic API simulator over HTTP.

Point the app (or any SDK client) at it with ANTHROPIC_BASE_URL; any API key is accepted.
Useful to try the real network path (timeouts, disconnects) without calling the real API.
"""

from __future__ import annotations

from typing import Any

import uvicorn
from django.core.management.base import BaseCommand, CommandError, CommandParser

from conversations.llm.simulator import Simulator, simulator_asgi_app


class Command(BaseCommand):
    help = "Serve the offline Anthropic Messages API simulator (use its URL as ANTHROPIC_BASE_URL)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="interface to bind (127.0.0.1)")
        parser.add_argument("--port", type=int, default=8765, help="port to listen on (8765)")
        parser.add_argument(
            "--token-delay", type=float, default=0.02, help="seconds between streamed tokens"
        )
        parser.add_argument(
            "--first-token-delay", type=float, default=0.0, help="seconds before the first token"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host: str = options["host"]
        port: int = options["port"]
        token_delay: float = options["token_delay"]
        first_token_delay: float = options["first_token_delay"]
        if token_delay < 0 or first_token_delay < 0:
            raise CommandError("delays must be zero or more seconds")
        simulator = Simulator(token_delay=token_delay, first_token_delay=first_token_delay)
        # An IPv6 literal needs brackets inside a URL.
        url_host = f"[{host}]" if ":" in host else host
        self.stdout.write(
            f"Anthropic API simulator listening. Use:\n"
            f"  ANTHROPIC_BASE_URL=http://{url_host}:{port}\n"
            f"  (any ANTHROPIC_API_KEY is accepted; Ctrl-C to stop)"
        )
        config = uvicorn.Config(
            simulator_asgi_app(simulator), host=host, port=port, log_level="warning"
        )
        uvicorn.Server(config).run()
