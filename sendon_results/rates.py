"""The success rate, one way on every page: successes among the messages with a final
result, in percent, rounded down to a tenth — 100 % only when nothing failed. Messages
sending, waiting for their time or cancelled have no final result and count in neither."""

from __future__ import annotations


def success_rate(success: int, failure: int) -> float | None:
    """None before any message has a final result."""
    final = success + failure
    return (1000 * success // final) / 10 if final else None
