"""One recipient's history: every message the organization sent to a number (or to the
numbers ending in four digits) in a period, across all its sends, for customer support."""
