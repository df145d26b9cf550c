"""Onramp's Prometheus metrics (prometheus-client): steps by profile, step and outcome with their durations, and
Microsoft calls by service, status and whether Microsoft throttled them, with their latency and the time spent
waiting in Onramp's own rate limiter. Served by `wizard.metrics_views` behind a bearer token.

Several processes (web workers, Celery workers) each count their own; with PROMETHEUS_MULTIPROC_DIR set (a directory
every process of the host writes, emptied at deploy) prometheus-client's multiprocess mode adds them up at scrape
time. Without it, a scrape sees the web process's own counts (enough for one process, and for the tests)."""

from prometheus_client import Counter, Histogram

STEPS_STARTED = Counter("onramp_steps_started", "Step runs started.", ["profile", "step"])
STEPS_FINISHED = Counter("onramp_steps_finished", "Step runs ended, by how they ended.", ["profile", "step", "outcome"])
STEP_SECONDS = Histogram(
    "onramp_step_seconds",
    "How long a step run took, by how it ended.",
    ["profile", "step", "outcome"],
    buckets=(1, 5, 15, 60, 300, 900, 3600, float("inf")),
)
MICROSOFT_CALLS = Counter(
    "onramp_microsoft_calls", "Answers Microsoft gave, by service and HTTP status.", ["service", "status", "throttled"]
)
MICROSOFT_CALL_SECONDS = Histogram(
    "onramp_microsoft_call_seconds",
    "How long Microsoft took to answer one attempt, by service.",
    ["service"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120, float("inf")),
)
RATE_LIMIT_WAIT_SECONDS = Histogram(
    "onramp_rate_limit_wait_seconds",
    "Time an attempt waited in Onramp's own rate limiter before it was sent, by service.",
    ["service"],
    buckets=(0, 0.01, 0.1, 0.5, 1, 5, 30, float("inf")),
)


def step_started(profile: str, step: str) -> None:
    STEPS_STARTED.labels(profile, step).inc()


def step_finished(profile: str, step: str, outcome: str, seconds: float) -> None:
    STEPS_FINISHED.labels(profile, step, outcome).inc()
    STEP_SECONDS.labels(profile, step, outcome).observe(seconds)


def microsoft_answered(service: str, status: int, seconds: float, *, throttled: bool) -> None:
    MICROSOFT_CALLS.labels(service, str(status), "true" if throttled else "false").inc()
    MICROSOFT_CALL_SECONDS.labels(service).observe(seconds)


def rate_limit_waited(service: str, seconds: float) -> None:
    RATE_LIMIT_WAIT_SECONDS.labels(service).observe(seconds)
