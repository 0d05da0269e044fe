"""The matcher benchmark keeps running (its timings are not asserted here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_benchmark_runs_and_both_matchers_agree():
    # bench/matcher.py exits 2 when the package and the naive baseline pick different winners.
    done = subprocess.run(
        [sys.executable, "bench/matcher.py", "--quick", "--sizes", "20,60"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "speedup at 60 rules" in done.stdout
