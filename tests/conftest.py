from __future__ import annotations

import os

import pytest
from django.test import Client

from tests.factories import MembershipFactory, OrganizationFactory, SenderProfileFactory

# Playwright's sync API runs an event loop in the test's thread; Django's ORM in the same
# thread is still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def _fast_and_korean(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.LANGUAGE_CODE = "ko"


class Account:
    """A user in one organization, with a phone and a Kakao sender, and a signed-in client."""

    def __init__(self, name: str) -> None:
        self.organization = OrganizationFactory(name=name)
        membership = MembershipFactory(organization=self.organization)
        self.user = membership.user
        self.phone = SenderProfileFactory(organization=self.organization)
        self.kakao = SenderProfileFactory(
            organization=self.organization, kind="kakao", value=f"{name}-key", label=f"@{name}"
        )
        self.client = Client()
        self.client.force_login(self.user)


@pytest.fixture
def alice(db) -> Account:
    return Account("alice-org")


@pytest.fixture
def bob(db) -> Account:
    return Account("bob-org")


@pytest.fixture(autouse=True)
def _eager_tasks():
    """Tasks run in the test's own process, whatever CELERY_BROKER_URL says; the one test
    of a real worker (tests/test_tasks.py) turns this off."""
    from sendon_results.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = eager


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    cache.clear()  # the verification rate limit counts in it
