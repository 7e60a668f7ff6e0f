"""bench/latency.py's quick mode runs end to end: both scenarios, Teamspiegel and the peer, over
real HTTP. No timing is asserted (speed lives in bench/): only that it completes, prints its
figures and targets, and that every simulated answer got its next question from our bot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_quick_mode_completes_and_prints_the_figures(tmp_path):
    out = tmp_path / "latency.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "latency.py"), "--quick", "--json", str(out),
         "--tmp", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=850)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    text = run.stdout
    assert "| scenario | side | people |" in text
    for line in ("| realistic | teamspiegel |", "| realistic | peer |",
                 "| capacity | teamspiegel |", "| capacity | peer |"):
        assert line in text
    assert "reply latency p95 < 1 s" in text and "bot CPU < 2 ms per update" in text
    results = {(r["scenario"], r["side"]): r for r in json.loads(out.read_text())}
    for scenario in ("realistic", "capacity"):
        ours = results[scenario, "teamspiegel"]
        # every answer of every simulated person was followed by the next question
        assert ours["stuck"] == 0
        assert ours["answers"] == {"realistic": 20 * 4, "capacity": 50 * 5}[scenario]
        assert ours["latency_ms"]["p50"] > 0 and ours["cpu_ms"] > 0
        assert results[scenario, "peer"]["answers"] > 0
