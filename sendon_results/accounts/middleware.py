from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from ..models import Membership
from .request import OrgRequest

SESSION_KEY = "organization_id"


class OrganizationMiddleware:
    """Sets `request.organizations` (the user's) and `request.organization` (the one they
    work in, kept in the session; the first one until they switch).

    Only for views that need a signed-in user: /healthz and the public pages never touch
    the session, so they answer even while the database does not.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: OrgRequest) -> HttpResponse:
        request.organizations = []
        request.organization = None
        request.role = None
        request.is_owner = False
        return self.get_response(request)

    def process_view(
        self, request: OrgRequest, view_func: Callable[..., HttpResponse], *args: object
    ) -> None:
        if getattr(view_func, "login_required", True) and request.user.is_authenticated:
            memberships = list(
                Membership.objects.filter(user=request.user)
                .select_related("organization")
                .order_by("organization__name", "organization_id")
            )
            request.organizations = [m.organization for m in memberships]
            chosen = request.session.get(SESSION_KEY)
            current = next(
                (m for m in memberships if m.organization_id == chosen),
                memberships[0] if memberships else None,
            )
            if current is not None:
                request.organization = current.organization
                request.role = current.role
                request.is_owner = current.role == Membership.Role.OWNER
