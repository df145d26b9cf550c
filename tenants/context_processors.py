"""What every page needs to know about the signed-in person, from tenants.access."""

from django.http import HttpRequest

from tenants.access import is_support


def access(request: HttpRequest) -> dict[str, bool]:
    return {"is_support": is_support(request.user) if hasattr(request, "user") else False}
