from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .models import Organization

SESSION_KEY = "organization_id"


class OrganizationMiddleware:
    """Sets `request.organizations` (the user's) and `request.organization` (the one they
    work in, kept in the session; the first one until they switch)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.organizations = []
        request.organization = None
        if request.user.is_authenticated:
            request.organizations = list(Organization.objects.for_user(request.user))
            chosen = request.session.get(SESSION_KEY)
            request.organization = next(
                (org for org in request.organizations if org.pk == chosen),
                request.organizations[0] if request.organizations else None,
            )
        return self.get_response(request)
