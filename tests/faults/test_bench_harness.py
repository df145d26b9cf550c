"""The benchmark harness runs end to end (the CSV benchmark, quick): it writes its JSON and prints its table.
No timing is asserted here; `make bench` reports the figures against the targets."""

import json

from tests.helpers import run_quick_bench


def test_bench_quick_csv_writes_results_and_table(tmp_path):
    csv_result, printed = run_quick_bench("csv", tmp_path, timeout=240)
    assert csv_result["name"] == "csv"
    assert {target["name"] for target in csv_result["targets"]} == {
        "validate upload: time",
        "validate upload: peak memory",
    }
    assert all(target["measured"] is not None and target["met"] in (True, False) for target in csv_result["targets"])
    assert csv_result["load"]["cpus"] >= 1
    assert "validate upload: time" in printed and "load during csv" in printed


def test_a_run_of_some_groups_keeps_the_other_groups_results(tmp_path):
    from bench.__main__ import _merged

    results = tmp_path / "results.json"
    earlier = [{"name": "fleet", "figures": {"round": 1}}, {"name": "csv", "figures": {"old": True}}]
    results.write_text(json.dumps({"benchmarks": earlier}))
    merged = _merged(results, [{"name": "csv", "figures": {"old": False}}])
    assert merged == [{"name": "csv", "figures": {"old": False}}, {"name": "fleet", "figures": {"round": 1}}]
    assert _merged(tmp_path / "absent.json", [{"name": "csv"}]) == [{"name": "csv"}]
