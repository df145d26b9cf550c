"""The language follows the browser until the person chooses one in the footer, which then sticks (a cookie, across
sign-in and sign-out); dates and numbers follow the language; a refusal is said in the language of who asked;
emails go out in the installation's language; the CLI speaks English."""

from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import translation

from tenants.models import Invitation, Role
from wizard.notifications import FAILED, WAIT_ENDED, compose, invitation_email

pytestmark = pytest.mark.django_db


def html_lang(response) -> str:
    page = response.content.decode()
    return page[page.index("<html lang=") :].split('"')[1]


def test_the_page_follows_the_browser_and_falls_back_to_english():
    client = Client()
    assert html_lang(client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9,en;q=0.8")) == "de"
    assert html_lang(client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")) == "en-gb"
    # A language Onramp does not have: English, not a half-translated page.
    assert html_lang(client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9")) == "en-gb"


def test_the_chooser_is_a_plain_form_on_every_page_signed_in_or_not(admin_client):
    for client, url in ((Client(), reverse("login")), (admin_client, reverse("orgs:home"))):
        page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        chooser = page[page.index('<form method="post" action="/language"') :]
        chooser = chooser[: chooser.index("</form>")]
        assert 'name="csrfmiddlewaretoken"' in chooser
        assert '<label for="language">Language</label>' in chooser
        assert '<option value="en-gb" lang="en-gb" selected>English</option>' in chooser
        assert '<option value="de" lang="de">Deutsch</option>' in chooser
        assert f'name="next" value="{url}"' in chooser
        assert "<button>Change language</button>" in chooser


def test_a_chosen_language_wins_over_the_browser_and_sticks(admin_user):
    client = Client()
    response = client.post(reverse("set_language"), {"language": "de", "next": reverse("login")})
    assert response.status_code == 302 and response["Location"] == reverse("login")
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "de"
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and int(cookie["max-age"]) >= 365 * 24 * 3600

    # The browser still asks for English: the choice wins, on the sign-in page and once signed in.
    login = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en")
    assert html_lang(login) == "de" and "Bei Onramp anmelden" in login.content.decode()
    client.force_login(admin_user)
    home = client.get(reverse("orgs:home"), HTTP_ACCEPT_LANGUAGE="en")
    assert html_lang(home) == "de" and "Ihre Organisationen" in home.content.decode()
    assert '<option value="de" lang="de" selected>Deutsch</option>' in home.content.decode()

    client.post(reverse("set_language"), {"language": "en-gb", "next": reverse("orgs:home")})
    home = client.get(reverse("orgs:home"), HTTP_ACCEPT_LANGUAGE="de")
    assert html_lang(home) == "en-gb" and "Your organisations" in home.content.decode()


def test_an_unknown_language_is_not_kept():
    client = Client()
    response = client.post(reverse("set_language"), {"language": "xx", "next": reverse("login")})
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies
    assert html_lang(client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en")) == "en-gb"


def test_dates_and_numbers_follow_the_language(tenant, support_client):
    tenant.created_at = datetime(2026, 12, 6, 14, 5, tzinfo=UTC)
    tenant.save(update_fields=["created_at"])
    url = reverse("orgs:support_tenant", args=[tenant.slug])
    english = support_client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    german = support_client.get(url, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "<dd>6 Dec 2026, 14:05 UTC (" in english
    assert "<dd>6. Dez 2026, 14:05 UTC (" in german
    # Numbers: tests/i18n/test_pages_in_german.py's rooms preview (1,200 rows in English, 1.200 Zeilen in German).


def test_emails_are_written_in_the_installations_language(tenant, admin_client, settings):
    # Whatever the thread's last request asked for (a German page here), the email is in LANGUAGE_CODE.
    admin_client.get(reverse("orgs:home"), HTTP_ACCEPT_LANGUAGE="de")
    subject, body = compose(tenant, FAILED, "connect", "Microsoft refused the secret.")
    assert subject == "[Onramp] Contoso: Connect the tenant failed"
    settings.LANGUAGE_CODE = "de"
    invitation = Invitation(tenant=tenant, email="bob@contoso.com", role=Role.VIEWER)
    subject, body = invitation_email(invitation, "https://onramp.example/i/x")
    assert subject == "Sie sind eingeladen, Contoso in Onramp einzurichten"
    assert "Ein Admin lädt Sie zu Contoso in Onramp ein, als Betrachter." in body
    subject, body = compose(tenant, WAIT_ENDED, "connect")
    assert subject == "[Onramp] Contoso: Mandanten verbinden ist erledigt, das Warten ist vorbei"
    assert body.startswith("Microsoft hat abgeschlossen, worauf „Mandanten verbinden“ gewartet hat")
    assert "auf ihrer Seite „Mitglieder“" in body
    # A failure saved in English in fixed words (gettext_noop where it is raised) is told in German.
    subject, body = compose(tenant, FAILED, "org_customization", "Exchange Online still reports IsDehydrated true.")
    assert body.startswith("„Organisationsanpassung“ ist fehlgeschlagen: Exchange Online meldet weiterhin IsDehydrated")


def test_a_refusal_is_said_in_the_language_of_the_person_who_asked(tenant, admin_client):
    """Messages that answer a click are written in the request's language (they are shown, never saved)."""
    page = admin_client.post(
        reverse("wizard:run", args=[tenant.slug, "rooms"]), HTTP_ACCEPT_LANGUAGE="de", follow=True
    ).content.decode()
    assert "„Räume“ baut auf „Mandanten verbinden“ auf, das noch nicht abgeschlossen ist" in page
    page = admin_client.post(
        reverse("wizard:run", args=[tenant.slug, "rooms"]), HTTP_ACCEPT_LANGUAGE="en", follow=True
    ).content.decode()
    assert "“Rooms” builds on “Connect the tenant”, which has not finished" in page


def test_the_cli_speaks_english_whatever_the_installations_language(tenant, settings):
    settings.LANGUAGE_CODE = "de"
    with translation.override("de"), pytest.raises(CommandError, match="“Room list” cannot be re-verified"):
        call_command("onramp", "verify", "--slug", tenant.slug, "--step", "room_list")
