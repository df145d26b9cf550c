"""What every page needs to know about the signed-in person, from tenants.access."""

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from tenants.access import is_support


def access(request: HttpRequest) -> dict[str, object]:
    # Lazy: only full pages show the support link, and a progress poll answered every second should not pay the
    # query for it.
    if not hasattr(request, "user"):
        return {"is_support": False}
    return {"is_support": SimpleLazyObject(lambda: is_support(request.user))}
