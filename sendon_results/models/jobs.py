"""Files members ask for and a worker makes: exports and send statements."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .accounts import Organization


class ExportQuerySet(models.QuerySet["Export"]):
    def orphaned_by(self, worker: str) -> ExportQuerySet:
        """Jobs a worker of this name was running: when called as that worker starts, its
        previous life died holding them (killed, out of memory, the machine restarted)."""
        return self.filter(state=Export.State.RUNNING, worker=worker)

    def for_member(self, user: object, organization: Organization | None) -> ExportQuerySet:
        return self.filter(created_by=user, organization=organization)

    def fail_stuck(self) -> int:
        """Mark jobs waiting or running longer than any task may (its time limit, and ten
        minutes in the queue) as failed, so none says "working" forever."""
        now = timezone.now()
        limit = dt.timedelta(seconds=settings.EXPORT_TIME_LIMIT + 600)
        return self.filter(
            Q(state=Export.State.PENDING, created_at__lt=now - limit)
            | Q(state=Export.State.RUNNING, started_at__lt=now - limit)
        ).update(
            state=Export.State.FAILED,
            finished_at=now,
            error=gettext("The export took longer than allowed and was stopped. Try again."),
        )


class Export(models.Model):
    """A file a user asked for: the current list filter as Excel or CSV, or a PDF send
    statement (발송내역서) for a period."""

    class Kind(models.TextChoices):
        SENDS = "sends", _("One row per send")
        DELIVERIES = "deliveries", _("One row per recipient")
        STATEMENT = "statement", _("Send statement")

    class Format(models.TextChoices):
        XLSX = "xlsx", "Excel (.xlsx)"
        CSV = "csv", "CSV (UTF-8)"
        PDF = "pdf", "PDF"

    class Split(models.TextChoices):
        NONE = "", _("One sheet")
        SOURCE = "source", _("A sheet per source (web/API)")
        CHANNEL = "channel", _("A sheet per channel")

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Working")
        DONE = "done", _("Ready")
        FAILED = "failed", _("Failed")
        EXPIRED = "expired", _("Expired")  # the file is deleted; the row says what it was

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exports"
    )
    kind = models.CharField(_("layout"), max_length=12, choices=Kind)
    file_format = models.CharField(_("format"), max_length=4, choices=Format, default=Format.XLSX)
    split = models.CharField(_("sheets"), max_length=8, choices=Split, blank=True, default="")
    # The list's GET parameters as {name: [values]}: re-applied by the task, never a copy
    # of the rows.
    filters = models.JSONField(_("filter"), default=dict)
    # The same filters as the list described them when the export was asked for, [{label,
    # value}]: shown on the exports page without a query per row.
    description = models.JSONField(default=list, blank=True)
    language = models.CharField(max_length=8, default="ko")
    state = models.CharField(_("state"), max_length=8, choices=State, default=State.PENDING)
    progress = models.PositiveSmallIntegerField(_("progress"), default=0)  # percent
    total_rows = models.PositiveIntegerField(null=True, blank=True)  # expected, for progress
    row_count = models.PositiveIntegerField(_("rows"), null=True, blank=True)
    file = models.FileField(upload_to="exports/%Y/%m/", blank=True)
    file_name = models.CharField(max_length=200, blank=True)  # what the download is called
    file_size = models.PositiveBigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    # The Celery worker running the job: when that worker starts again after dying, the
    # jobs it held are queued again (see requeue_orphans).
    worker = models.CharField(max_length=200, blank=True)
    attempt = models.CharField(max_length=32, blank=True)  # the run that may publish the file
    # Send statements only: their number, the code that verifies them, and the figures they
    # print (kept, so the verification page shows them as long as the statement lives).
    # NULL, not "", for the other exports: the number is unique within the organization,
    # the code everywhere.
    number = models.CharField(_("statement number"), max_length=32, null=True)  # noqa: DJ001
    verification_code = models.CharField(max_length=16, unique=True, null=True)  # noqa: DJ001
    figures = models.JSONField(null=True, blank=True)
    fingerprint = models.CharField(max_length=64, blank=True)  # SHA-256 of the figures
    # The oldest record in the file: the file goes when that record is purged.
    covers_from = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()

    objects = ExportQuerySet.as_manager()

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "number"], name="export_statement_number_unique"
            )
        ]
        indexes = [
            # /exports/: a member's jobs in an organization, newest first.
            models.Index(
                fields=["organization", "created_by", "-created_at"], name="export_member_created"
            ),
            # The sweep for stuck jobs and the purge of expired files.
            models.Index(fields=["state", "created_at"], name="export_state_created"),
            models.Index(fields=["expires_at"], name="export_expires"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.state in (self.State.PENDING, self.State.RUNNING)

    def is_expired(self, now: dt.datetime | None = None) -> bool:
        return self.state == self.State.EXPIRED or (now or timezone.now()) >= self.expires_at
