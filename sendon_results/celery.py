"""The Celery app. Without CELERY_BROKER_URL, settings make every task run eagerly."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sendon_results.settings")

app = Celery("sendon_results")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _warm_statement_fonts(**kwargs: object) -> None:
    # Decoding the statement fonts takes seconds: do it before the first job arrives.
    from .statements import warm_fonts

    warm_fonts()
