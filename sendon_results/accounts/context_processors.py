from __future__ import annotations

from django.http import HttpRequest

from .roles import Permission, may


def permissions(request: HttpRequest) -> dict[str, dict[str, bool]]:
    """`may.export`, `may.manage_keys`, …: what the user may do in the organization they
    work in, for menus and buttons to show only that."""
    role = getattr(request, "role", None)
    return {"may": {permission.value: may(role, permission) for permission in Permission}}
