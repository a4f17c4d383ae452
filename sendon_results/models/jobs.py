"""Files members ask for and a worker makes: the life every job shares (Job), and the
Excel/CSV exports of the results list (Export). Send statements are jobs too
(statements.py)."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from django.apps import apps
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .accounts import Organization

# How often a page asks after a job being made: every second at first, then less often
# (a statement of a busy year takes minutes), by how long ago it was asked for.
POLL_STEPS = ((dt.timedelta(seconds=10), 1), (dt.timedelta(minutes=1), 2))
POLL_SLOWEST = 5  # seconds


class JobQuerySet[J: Job](models.QuerySet[J]):
    def orphaned_by(self, worker: str) -> JobQuerySet[J]:
        """Jobs a worker of this name was running: when called as that worker starts, its
        previous life died holding them (killed, out of memory, the machine restarted)."""
        return self.filter(state=Job.State.RUNNING, worker=worker)

    def for_member(self, user: object, organization: Organization | None) -> JobQuerySet[J]:
        return self.filter(created_by=user, organization=organization)

    def for_organization(self, organization: Organization | None) -> JobQuerySet[J]:
        """Every member's jobs in the organization: its statements are the organization's.
        (A few a month each: the organization's rows are read and sorted, no index needed.)"""
        return self.filter(organization=organization)

    def active(self) -> JobQuerySet[J]:
        """Jobs waiting or being made: what the quotas count."""
        return self.filter(state__in=[Job.State.PENDING, Job.State.RUNNING])

    def in_hand(self) -> JobQuerySet[J]:
        """Jobs handed to the queue and not finished: in the broker or with a worker."""
        return self.filter(
            Q(state=Job.State.RUNNING) | Q(state=Job.State.PENDING, queued_at__isnull=False)
        )

    def waiting_turn(self) -> JobQuerySet[J]:
        """Jobs kept back until their organization's turn (jobs.take_next)."""
        return self.filter(state=Job.State.PENDING, queued_at__isnull=True)

    def fail_stuck(self) -> int:
        """Mark jobs in the queue or running longer than any task may (its time limit, and
        ten minutes in the queue) as failed, so none says "working" forever. A job waiting
        for its organization's turn is not stuck: its turn comes when the job ahead of it
        ends, or is failed here."""
        now = timezone.now()
        limit = dt.timedelta(seconds=settings.EXPORT_TIME_LIMIT + 600)
        return self.filter(
            Q(state=Job.State.PENDING, queued_at__lt=now - limit)
            | Q(state=Job.State.RUNNING, started_at__lt=now - limit)
        ).update(
            state=Job.State.FAILED,
            finished_at=now,
            error=gettext("The export took longer than allowed and was stopped. Try again."),
        )


class Job(models.Model):
    """What every file a member asks for shares: who asked, its state from pending to done
    or failed, progress, the file once published, and when it goes. sendon_results.jobs
    moves a job through these states."""

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Working")
        DONE = "done", _("Ready")
        FAILED = "failed", _("Failed")
        EXPIRED = "expired", _("Expired")  # the file is deleted; the row says what it was

    # What the kind's build sets on the job besides its file and name, published with them.
    built_fields: ClassVar[tuple[str, ...]] = ()

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="%(class)ss"
    )
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
    # jobs it held are queued again (see tasks.requeue_orphans).
    worker = models.CharField(max_length=200, blank=True)
    attempt = models.CharField(max_length=32, blank=True)  # the run that may publish the file
    # When the job was handed to the queue (the broker); empty while it waits for its
    # organization's turn (jobs.take_next), so one organization's backlog never stands in
    # the queue in front of another's job.
    queued_at = models.DateTimeField(null=True, blank=True)
    # The oldest record in the file: the file goes when that record is purged.
    covers_from = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()

    objects = JobQuerySet.as_manager()

    class Meta:
        abstract = True
        indexes = [
            # /exports/ and /statements/: a member's jobs in an organization, newest first.
            models.Index(
                fields=["organization", "created_by", "-created_at"],
                name="%(class)s_member_created",
            ),
            # The sweep for stuck jobs (fail_stuck) and the requeue of a dead worker's jobs.
            models.Index(fields=["state", "created_at"], name="%(class)s_state_created"),
            # The organization's jobs in hand and its next waiting one (jobs.take_next), and
            # its quota (jobs.check_quota).
            models.Index(
                fields=["organization", "state", "created_at"], name="%(class)s_org_state"
            ),
            # The purge of expired files (retention._expire_files).
            models.Index(fields=["expires_at"], name="%(class)s_expires"),
        ]

    @classmethod
    def kinds(cls) -> list[type[Job]]:
        """Every kind of job (exports, statements): they share the queue and its quotas."""
        return [model for model in apps.get_models() if issubclass(model, cls)]

    @property
    def is_active(self) -> bool:
        return self.state in (self.State.PENDING, self.State.RUNNING)

    def is_expired(self, now: dt.datetime | None = None) -> bool:
        return self.state == self.State.EXPIRED or (now or timezone.now()) >= self.expires_at

    @property
    def poll_seconds(self) -> int:
        """How many seconds a page showing this job waits before asking after it again."""
        age = timezone.now() - self.created_at
        return next((seconds for limit, seconds in POLL_STEPS if age < limit), POLL_SLOWEST)

    def expiry_on_retry(self, now: dt.datetime) -> dt.datetime:
        """When the file of this job, tried again now, expires."""
        raise NotImplementedError


class Export(Job):
    """A file of the results list as it was filtered: Excel or CSV, a row per send or per
    recipient."""

    class Kind(models.TextChoices):
        SENDS = "sends", _("One row per send")
        DELIVERIES = "deliveries", _("One row per recipient")

    class Format(models.TextChoices):
        XLSX = "xlsx", "Excel (.xlsx)"
        CSV = "csv", "CSV (UTF-8)"

    class Split(models.TextChoices):
        NONE = "", _("One sheet")
        SOURCE = "source", _("A sheet per source (web/API)")
        CHANNEL = "channel", _("A sheet per channel")

    built_fields = ("covers_from",)

    kind = models.CharField(_("layout"), max_length=12, choices=Kind)
    file_format = models.CharField(_("format"), max_length=4, choices=Format, default=Format.XLSX)
    split = models.CharField(_("sheets"), max_length=8, choices=Split, blank=True, default="")
    # The list's GET parameters as {name: [values]}: re-applied by the task, never a copy
    # of the rows.
    filters = models.JSONField(_("filter"), default=dict)
    # The same filters as the list described them when the export was asked for, [{label,
    # value}]: shown on the exports page without a query per row.
    description = models.JSONField(default=list, blank=True)
    # Recipients' numbers and names in full, asked for by a member who may see them, with
    # the reason they gave (다운로드 사유); masked otherwise (masking.py).
    unmasked = models.BooleanField(_("full numbers"), default=False)
    reason = models.CharField(_("reason for download"), max_length=200, blank=True)

    class Meta(Job.Meta):
        verbose_name = _("export")
        verbose_name_plural = _("exports")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    def expiry_on_retry(self, now: dt.datetime) -> dt.datetime:
        # Kept EXPORT_EXPIRY_DAYS from when it is made, as if asked for now.
        return now + dt.timedelta(days=settings.EXPORT_EXPIRY_DAYS)
