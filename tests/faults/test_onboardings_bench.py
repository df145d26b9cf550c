"""The quick onboardings benchmark runs end to end as a correctness check (issue 29 point 4): organisations of one
multi-tenant sandbox, each onboarded from "Connect" to activation as one chain on worker processes that share only
Redis and PostgreSQL, first one at a time and then all at once; every one activated with every room in exactly one
room list, nothing throttled. No timing is asserted; `make bench` reports the ratios against their targets."""

import pytest

from tests.helpers import postgres_answers, run_quick_bench


@pytest.mark.timeout(400)
@pytest.mark.skipif(
    not postgres_answers(),
    reason="the onboardings run on worker processes that share one PostgreSQL database, and none answers at "
    "BENCH_POSTGRES_URL",
)
def test_quick_onboardings_bench_activates_every_organisation_with_every_room_in_one_list(tmp_path):
    onboardings, printed = run_quick_bench("onboardings", tmp_path, timeout=360)
    figures = onboardings["figures"]
    alone = [seconds for runs in figures["alone_seconds"].values() for seconds in runs]
    together = figures["together_seconds"]
    assert len(alone) >= 2 and len(together) >= 6, figures
    assert figures["activated"] == len(alone) + len(together)
    assert figures["placement_problems"] == {}
    assert figures["throttled"] == 0
    # Each time is from a submission to the activation step's end: a chain that stopped early has none.
    assert all(seconds > 0 for seconds in alone + together)
    assert "onboardings together: the slowest's time ÷ its time alone" in printed
