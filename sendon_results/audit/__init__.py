"""The access record (접속기록): `audit.record(request, audit.Action.SEND_VIEWED, obj=send)`
in a view writes one event (one INSERT); signals.py records sign-ins and sign-outs;
filters.py and views.py are the owners' page /audit/ and its CSV. The model is
models/audit.py, the retention purge retention.py."""

from __future__ import annotations

from .events import Action, masked_filters, masked_phone, masked_text, record

__all__ = ["Action", "masked_filters", "masked_phone", "masked_text", "record"]
