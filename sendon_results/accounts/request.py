"""What a request carries once OrganizationMiddleware has run: the types view signatures
name, so that mypy knows `request.organization` and the decorators' promises."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest

from ..models import Organization


class OrgRequest(HttpRequest):
    """Any request past OrganizationMiddleware."""

    organizations: list[Organization]  # the user's, by name
    organization: Organization | None  # the one they work in
    role: str | None  # theirs in that organization (Membership.Role)
    is_owner: bool  # of that organization


class MemberRequest(OrgRequest):
    """A request that `organization_required` let through: a signed-in member working in
    one of their organizations."""

    user: User
    organization: Organization
