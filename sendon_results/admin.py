"""Django admin for support staff: look up an organization's data, never browse it all."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .masking import mask_phone
from .models import (
    AccessEvent,
    Delivery,
    Export,
    Membership,
    Organization,
    PurgeLog,
    SenderProfile,
    SendRequest,
    Statement,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]


@admin.register(SenderProfile)
class SenderProfileAdmin(admin.ModelAdmin):
    list_display = ["__str__", "kind", "organization"]
    list_filter = ["kind"]
    search_fields = ["value", "label", "organization__name"]
    list_select_related = ["organization"]


class ReportedByThePlatform(admin.ModelAdmin):
    """Sends and deliveries change only through the ingest API, which keeps a send's
    counts and the daily tallies in step with them: shown here, never edited."""

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(SendRequest)
class SendRequestAdmin(ReportedByThePlatform):
    list_display = [
        "requested_at",
        "organization",
        "channel",
        "status",
        "recipient_count",
        "success_count",
        "failure_count",
        "sending_count",
    ]
    list_filter = ["status", "channel", "source"]
    search_fields = ["=external_id"]
    list_select_related = ["organization"]
    raw_id_fields = ["organization", "sender"]
    # The table grows to tens of millions of rows: no exact count on every page.
    show_full_result_count = False


@admin.register(Delivery)
class DeliveryAdmin(ReportedByThePlatform):
    # A list shows many people's numbers at once: masked there (and in the titles and log,
    # Delivery.__str__); a delivery opened by its exact number or id shows it in full.
    list_display = [
        "masked_recipient",
        "status",
        "result_code",
        "final_channel",
        "requested_at",
        "completed_at",
    ]
    # A period of requested_at (today, the past 7 days, this month…) names its months'
    # partitions on PostgreSQL. No date_hierarchy: its year links take DISTINCT over every
    # delivery. Ordered by -pk, Django's default, which the primary key's index serves; no
    # index starts with requested_at, so ordering by it would sort every delivery.
    list_filter = ["status", "requested_at"]
    # Exact lookups only: a LIKE over every delivery would scan the whole table.
    search_fields = ["=recipient", "=external_id", "=send_request__external_id"]
    raw_id_fields = ["send_request", "organization"]
    # The send's, copied when the delivery was recorded: never edited on its own.
    readonly_fields = ["requested_at"]
    sortable_by = ["masked_recipient", "status", "result_code", "final_channel", "completed_at"]
    show_full_result_count = False

    @admin.display(description=_("recipient"), ordering="recipient")
    def masked_recipient(self, delivery: Delivery) -> str:
        return mask_phone(delivery.recipient)


# What a worker writes on a job, shown but never edited by hand.
JOB_RESULT_FIELDS = [
    "file",
    "file_name",
    "file_size",
    "row_count",
    "total_rows",
    "progress",
    "queued_at",
    "started_at",
    "finished_at",
    "error",
]


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "organization",
        "created_by",
        "kind",
        "file_format",
        "state",
        "row_count",
        "created_at",
        "expires_at",
    ]
    list_filter = ["state", "kind", "file_format"]
    list_select_related = ["organization", "created_by"]
    raw_id_fields = ["organization", "created_by"]
    readonly_fields = JOB_RESULT_FIELDS


@admin.register(Statement)
class StatementAdmin(admin.ModelAdmin):
    list_display = [
        "number",
        "organization",
        "created_by",
        "period_from",
        "period_to",
        "state",
        "row_count",
        "created_at",
        "expires_at",
    ]
    list_filter = ["state"]
    # Exact lookups: support staff are read a number or a code off the paper.
    search_fields = ["=number", "=verification_code"]
    list_select_related = ["organization", "created_by"]
    raw_id_fields = ["organization", "created_by", "sender"]
    readonly_fields = ["number", "verification_code", "figures", "fingerprint", *JOB_RESULT_FIELDS]


@admin.register(PurgeLog)
class PurgeLogAdmin(admin.ModelAdmin):
    """What each retention purge removed: read only, kept for staff."""

    list_display = [
        "started_at",
        "cutoff",
        "dry_run",
        "completed",
        "sends",
        "deliveries",
        "files",
        "access_events",
        "duration",
    ]
    list_filter = ["dry_run", "completed"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(AccessEvent)
class AccessEventAdmin(admin.ModelAdmin):
    """The access record, for staff: read only, never changed or deleted (the retention
    purge alone removes events)."""

    list_display = ["at", "action", "username", "organization_name", "address", "object_type"]
    list_filter = ["action"]
    # Exact lookups: the record grows by every page view.
    search_fields = ["=username", "=organization_name"]
    show_full_result_count = False

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False
