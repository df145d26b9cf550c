"""Security headers on every page: a Content-Security-Policy that allows only Onramp's own scripts and styles, and
the headers Django's security middleware adds."""

from django.urls import reverse


def test_pages_carry_a_content_security_policy_without_inline_code(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("alice", password="pw-alice-1234"))

    response = client.get(reverse("orgs:home"))

    directives = dict(
        (part.split()[0], part.split()[1:]) for part in response["Content-Security-Policy"].split(";") if part.strip()
    )
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"] and directives["style-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"] and directives["object-src"] == ["'none'"]
    assert not any("'unsafe-inline'" in values or "'unsafe-eval'" in values for values in directives.values())
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_sign_in_page_has_no_inline_script_or_style(client):
    page = client.get(reverse("login")).content.decode()

    assert "<script>" not in page and "<style" not in page and 'style="' not in page
    assert "includeIndicatorStyles" in page  # htmx would otherwise inject a <style> the policy refuses
