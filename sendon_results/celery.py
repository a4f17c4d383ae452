"""The Celery app. Without CELERY_BROKER_URL, settings make every task run eagerly."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sendon_results.settings")

app = Celery("sendon_results")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
