import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
from sandbox_client import MsClient

ROOT = Path(__file__).resolve().parents[2]


def test_token_bucket_throttles_graph_with_retry_after(make_sandbox):
    sandbox = make_sandbox(budget_rps=2)
    ms = MsClient(sandbox.info)
    statuses = [ms.graph("GET", "/organization") for _ in range(4)]
    assert [r.status_code for r in statuses[:2]] == [200, 200]
    throttled = next(r for r in statuses if r.status_code == 429)
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    assert int(throttled.headers["Retry-After"]) >= 1
    time.sleep(1.0)
    assert ms.graph("GET", "/organization").status_code == 200
    assert sandbox.control.calls()["throttled"] >= 1


def test_token_bucket_throttles_invoke_command(make_sandbox):
    sandbox = make_sandbox(budget_rps=1)
    ms = MsClient(sandbox.info)
    first, second = ms.invoke_raw("Get-OrganizationConfig"), ms.invoke_raw("Get-OrganizationConfig")
    assert first.status_code == 200 and second.status_code == 429
    assert second.headers["Retry-After"] == "1"


def test_batch_requests_are_throttled_one_by_one(make_sandbox):
    ms = MsClient(make_sandbox(budget_rps=5).info)
    batch = [{"id": str(i), "method": "GET", "url": "/organization"} for i in range(8)]
    body = ms.graph("POST", "/$batch", json={"requests": batch}).json()
    statuses = [r["status"] for r in body["responses"]]
    assert statuses.count(200) == 5 and statuses.count(429) == 3  # Graph runs a batch's requests a few at a time
    assert all("Retry-After" in r["headers"] for r in body["responses"] if r["status"] == 429)


def test_throttle_and_error_fractions(make_sandbox):
    sandbox = make_sandbox(throttle_fraction=1.0)
    ms = MsClient(sandbox.info)
    assert ms.graph("GET", "/domains").status_code == 429
    sandbox.control.set_knobs(throttle_fraction=0.0, error_fraction=1.0)
    unavailable = ms.graph("GET", "/domains")
    assert unavailable.status_code == 503 and unavailable.headers["Retry-After"] == "1"
    assert unavailable.json()["error"]["code"] == "ServiceUnavailable"
    assert ms.invoke_raw("Get-OrganizationConfig").status_code == 503
    sandbox.control.set_knobs(error_fraction=0.3)
    codes = [ms.graph("GET", "/domains").status_code for _ in range(60)]
    assert 5 < codes.count(503) < 35 and codes.count(200) > 25


def test_latency_is_applied_without_serialising_requests(make_sandbox):
    sandbox = make_sandbox(latency_ms=300)
    ms = MsClient(sandbox.info)
    ms.token(sandbox.info["graph_scope"])
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(
            pool.map(
                lambda _: MsClient(sandbox.info).session.get(sandbox.info["graph_url"] + "/organization").status_code,
                range(8),
            )
        )
    elapsed = time.monotonic() - started
    assert results == [401] * 8  # no token: still waited for the latency
    assert 0.3 <= elapsed < 1.5


def test_concurrent_writes_are_all_applied(sandbox_tenant, ms):
    ms.invoke("New-DistributionGroup", Name="Rooms", RoomList=True)

    def add(i):
        return ms.invoke_raw(
            "Add-DistributionGroupMember",
            Identity="Rooms",
            Member=f"room-{i:03d}",
            BypassSecurityGroupManagerCheck=True,
        ).status_code

    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        assert set(pool.map(add, range(1, 21))) == {200}
    assert len(ms.invoke("Get-DistributionGroupMember", Identity="Rooms")) == 20


def test_reset_restores_the_seed(sandbox_tenant, ms):
    ms.invoke("New-DistributionGroup", Name="Rooms", RoomList=True)
    sandbox_tenant.control.reset(rooms=3)
    state = sandbox_tenant.control.state()
    assert state["groups"] == [] and sum(u["kind"] == "room" for u in state["users"]) == 3
    assert sandbox_tenant.control.calls()["total"] == 0


def test_cli_serve_writes_the_info_file(tmp_path):
    info_path = tmp_path / "s.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "serve", "--port", "0", "--rooms", "7", "--info", str(info_path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while not info_path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        info = json.loads(info_path.read_text())
        session = requests.Session()
        session.trust_env = False
        state = session.get(info["control_url"] + "/state", verify=info["ca_bundle"], timeout=10).json()
        assert sum(u["kind"] == "room" for u in state["users"]) == 7
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    assert process.returncode == 0
    assert json.loads(process.stdout.read())["tenant_id"] == info["tenant_id"]
