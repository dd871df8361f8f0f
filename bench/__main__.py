"""`python -m bench` (or `make bench`): the whole performance suite of issue #8, one table.

Each benchmark runs in its own process (each sets Django up its own way), writes
bench/results/<name>.json with its figures, and this runner merges them into
bench/results/latest.json and prints one table. Every figure was measured next to its baseline
in the same run; see docs/performance.md for what each means and how the figures were reached.

`python -m bench history cache` runs only the named benchmarks.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench.common import RESULTS, machine

# In the order of the table, cheapest first within it where it does not matter.
BENCHMARKS = ("streams", "history", "sockets_memory", "images", "cache", "page_load")
# A benchmark that hangs must not hold the suite: far above any module's normal time.
TIMEOUT_SECONDS = 360


def run_benchmark(name: str) -> dict[str, Any]:
    started = time.perf_counter()
    print(f"--- bench.{name}", flush=True)
    result = RESULTS / f"{name}.json"
    result.unlink(missing_ok=True)
    try:
        finished = subprocess.run(
            [sys.executable, "-m", f"bench.{name}"], timeout=TIMEOUT_SECONDS, check=False
        )
        error = f"exit status {finished.returncode}" if finished.returncode else ""
    except subprocess.TimeoutExpired:
        error = f"did not finish in {TIMEOUT_SECONDS} s"
    seconds = round(time.perf_counter() - started, 1)
    if not error and not result.exists():
        error = f"wrote no {result.name}"
    figures = [] if error else json.loads(result.read_text()).get("figures", [])
    return {"name": name, "seconds": seconds, "error": error, "figures": figures}


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "NOT met", None: "report"}[met]


def print_table(figures: list[dict[str, Any]]) -> None:
    print()
    print(f"{'#':>2}  {'figure':<62} {'value':>12}  {'budget':<36} verdict")
    for row in figures:
        value = "—" if row["value"] is None else f"{row['value']:g} {row['unit']}"
        print(
            f"{row['id']:>2}  {row['what'][:62]:<62} {value:>12}  {row['budget'][:36]:<36} "
            f"{_verdict(row['met'])}"
        )
        print(f"{'':>4}baseline: {row['baseline']}")


def main(names: list[str]) -> int:
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        print(f"unknown benchmarks: {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    RESULTS.mkdir(exist_ok=True)
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    runs = [run_benchmark(name) for name in (names or BENCHMARKS)]
    figures = sorted((f for run in runs for f in run["figures"]), key=lambda f: f["id"])
    report = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
        "machine": machine(),
        "benchmarks": [{k: run[k] for k in ("name", "seconds", "error")} for run in runs],
        "figures": figures,
    }
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    print_table(figures)
    failed = [run for run in runs if run["error"]]
    for run in failed:
        print(f"bench.{run['name']} failed: {run['error']}")
    print(f"\n{report['seconds']} s in all; written: {RESULTS / 'latest.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
