""" "Show the password once" under simultaneous requests: exactly one of them gets it."""

import threading

import pytest
from django.db import connection

from tenants.models import SecretKind
from tenants.secrets import store_secret
from tests.factories import make_tenant
from wizard.models import AuditEvent
from wizard.steps.exchange_online.service_account.service import reveal_password_once

REQUESTS = 6


@pytest.mark.django_db(transaction=True)
def test_simultaneous_reveals_show_the_password_exactly_once():
    tenant = make_tenant()
    store_secret(tenant, SecretKind.SERVICE_ACCOUNT_PASSWORD, "Generated-Passw0rd!")
    start = threading.Barrier(REQUESTS)
    answers: list[str | None] = []

    def reveal(actor: str) -> None:
        try:
            start.wait()
            answers.append(reveal_password_once(tenant, actor))
        finally:
            connection.close()

    threads = [threading.Thread(target=reveal, args=(f"admin-{n}",)) for n in range(REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(answers, key=str) == ["Generated-Passw0rd!"] + [None] * (REQUESTS - 1)
    assert AuditEvent.objects.filter(tenant=tenant, action="reveal_service_account_password").count() == 1
