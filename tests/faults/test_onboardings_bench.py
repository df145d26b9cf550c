"""The quick onboardings benchmark runs end to end as a correctness check (issue 29 point 4): organisations of one
multi-tenant sandbox, each onboarded from "Connect" to activation as one chain on worker processes that share only
Redis and PostgreSQL, first one at a time and then all at once; every one activated with every room in exactly one
room list, nothing throttled. No timing is asserted; `make bench` reports the ratios against their targets."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.test_fleet_bench import _postgres_answers

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(400)
@pytest.mark.skipif(
    not _postgres_answers(),
    reason="the onboardings run on worker processes that share one PostgreSQL database, and none answers at "
    "BENCH_POSTGRES_URL",
)
def test_quick_onboardings_bench_activates_every_organisation_with_every_room_in_one_list(tmp_path):
    results = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "onboardings", "--results", str(results)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=360,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    (onboardings,) = json.loads(results.read_text())["benchmarks"]
    assert not onboardings["error"]
    figures = onboardings["figures"]
    alone = [seconds for runs in figures["alone_seconds"].values() for seconds in runs]
    together = figures["together_seconds"]
    assert len(alone) >= 2 and len(together) >= 6, figures
    assert figures["activated"] == len(alone) + len(together)
    assert figures["placement_problems"] == {}
    assert figures["throttled"] == 0
    # Each time is from a submission to the activation step's end: a chain that stopped early has none.
    assert all(seconds > 0 for seconds in alone + together)
    assert "onboardings together: the slowest's time ÷ its time alone" in done.stdout
