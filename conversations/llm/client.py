"""The one place that decides where Messages API calls go.

- `ANTHROPIC_API_KEY` set: the real API (or `ANTHROPIC_BASE_URL`, any compatible server).
- `ANTHROPIC_BASE_URL` set without a key: that server with a placeholder key (e.g. our
  simulator served over loopback by `manage.py run_simulator`).
- Neither: the built-in simulator, in process, through the real SDK via an httpx2 transport.
"""

from __future__ import annotations

import asyncio
import weakref

import anthropic
import httpx2
from django.conf import settings

from conversations.llm.simulator import Simulator, simulator_transport

OFFLINE_BASE_URL = "http://offline-simulator.invalid"
PLACEHOLDER_API_KEY = "no-key-configured"

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anthropic.AsyncAnthropic] = (
    weakref.WeakKeyDictionary()
)
_simulator: Simulator | None = None


def uses_offline_simulator() -> bool:
    return not settings.ANTHROPIC_API_KEY and not settings.ANTHROPIC_BASE_URL


def offline_simulator() -> Simulator:
    """The process-wide in-process simulator (tests read what it received from here)."""
    global _simulator
    if _simulator is None:
        _simulator = Simulator(token_delay=settings.CHATSITE_SIMULATOR_TOKEN_DELAY)
    return _simulator


def reset_clients() -> None:
    """Forget cached clients and the simulator (tests change settings between cases)."""
    global _simulator
    _clients.clear()
    _simulator = None


def get_client() -> anthropic.AsyncAnthropic:
    """An `AsyncAnthropic` for the running event loop.

    Clients are cached per loop: an httpx2 connection pool belongs to the loop that opened it,
    and sync callers (a blocking REST send) run their own short-lived loops.
    """
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = _build_client()
        _clients[loop] = client
    return client


def _build_client() -> anthropic.AsyncAnthropic:
    if uses_offline_simulator():
        return anthropic.AsyncAnthropic(
            api_key=PLACEHOLDER_API_KEY,
            base_url=OFFLINE_BASE_URL,
            http_client=httpx2.AsyncClient(transport=simulator_transport(offline_simulator())),
        )
    return anthropic.AsyncAnthropic(
        # Always explicit: without it the SDK may read profile credentials from disk.
        api_key=settings.ANTHROPIC_API_KEY or PLACEHOLDER_API_KEY,
        base_url=settings.ANTHROPIC_BASE_URL or None,
    )
