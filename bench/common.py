"""What every benchmark shares: a throw-away Django, medians, the machine, and one figure's shape.

Every figure is reported next to a baseline measured in the same run (the machine is shared and
noisy), as `{"id", "what", "value", "baseline", "unit", "budget", "met", "detail"}`; the runner
(`python -m bench`) merges the figures of all modules into bench/results/latest.json.
"""

from __future__ import annotations

import os
import platform
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def django_setup(*, debug: bool = False) -> None:
    """Django on a fresh SQLite file and the in-memory channel layer, migrated.

    DEBUG stays off (no query log: production speed) unless pages are served, whose static
    files are only found without `collectstatic` in DEBUG.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    os.environ["DEBUG"] = "true" if debug else "false"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # a throw-away key
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
    os.environ["CHATSITE_DATA_DIR"] = tempfile.mkdtemp(prefix="chatsite-bench-")
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    # A page's server thread and the benchmark's own thread share the SQLite file.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "1"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def median_seconds(function: Callable[[], object], runs: int) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def machine() -> dict[str, Any]:
    return {
        "cpus": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "load_average": [round(load, 2) for load in os.getloadavg()],
    }


def figure(
    number: int,
    what: str,
    *,
    value: float | None,
    unit: str,
    baseline: str,
    budget: str,
    met: bool | None,
    **detail: Any,
) -> dict[str, Any]:
    """One row of the suite's table; `met` is None where the issue asks only for a report."""
    return {
        "id": number,
        "what": what,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "budget": budget,
        "met": met,
        "detail": detail,
    }
