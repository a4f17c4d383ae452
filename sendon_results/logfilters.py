"""What the logs may hold: paths, never query strings (phone numbers and searched text
travel in them). No Django imports: logging is configured before the apps are loaded."""

from __future__ import annotations

import logging
import re

# From a "?" to the next white space or quote: the query string of a request line.
QUERY = re.compile(r"\?[^\s\"]*")


def without_query(text: str) -> str:
    """`GET /results/?recipient=010… HTTP/1.1` → `GET /results/ HTTP/1.1`."""
    return QUERY.sub("", text)


class PathOnly(logging.Filter):
    """For runserver's line per request (`django.server`), which writes the request line
    as the browser sent it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                without_query(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        elif isinstance(record.msg, str) and not record.args:
            record.msg = without_query(record.msg)
        return True


class Drop(logging.Filter):
    """For a logger whose records cannot be made safe (`django.template` dumps the context
    of the template it renders)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return False
