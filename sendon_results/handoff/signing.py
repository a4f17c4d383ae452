"""The signature of every request the console sends the platform, written the way the
well-known webhook senders write theirs:

    Sendon-Signature: t=1765000000,v1=5257a869…[,v1=…]

`t` is the Unix time of signing; each `v1` is the HMAC-SHA256, in hex, of
"<t>.<the request body's bytes>" under one of the organization's secrets (two while a
rotated secret is still good). The receiver recomputes it with its secret, compares in
constant time, and refuses a `t` more than TOLERANCE seconds from its clock.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

HEADER = "Sendon-Signature"
TOLERANCE = 300  # seconds
SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def header_value(secrets_in_use: list[str], body: bytes, *, timestamp: int | None = None) -> str:
    moment = int(time.time()) if timestamp is None else timestamp
    return ",".join(
        [f"t={moment}", *(f"v1={signature(secret, moment, body)}" for secret in secrets_in_use)]
    )


def verify(value: str, body: bytes, secret: str, *, now: float | None = None) -> bool:
    """What the platform does with the header (and the tests' platform does)."""
    parts = [part.strip().partition("=") for part in value.split(",")]
    stamps = [found for name, _, found in parts if name == "t"]
    if len(stamps) != 1 or not (stamps[0].isascii() and stamps[0].isdigit()):
        return False
    timestamp = int(stamps[0])
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE:
        return False
    expected = signature(secret, timestamp, body).encode()
    return any(
        hmac.compare_digest(expected, found.encode("utf-8", "replace"))
        for name, _, found in parts
        if name == "v1"
    )
