"""Password sign-in is throttled (django-axes): after ONRAMP_SIGNIN_FAILURE_LIMIT wrong passwords in a row for one
username from one address, that pair is refused with a page that says why and for how long, the right password
included, until the cool-off has passed. Other accounts and other addresses are unaffected."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db

ATTACKER_ADDRESS = "203.0.113.7"
OTHER_ADDRESS = "198.51.100.20"
SMALL_LIMIT = 3


@pytest.fixture
def small_limit(settings) -> None:
    """A lower limit where the number is not what is tested: each wrong password costs a real password hash."""
    settings.ONRAMP_SIGNIN_FAILURE_LIMIT = SMALL_LIMIT
    settings.AXES_FAILURE_LIMIT = SMALL_LIMIT


def _sign_in(client: Client, username: str, password: str, address: str = ATTACKER_ADDRESS):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def _fail_until_locked(client: Client, username: str) -> None:
    """The wrong passwords before the limit are answered as wrong; the one that reaches it with the locked-out page."""
    for attempt in range(settings.ONRAMP_SIGNIN_FAILURE_LIMIT - 1):
        answer = _sign_in(client, username, f"wrong-{attempt}")
        assert answer.status_code == 200, f"attempt {attempt + 1} is answered as a wrong password"
        assert "didn't match" in answer.content.decode()
    assert _sign_in(client, username, "wrong-last").status_code == 429


def test_the_defaults_are_ten_failures_and_fifteen_minutes() -> None:
    assert settings.ONRAMP_SIGNIN_FAILURE_LIMIT == 10
    assert settings.ONRAMP_SIGNIN_COOLOFF_MINUTES == 15
    assert settings.AXES_ENABLED


def test_after_the_limit_of_wrong_passwords_even_the_right_one_is_refused_with_a_clear_page() -> None:
    make_user("alice")
    client = Client()
    _fail_until_locked(client, "alice")

    answer = _sign_in(client, "alice", PASSWORD)

    assert answer.status_code == 429
    text = answer.content.decode()
    assert "Sign-in paused for this account" in text
    assert "<strong>alice</strong> had 10 failed sign-ins in a row from your network address" in text
    assert "For 15 minutes Onramp refuses every password for it from here, the right one included" in text
    assert not client.get(reverse("orgs:home")).wsgi_request.user.is_authenticated


def test_thirty_wrong_passwords_are_not_all_answered() -> None:
    """The probe's reproduction: 30 wrong passwords in a row, then the right one."""
    make_user("alice")
    client = Client()
    statuses = [_sign_in(client, "alice", f"guess-{n}").status_code for n in range(30)]

    assert statuses[: settings.ONRAMP_SIGNIN_FAILURE_LIMIT - 1] == [200] * (settings.ONRAMP_SIGNIN_FAILURE_LIMIT - 1)
    assert set(statuses[settings.ONRAMP_SIGNIN_FAILURE_LIMIT - 1 :]) == {429}
    assert _sign_in(client, "alice", PASSWORD).status_code == 429


def test_the_lock_holds_only_for_that_username_from_that_address(small_limit) -> None:
    make_user("alice")
    make_user("bob")
    _fail_until_locked(Client(), "alice")

    assert _sign_in(Client(), "alice", PASSWORD, address=OTHER_ADDRESS).status_code == 302
    assert _sign_in(Client(), "bob", PASSWORD).status_code == 302


def test_the_lock_ends_after_the_cool_off(small_limit) -> None:
    from axes.models import AccessAttempt  # here, so that the other tests show what fails without django-axes

    make_user("alice")
    client = Client()
    _fail_until_locked(client, "alice")
    assert _sign_in(client, "alice", PASSWORD).status_code == 429

    cool_off = timedelta(minutes=settings.ONRAMP_SIGNIN_COOLOFF_MINUTES)
    for attempt in AccessAttempt.objects.all():  # the clock moves on past the cool-off
        AccessAttempt.objects.filter(pk=attempt.pk).update(attempt_time=attempt.attempt_time - cool_off)

    answer = _sign_in(client, "alice", PASSWORD)
    assert answer.status_code == 302
    assert client.get(reverse("orgs:home")).wsgi_request.user.is_authenticated


def test_a_right_password_before_the_limit_starts_the_count_again(small_limit) -> None:
    make_user("alice")
    client = Client()
    for attempt in range(settings.ONRAMP_SIGNIN_FAILURE_LIMIT - 1):
        _sign_in(client, "alice", f"wrong-{attempt}")
    assert _sign_in(client, "alice", PASSWORD).status_code == 302

    client = Client()
    for attempt in range(settings.ONRAMP_SIGNIN_FAILURE_LIMIT - 1):
        assert _sign_in(client, "alice", f"wrong-again-{attempt}").status_code == 200
    assert _sign_in(client, "alice", PASSWORD).status_code == 302


def _settings_with(**environment: str) -> subprocess.CompletedProcess:
    script = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME.total_seconds(), s.AXES_LOCKOUT_PARAMETERS)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **environment}
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)


def test_the_limit_and_the_cool_off_come_from_the_environment() -> None:
    configured = _settings_with(ONRAMP_SIGNIN_FAILURE_LIMIT="4", ONRAMP_SIGNIN_COOLOFF_MINUTES="45")
    assert configured.returncode == 0, configured.stderr
    assert configured.stdout.strip().split(maxsplit=2) == ["4", "2700.0", "[['username', 'ip_address']]"]

    refused = _settings_with(ONRAMP_SIGNIN_COOLOFF_MINUTES="0")
    assert refused.returncode != 0
    assert "ONRAMP_SIGNIN_COOLOFF_MINUTES must be at least 1" in refused.stderr
