from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path, register_converter

from . import views
from .accounts import members
from .accounts import views as accounts
from .api import views as api
from .audit import views as audit
from .confirmations import views as confirmations
from .dashboard import views as dashboard
from .exports import views as exports
from .failures import views as failures
from .handoff import views as handoff
from .lookups import views as lookups
from .recipients import views as recipients
from .results import views as results
from .statements import views as statements


class IdConverter:
    """A row id: digits a bigint can hold, so a huge number is a 404, not a query error."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "id")

urlpatterns = [
    path("", results.index, name="index"),
    path("healthz", views.healthz, name="healthz"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("results/", results.results, name="results"),
    path("results/summary/", results.results_summary, name="results_summary"),
    path("results/<id:pk>/", results.result_detail, name="result_detail"),
    path("results/<id:pk>/reveal/", results.result_reveal, name="result_reveal"),
    path("results/<id:pk>/conceal/", results.result_conceal, name="result_conceal"),
    path("results/<id:pk>/row/", results.result_row, name="result_row"),
    path("results/<id:pk>/progress/", results.result_progress, name="result_progress"),
    path("results/<id:pk>/failed/", results.result_failed_export, name="result_failed_export"),
    path("results/<id:pk>/cancel/", handoff.send_action, {"kind": "cancel"}, name="send_cancel"),
    path("results/<id:pk>/send-now/", handoff.send_action, {"kind": "send_now"}, name="send_now"),
    path("results/<id:pk>/resend/", handoff.send_resend, name="send_resend"),
    path("failures/", failures.failures, name="failures"),
    path("exports/", exports.export_list, name="export_list"),
    path("exports/new/", exports.export_create, name="export_create"),
    path("exports/<id:pk>/row/", exports.export_row, name="export_row"),
    path("exports/<id:pk>/notice/", exports.export_notice, name="export_notice"),
    path("exports/<id:pk>/download/", exports.export_download, name="export_download"),
    path("exports/<id:pk>/retry/", exports.export_retry, name="export_retry"),
    path("statements/", statements.statement_list, name="statement_list"),
    path("statements/<id:pk>/row/", statements.statement_row, name="statement_row"),
    path("statements/<id:pk>/download/", statements.statement_download, name="statement_download"),
    path("statements/<id:pk>/retry/", statements.statement_retry, name="statement_retry"),
    path("statements/verify/", statements.statement_verify_form, name="statement_verify_form"),
    path("statements/verify/<str:code>/", statements.statement_verify, name="statement_verify"),
    path("recipients/", recipients.history, name="recipient_history"),
    path("recipients/reveal/", recipients.history_reveal, name="recipient_history_reveal"),
    path("recipients/conceal/", recipients.history_conceal, name="recipient_history_conceal"),
    path("recipients/lookup/", lookups.recipient_lookup, name="recipient_lookup"),
    path(
        "recipients/lookup/download/",
        lookups.recipient_lookup_download,
        name="recipient_lookup_download",
    ),
    path("confirmations/", confirmations.confirmation_create, name="confirmation_create"),
    path("confirmations/<id:pk>/row/", confirmations.confirmation_row, name="confirmation_row"),
    path(
        "confirmations/<id:pk>/download/",
        confirmations.confirmation_download,
        name="confirmation_download",
    ),
    path(
        "confirmations/<id:pk>/retry/", confirmations.confirmation_retry, name="confirmation_retry"
    ),
    path(
        "confirmations/verify/",
        confirmations.confirmation_verify_form,
        name="confirmation_verify_form",
    ),
    path(
        "confirmations/verify/<str:code>/",
        confirmations.confirmation_verify,
        name="confirmation_verify",
    ),
    path("settings/api-keys/", accounts.api_keys, name="api_keys"),
    path("settings/api-keys/<id:pk>/revoke/", accounts.api_key_revoke, name="api_key_revoke"),
    path("settings/platform/", handoff.platform_settings, name="platform_settings"),
    path("settings/platform/rotate/", handoff.platform_rotate, name="platform_rotate"),
    path("settings/platform/test/", handoff.platform_test, name="platform_test"),
    path("settings/members/", members.members, name="members"),
    path("settings/members/<id:pk>/role/", members.member_role, name="member_role"),
    path("settings/members/<id:pk>/remove/", members.member_remove, name="member_remove"),
    path(
        "settings/members/invitations/<id:pk>/cancel/",
        members.invitation_cancel,
        name="invitation_cancel",
    ),
    path("invitations/<str:token>/", members.invitation, name="invitation"),
    path("audit/", audit.access_record, name="access_record"),
    path("audit/export/", audit.access_record_csv, name="access_record_csv"),
    path("api/v1/openapi.json", api.openapi, name="api_openapi"),
    path("api/v1/send-requests", api.send_requests, name="api_send_requests"),
    path(
        "api/v1/send-requests/<str:external_id>/status",
        api.send_request_status,
        name="api_send_request_status",
    ),
    path(
        "api/v1/send-requests/<str:external_id>",
        api.send_request_detail,
        name="api_send_request_detail",
    ),
    path("api/v1/results", api.results, name="api_results"),
    path("api/<path:path>", api.not_found),
    path("organizations/switch/", accounts.switch_organization, name="switch_organization"),
    path("language/", accounts.switch_language, name="set_language"),
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]

handler400 = "sendon_results.views.bad_request"
handler403 = "sendon_results.views.permission_denied"
handler404 = "sendon_results.views.page_not_found"
handler500 = "sendon_results.views.server_error"
