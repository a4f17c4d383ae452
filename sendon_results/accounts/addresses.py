"""The address a request comes from: the one place that reads X-Forwarded-For (the
statement verification limit counts by it; an audit log records it)."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    """The visitor's address, as far as our own proxies vouch for it.

    TRUSTED_PROXY_HOPS = 0 (nothing in front): the socket's peer; X-Forwarded-For is
    whatever the visitor typed and is never read. N: each of our N proxies appended the
    address it saw, so the visitor is the N-th entry from the right; entries further left
    came from the visitor and could be anything. A header too short for N, or an entry
    that is not an address, means the request did not come the way the set-up says: the
    socket's peer (our nearest proxy) is the answer then, never a forgeable entry.
    """
    peer = request.META.get("REMOTE_ADDR", "")
    hops = settings.TRUSTED_PROXY_HOPS
    if hops <= 0:
        return peer
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(forwarded) < hops:
        return peer
    candidate = forwarded[-hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return peer
