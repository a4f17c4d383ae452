"""Handing a job's file (an export or a statement) to the member who asked for it."""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from .models import Job


def job_file(
    request: HttpRequest,
    job: Job,
    *,
    content_type: str,
    expired_page: str,
    back_to: str,
) -> HttpResponseBase:
    """The file; a page saying it has expired (410); or, while it is being made, back to
    the page that shows its progress (`back_to`, a URL name)."""
    if job.is_expired() or (job.state == Job.State.DONE and not job.file):
        # The page names the job by its kind: {{ export }}, {{ statement }}.
        context = {str(type(job)._meta.model_name): job}
        return render(request, expired_page, context, status=410)
    if job.state != Job.State.DONE:
        messages.info(request, _("That file is not ready yet."))
        return redirect(back_to)
    return FileResponse(
        job.file.open("rb"),
        as_attachment=True,
        filename=job.file_name,
        content_type=content_type,
    )
