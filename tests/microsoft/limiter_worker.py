"""A separate process taking slots of a tenant's budget from the shared Redis limiter (used by test_ratelimit).

Prints "ready", waits for the go signal (a BLPOP, so both processes start together), then prints the time.time()
at which each of its slots began.
"""

import sys

import django

django.setup()

import redis  # noqa: E402
from django.conf import settings  # noqa: E402

from wizard.microsoft import ratelimit  # noqa: E402

key, go, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
print("ready", flush=True)
redis.Redis.from_url(settings.REDIS_URL).blpop([go], timeout=30)
import time  # noqa: E402

for _ in range(count):
    ratelimit.wait_for_slot(key)
    print(time.time(), flush=True)
