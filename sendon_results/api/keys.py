"""API keys: made with a secret shown once, checked by its hash in constant time."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from ..models import ApiKey, Organization
from .errors import error


def create_key(*, organization: Organization, name: str, user: Any) -> tuple[ApiKey, str]:
    """A new key; the returned secret is shown once and never stored."""
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        organization=organization,
        name=name,
        prefix=prefix,
        created_by=user,
        secret_hash=hashlib.sha256(secret.encode()).hexdigest(),
    )
    return key, f"sr_{prefix}_{secret}"


def authenticate(request: HttpRequest) -> Organization:
    header = request.headers.get("Authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "sr":
        raise error(401, "Authorization", "Send an API key as 'Authorization: Bearer sr_…'.")
    key = ApiKey.objects.active().select_related("organization").filter(prefix=parts[1]).first()
    digest = hashlib.sha256(parts[2].encode()).hexdigest()
    # Compared in constant time, and compared even when no key matched the prefix.
    if not hmac.compare_digest(digest, key.secret_hash if key else "0" * 64) or key is None:
        raise error(401, "Authorization", "The API key is unknown or revoked.")
    now = timezone.now()
    if not key.last_used_at or now - key.last_used_at > dt.timedelta(minutes=1):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key.organization
