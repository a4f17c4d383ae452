"""The retention purge's own records."""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.utils.translation import gettext_lazy as _


class PurgeLog(models.Model):
    """One run of the retention purge: what it removed, per organization, and how long."""

    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    cutoff = models.DateTimeField(_("deleted what was requested before"))
    dry_run = models.BooleanField(_("dry run"), default=False)
    completed = models.BooleanField(_("completed"), default=False)
    sends = models.PositiveBigIntegerField(_("sends"), default=0)
    deliveries = models.PositiveBigIntegerField(_("deliveries"), default=0)
    files = models.PositiveIntegerField(_("files"), default=0)
    pending_results = models.PositiveIntegerField(_("results whose send never came"), default=0)
    # Events of the access record older than AUDIT_RETENTION_DAYS.
    access_events = models.PositiveBigIntegerField(_("access events"), default=0)
    # {organization name: {"sends": n, "deliveries": n, "files": n}}
    per_organization = models.JSONField(default=dict)

    class Meta:
        verbose_name = _("purge log")
        verbose_name_plural = _("purge logs")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M} ({self.sends} sends)"

    @property
    def duration(self) -> dt.timedelta | None:
        return self.finished_at - self.started_at if self.finished_at else None


class PurgeLock(models.Model):
    """Where advisory locks are not to be had (SQLite): one row, held until a time."""

    held_until = models.DateTimeField()

    def __str__(self) -> str:
        return f"purge lock held until {self.held_until}"
