"""Who may do what in an organization: the one table of roles and what each allows.

Owners run the organization (members, API keys, the access record, the connection to the
sending platform) and may do all an operator may; operators work with the records (see
numbers, export, issue statements, cancel or release reservations); viewers browse with
numbers masked and download the statements already issued.
"""

from __future__ import annotations

from enum import StrEnum

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from ..models import Membership

Role = Membership.Role


class Permission(StrEnum):
    BROWSE = "browse"
    REVEAL = "reveal"  # see full numbers and names
    EXPORT = "export"
    ISSUE_STATEMENTS = "issue_statements"
    DOWNLOAD_STATEMENTS = "download_statements"
    MANAGE_MEMBERS = "manage_members"
    MANAGE_KEYS = "manage_keys"
    VIEW_ACCESS_RECORD = "view_access_record"
    ACT_ON_SENDS = "act_on_sends"  # ask the platform to cancel or release a reservation
    MANAGE_PLATFORM = "manage_platform"  # the platform endpoint and its secret


VIEWER = {Permission.BROWSE, Permission.DOWNLOAD_STATEMENTS}
OPERATOR = VIEWER | {
    Permission.REVEAL,
    Permission.EXPORT,
    Permission.ISSUE_STATEMENTS,
    Permission.ACT_ON_SENDS,
}
ALLOWED: dict[str, frozenset[Permission]] = {
    Role.VIEWER: frozenset(VIEWER),
    Role.OPERATOR: frozenset(OPERATOR),
    Role.OWNER: frozenset(Permission),
}
# What the forbidden page says the user tried to do, and the members page lists for each
# role. Translated as noun phrases (발송결과 내보내기): the page reads
# "발송결과 내보내기 권한이 있는 역할", and a verb form would not fit before 권한.
ACTIONS: dict[Permission, Promise] = {
    Permission.BROWSE: _("browse the send results"),
    Permission.REVEAL: _("see full phone numbers and names"),
    Permission.EXPORT: _("export the send results"),
    Permission.ISSUE_STATEMENTS: _("issue send statements"),
    Permission.DOWNLOAD_STATEMENTS: _("download send statements"),
    Permission.MANAGE_MEMBERS: _("manage the members"),
    Permission.MANAGE_KEYS: _("manage API keys"),
    Permission.VIEW_ACCESS_RECORD: _("see the access record"),
    Permission.ACT_ON_SENDS: _("cancel or send reservations"),
    Permission.MANAGE_PLATFORM: _("manage the sending platform connection"),
}


def may(role: str | None, permission: Permission) -> bool:
    return role is not None and permission in ALLOWED.get(role, frozenset())


def roles_allowed(permission: Permission) -> list[str]:
    """The roles that may, by name, most limited first: what the forbidden page names."""
    return [str(label) for value, label in reversed(Role.choices) if may(value, permission)]
