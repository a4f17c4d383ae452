"""The dashboard: a period's sends, outcomes, senders, channels, fallbacks and points at a
glance, read from the daily tallies (models/tallies.py)."""
