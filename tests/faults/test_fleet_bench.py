"""The quick fleet benchmark runs end to end as a correctness check (issue 29): one multi-tenant sandbox, workers in
separate processes sharing only Redis and PostgreSQL, every organisation's nightly drift check done exactly once on
1, 2 and 4 workers, and on 2 workers one of which is killed with -9 mid-round (the dead worker's checks taken over
once each), nothing throttled. No timing is asserted; `make bench` reports the ratios against their targets."""

import pytest

from tests.helpers import postgres_answers, run_quick_bench


@pytest.mark.timeout(600)
@pytest.mark.skipif(
    not postgres_answers(),
    reason="the fleet runs worker processes that share one PostgreSQL database, and none answers at BENCH_POSTGRES_URL",
)
def test_quick_fleet_checks_every_organisation_once_on_every_worker_count(tmp_path):
    fleet, printed = run_quick_bench("fleet", tmp_path, timeout=540)
    figures = fleet["figures"]
    assert [r["worker_processes"] for r in figures["rounds"]] == [1, 2, 4]
    organisations = len(figures["rooms_per_organisation"])
    for round_ in figures["rounds"]:
        assert round_["checked_once"] == round_["done"] == organisations, round_
        assert round_["failed"] == []
    killed = figures["killed_round"]
    assert killed["checked_once"] == killed["done"] == organisations, killed
    assert killed["taken_over"] >= 1, "the killed worker was running no check"
    assert killed["takeovers"] == killed["taken_over"], killed
    assert figures["throttled"] == 0
    assert "fleet drift, 4 worker process(es): wall ÷ bound" in printed
