"""What the sending platform's calls change in the data: sends recorded once, results
applied in any order exactly once, and the status moves of reservations and failed
requests. Counts and status of a send change in the same transaction as its deliveries,
under a row lock on the send.

Below the API: it takes validated input (`payloads`), knows no HTTP and never imports
`sendon_results.api`; a call it cannot carry out raises one of `errors`, which the API
answers with a status.
"""

from __future__ import annotations

from .errors import Conflict, Invalid, Refused, TooManyWaiting, UnknownRecipient
from .payloads import EarlySummary, NewRecipient, NewResult, NewSend, NewSender, Summary
from .results import apply_results
from .sends import create_send
from .status import change_status

__all__ = [
    "Conflict",
    "EarlySummary",
    "Invalid",
    "NewRecipient",
    "NewResult",
    "NewSend",
    "NewSender",
    "Refused",
    "Summary",
    "TooManyWaiting",
    "UnknownRecipient",
    "apply_results",
    "change_status",
    "create_send",
]
