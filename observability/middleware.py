"""Binds the organisation and the step a page is about to the request's log context (django-structlog's
RequestMiddleware binds the request id and the user before it)."""

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from observability.logs import bind


class BindOrganisationAndStep:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: tuple, view_kwargs: dict[str, Any]
    ) -> None:
        # The wizard's URLs name the organisation `slug` (/t/<slug>/…) and the step `step_id`.
        if slug := view_kwargs.get("slug"):
            bind(organisation=slug)
        if step := view_kwargs.get("step_id"):
            bind(step=step)
