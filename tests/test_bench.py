"""The benchmarks keep running (their timings are not asserted here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_benchmark_runs_and_both_matchers_agree():
    # bench/matcher.py exits 2 when the package and the naive baseline pick different rules,
    # in either mix (equality only; 20% regex and negative matchers with fan-out).
    done = subprocess.run(
        [sys.executable, "bench/matcher.py", "--quick", "--sizes", "20,60"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[equality mix] speedup at 60 rules" in done.stdout
    assert "[matchers mix] speedup at 60 rules" in done.stdout


def test_the_delivery_benchmark_runs_and_sends_each_notification_once():
    # bench/delivery.py exits 2 unless the outbox gets exactly one message per alert, equal to
    # the baseline's, and every delivery is recorded as sent after one attempt.
    done = subprocess.run(
        [sys.executable, "bench/delivery.py", "--quick", "--queries"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for expected in (
        "package µs/notif",
        "baseline µs/notif",
        "redelivery µs",
        "queries per notification",
        "exactly-once bookkeeping at 40 alerts",
        "a redelivery costs",
        "task (at commit):",
    ):
        assert expected in done.stdout, done.stdout
