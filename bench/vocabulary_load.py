"""What Pass 1's vocabularies cost an `ai` worker process: load time and memory."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from bench import harness

LOAD_FLOOR_S = 2.0
RSS_FLOOR_MB = 350.0

_PROBE = """
import json, resource, sys, time
def rss():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * 4096 / 1e6
import tasks.worker  # the Celery app, as a worker has it
started = time.perf_counter()
mode = sys.argv[1]
if mode == "cached":
    from app.pipeline.ai.local import LocalProvider
    from app.pipeline.layout import DocumentText
    LocalProvider().detect_entities(DocumentText("Metformin 500 mg", (), ()))
elif mode == "built":
    from app.pipeline.ai.vocabulary import build_vocabulary
    kept = build_vocabulary()
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6
print(json.dumps({"seconds": seconds, "rss_mb": rss(), "peak_mb": peak}))
"""


def probe(mode: str) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, mode],
        cwd=harness.PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def measure(mode: str, rounds: int) -> dict[str, float]:
    runs = [probe(mode) for _ in range(rounds)]
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def run(argv: Sequence[str] = ()) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    measure("cached", 1)  # make sure the cache exists before it is timed
    figures = {mode: measure(mode, args.rounds) for mode in ("baseline", "cached", "built")}
    base = figures["baseline"]
    print(f"## Pass 1 vocabularies in an ai worker process (median of {args.rounds} runs)\n")
    print(f"{'process':<40} {'load s':>7} {'RSS MB':>7} {'peak MB':>8} {'RSS ratio':>10}")
    labels = {
        "baseline": "worker without vocabularies (baseline)",
        "cached": "worker with the local provider (cache)",
        "built": "vocabulary built from the packages",
    }
    for mode, label in labels.items():
        row = figures[mode]
        print(
            f"{label:<40} {row['seconds']:7.2f} {row['rss_mb']:7.0f} {row['peak_mb']:8.0f} "
            f"{row['rss_mb'] / base['rss_mb']:9.2f}x"
        )
    cached = figures["cached"]
    load_ok = cached["seconds"] <= LOAD_FLOOR_S
    rss_ok = max(cached["rss_mb"], cached["peak_mb"]) <= RSS_FLOOR_MB
    print(
        f"\nload from the cache: {cached['seconds']:.2f} s, "
        f"{cached['seconds'] / figures['built']['seconds']:.2f}x the build's time; "
        f"floor {LOAD_FLOOR_S:.0f} s {'met' if load_ok else 'NOT met'}"
    )
    print(
        f"worker with every vocabulary: {cached['rss_mb']:.0f} MB resident, peak "
        f"{cached['peak_mb']:.0f} MB; floor {RSS_FLOOR_MB:.0f} MB {'met' if rss_ok else 'NOT met'}"
    )
    payload = {"figures": figures, "load_floor_met": load_ok, "rss_floor_met": rss_ok}
    harness.write_results("vocabulary_load", payload)
    return payload


def main(argv: list[str] | None = None) -> int:
    payload = run(sys.argv[1:] if argv is None else argv)
    return 0 if payload["load_floor_met"] and payload["rss_floor_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
