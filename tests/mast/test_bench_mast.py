"""benchmarks/bench_mast.py: the five-instrument inventory keeps its request budget (<= 30 invokes) and jwql's counts."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_mast.py"


def test_bench_mast_holds_the_request_budget_with_fast_answers():
    res = subprocess.run([sys.executable, str(BENCH), "--latency", "0", "--repeat", "1"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    ours = re.search(r"ours:\s+(\d+) invoke requests", res.stdout)
    jwql = re.search(r"jwql pattern: (\d+) invoke requests", res.stdout)
    assert ours and jwql, res.stdout
    assert int(ours.group(1)) <= 30 < int(jwql.group(1))
    assert "budget met" in res.stdout
