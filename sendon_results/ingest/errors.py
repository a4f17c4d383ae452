"""Why ingest refuses a call. Ingest knows no HTTP: the API answers each kind of refusal
with its own status, and passes the errors on as they are, each naming its field."""

from __future__ import annotations


class Refused(Exception):
    """A call that would break a rule of the data; nothing of it is stored."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__(errors)
        self.errors = errors


class Invalid(Refused):
    """Well formed, but wrong for this send: a refund above the charge, a result dated
    before the send."""


class UnknownRecipient(Refused):
    """A result for a recipient the send does not have."""


class Conflict(Refused):
    """Another send under the same external_id, or a status move the send cannot make."""


class TooManyWaiting(Refused):
    """Results for sends not recorded yet would pass PENDING_RESULT_LIMIT."""
