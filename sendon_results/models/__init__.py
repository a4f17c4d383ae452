"""The models, a module per concern; all of them importable from here."""

from .accounts import Invitation, Membership, Organization
from .audit import AccessEvent, AccessRecordIsAppendOnly
from .confirmations import Confirmation
from .handoff import OutboxMessage, PlatformEndpoint
from .ingest import ApiKey, PendingResult
from .jobs import Export, Job
from .retention import PurgeLock, PurgeLog
from .sends import (
    EARLIEST_MOMENT,
    LATEST_MOMENT,
    STATUS_HELP,
    Channel,
    Delivery,
    SenderProfile,
    SendRequest,
    Source,
)
from .statements import Statement
from .tallies import DeliveryTally, SendMonthTally, SendTally

__all__ = [
    "AccessEvent",
    "AccessRecordIsAppendOnly",
    "EARLIEST_MOMENT",
    "LATEST_MOMENT",
    "STATUS_HELP",
    "ApiKey",
    "Channel",
    "Confirmation",
    "Delivery",
    "DeliveryTally",
    "Export",
    "Invitation",
    "Job",
    "Membership",
    "Organization",
    "OutboxMessage",
    "PendingResult",
    "PlatformEndpoint",
    "PurgeLock",
    "PurgeLog",
    "SendRequest",
    "SendMonthTally",
    "SendTally",
    "SenderProfile",
    "Source",
    "Statement",
]
