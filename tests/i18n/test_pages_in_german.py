"""Every page of the wizard, read in German (the browser asks for it with Accept-Language: de), has no English left.

Each page is rendered twice through Django's test client, in English and in German, and its visible text (text
nodes, and the aria-label, title and placeholder a screen reader or a tooltip reads) is cut into segments. A German
segment fails when it is also a segment of the English page and has a word that is no name (`NAMES`: products,
cmdlets, the test organisations' data), or when it holds an English word that German never uses (`ENGLISH_ONLY`).
Commands and identifiers (<code>, <pre>, <script>, and what a page marks translate="no", HTML's own mark for it:
the timeline's recorded event kinds and details) are not text to translate.

Covered: every step page of both profiles, with nothing done and with the steps it builds on done; a step that
failed with a message Onramp marks for translation, that waits on Microsoft, that needs input, that succeeded; the
rooms preview; the activation summary; the organisations list and the form to set one up; the members page; the
integration picker; the support console and its page of one organisation; the sign-in page.
Not covered: text the services write while a step runs (progress, errors built from Microsoft's answers, drift
findings); it is stored in English when it happens (README, "Languages")."""

import re
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tenants.models import Profile
from tests.factories import make_tenant, set_state
from wizard.engine import SIGN_IN_AGAIN_REASON
from wizard.errors import INVOKE_COMMAND_REFUSED, INVOKE_COMMAND_REFUSED_EXPLANATION, INVOKE_COMMAND_REFUSED_FIX
from wizard.models import StepStatus
from wizard.outcomes import SIGN_IN_AGAIN
from wizard.steps.registry import prerequisites, steps_for

pytestmark = pytest.mark.django_db


def words(text: str) -> set[str]:
    return set(text.split())


# Words that are the same in both languages because they are names: products and protocols, Microsoft's terms that
# its German documentation keeps, cmdlets and parameters.
NAMES = words(
    """
    Onramp Microsoft Exchange Online Server PowerShell Graph Entra EWS InvokeCommand RBAC NTLM Basic HTTPS CSV JSON UPN
    SKU ID MFA API URL Autodiscover Outlook SHA Global Government GCC High China Vianet US ApplicationImpersonation
    ResourceAccounts RoomList IsDehydrated EwsEnabled EwsAllowedAppIDs EwsApplicationAccessPolicy GetFolder
    CustomRecipientWriteScope ManageAsApp Application Read All User ReadWrite ONRAMP_SIGNIN_CLIENT_ID
    ONRAMP_PASSWORD_SIGNIN BEGIN END CERTIFICATE PRIVATE KEY Onramp's Zoom Rooms Meeting Room
    Cloud Status Code Name Alias App Admin Person Organisation Webhook Details Support Filter
    Contoso contoso Fabrikam fabrikam alice sam
    English Deutsch
    """
)
# In the lines above: names (the room-booking products the integration picker offers among them); words that are
# the same in German; the test data; the language chooser, which names each language in itself.
CMDLET = re.compile(r"^[A-Z][a-z]+-[A-Z][A-Za-z]+$")
# Short English words that no German sentence has: one of them in a German segment is English left over.
ENGLISH_ONLY = words(
    """
    the and of to is are your you with this that not for from yet has have were be been which
    step steps room rooms run runs done failed waiting page here there what when who how its it
    """
)
# Addresses and links are data, in any language.
DATA = re.compile(r"\S+@\S+|https?://\S+|\b[\w-]+(\.[\w-]+)+\b")
WORD = re.compile(r"[A-Za-zÄÖÜäöüß][A-Za-zÄÖÜäöüß'’_-]+")


class _Text(HTMLParser):
    SKIPPED = {"code", "pre", "script", "style", "title"}
    ATTRIBUTES = {"aria-label", "title", "placeholder"}
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.segments: list[str] = []
        # While inside an element whose text is skipped: how many elements deep.
        self._skipped_depth = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            if not self._skipped_depth:
                self.segments += [value for name, value in attrs if name in self.ATTRIBUTES and value]
            return
        if self._skipped_depth:
            self._skipped_depth += 1
        elif tag in self.SKIPPED or ("translate", "no") in attrs:
            self._skipped_depth = 1
        else:
            self.segments += [value for name, value in attrs if name in self.ATTRIBUTES and value]

    def handle_endtag(self, tag):
        if self._skipped_depth and tag not in self.VOID:
            self._skipped_depth -= 1

    def handle_data(self, data):
        if not self._skipped_depth:
            self.segments.append(data)


def segments(html: str) -> set[str]:
    parser = _Text()
    parser.feed(html)
    return {" ".join(text.split()) for text in parser.segments if text.strip()}


def english_left(german: str, english: str) -> set[str]:
    """The segments of the German page that are English."""
    in_english = segments(english)
    left = set()
    for segment in segments(german):
        words = WORD.findall(DATA.sub(" ", segment))
        unnamed = [word for word in words if word not in NAMES and not CMDLET.match(word)]
        if (segment in in_english and unnamed) or {word.lower() for word in unnamed} & ENGLISH_ONLY:
            left.add(segment)
    return left


def both(client: Client, url: str) -> tuple[str, str]:
    english = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    german = client.get(url, HTTP_ACCEPT_LANGUAGE="de")
    assert english.status_code == german.status_code == 200, url
    assert '<html lang="de">' in german.content.decode(), url
    return english.content.decode(), german.content.decode()


def assert_german(client: Client, url: str) -> None:
    english, german = both(client, url)
    assert english_left(german, english) == set(), url


def finish(tenant, *step_ids: str) -> None:
    for step_id in step_ids:
        set_state(tenant, step_id, status=StepStatus.SUCCEEDED, finished_at=timezone.now(), attempts=1)


@pytest.mark.parametrize("profile", [Profile.EXCHANGE_ONLINE, Profile.EXCHANGE_SERVER])
def test_every_step_page_of_each_profile_is_german(profile, admin_user):
    tenant = make_tenant(f"i18n-{profile}".replace("_", "-"), admin=admin_user.username, profile=profile)
    client = Client()
    client.force_login(admin_user)
    steps = steps_for(profile)
    for step in steps:
        assert_german(client, reverse("wizard:step", args=[tenant.slug, step.id]))
    for step in steps:
        finish(tenant, *(done.id for done in prerequisites(profile, step.id)))
        assert_german(client, reverse("wizard:step", args=[tenant.slug, step.id]))
    assert_german(client, reverse("wizard:activation", args=[tenant.slug]))


def test_a_step_in_each_status_is_german(tenant, admin_client):
    page = reverse("wizard:step", args=[tenant.slug, "org_customization"])
    finish(tenant, "connect")
    statuses = [
        {"status": StepStatus.QUEUED},
        {"status": StepStatus.WAITING, "waiting_for": "Exchange", "waiting_since": timezone.now()},
        {"status": StepStatus.INTERRUPTED},
        {"status": StepStatus.NEEDS_INPUT, "progress_message": SIGN_IN_AGAIN_REASON, "result": {SIGN_IN_AGAIN: {}}},
        {"status": StepStatus.SKIPPED},
        {"status": StepStatus.SUCCEEDED, "finished_at": timezone.now(), "attempts": 2},
        {
            "status": StepStatus.FAILED,
            "finished_at": timezone.now(),
            "error_code": INVOKE_COMMAND_REFUSED,
            "error_message": INVOKE_COMMAND_REFUSED_EXPLANATION,
            "error_detail": {"explanation": INVOKE_COMMAND_REFUSED_EXPLANATION, "fix": INVOKE_COMMAND_REFUSED_FIX},
        },
    ]
    # A failure Onramp describes in fixed words (gettext_noop where the service raises it), saved in English.
    statuses.append(
        {
            "status": StepStatus.FAILED,
            "finished_at": timezone.now(),
            "error_code": "still_dehydrated",
            "error_message": "Exchange Online still reports IsDehydrated true.",
            "error_detail": {"fix": "Run this step again; it enables customisation and waits for it."},
        }
    )
    for fields in statuses:
        set_state(tenant, "org_customization", **fields)
        assert_german(admin_client, page)


def test_the_rooms_preview_is_german_with_german_numbers(tenant, admin_client):
    finish(tenant, *(step.id for step in prerequisites(tenant.profile, "rooms")))
    rows = [{"line": n, "address": f"room-{n:04}@contoso.com", "status": "valid", "reason": ""} for n in range(1, 1201)]
    set_state(
        tenant,
        "rooms",
        status=StepStatus.NEEDS_INPUT,
        inputs={"source": "all", "include_equipment": False, "confirmed": False},
        result={"source": "all", "preview": rows, "planned_lists": []},
    )
    url = reverse("wizard:step", args=[tenant.slug, "rooms"])
    english, german = both(admin_client, url)
    assert english_left(german, english) == set()
    assert "1,200 rows read" in english and "1.200 Zeilen gelesen" in german
    assert "Bestätigen und 1.200 Räume hinzufügen" in german


def test_the_organisation_pages_are_german(tenant, admin_client):
    for url in (
        reverse("orgs:home"),
        reverse("orgs:create"),
        reverse("people:members", args=[tenant.slug]),
        reverse("wizard:integration_picker", args=[tenant.slug]),
    ):
        assert_german(admin_client, url)


def test_the_support_console_is_german(tenant, support_client):
    set_state(
        tenant,
        "connect",
        status=StepStatus.FAILED,
        finished_at=timezone.now(),
        error_code="still_dehydrated",
        error_message="Exchange Online still reports IsDehydrated true.",
    )
    assert_german(support_client, reverse("orgs:support"))
    assert_german(support_client, reverse("orgs:support_tenant", args=[tenant.slug]))


def test_the_sign_in_page_is_german(db):
    assert_german(Client(), reverse("login"))


def test_the_check_finds_english_left_in_a_german_page():
    english = "<p>Run this step</p><p>Onramp · Contoso</p><button aria-label='Copy the password'>x</button>"
    german = "<p>Run this step</p><p>Onramp · Contoso</p><button aria-label='Das Passwort kopieren'>x</button>"
    assert english_left(german, english) == {"Run this step"}
    assert english_left("<p>Schritt 3: the room list</p>", "") == {"Schritt 3: the room list"}
    assert english_left("<p>Get-Mailbox</p><code>Set-Mailbox -Identity x</code>", "<p>Get-Mailbox</p>") == set()
    marked = '<p><span translate="no">create_tenant <b>done</b> here</span> <br> Schritt</p><p>the end</p>'
    assert english_left(marked, "") == {"the end"}
