import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def english_again():
    """A request for a German page leaves German active in the test's thread (LocaleMiddleware activates a
    language per request, as each request needs, and nothing deactivates it): the next test starts in English."""
    yield
    translation.deactivate()
