from __future__ import annotations

import os

import pytest
from django.test import Client

from sendon_results.models import Membership
from tests.factories import MembershipFactory, OrganizationFactory, SenderProfileFactory

# Playwright's sync API runs an event loop in the test's thread; Django's ORM in the same
# thread is still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def _fast_and_korean(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.LANGUAGE_CODE = "ko"


def other_connection():
    """A second PostgreSQL session beside the test's own, in autocommit: to hold a lock
    or a transaction open while the code under test runs."""
    from django.db import connection
    from psycopg import connect

    db = connection.settings_dict
    return connect(
        host=db["HOST"],
        port=db["PORT"],
        user=db["USER"],
        dbname=db["NAME"],
        password=db["PASSWORD"] or None,
        autocommit=True,
    )


class Account:
    """The owner of an organization, with a phone and a Kakao sender, and a signed-in
    client."""

    def __init__(self, name: str) -> None:
        self.organization = OrganizationFactory(name=name)
        membership = MembershipFactory(organization=self.organization, role=Membership.Role.OWNER)
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


@pytest.fixture
def member(alice) -> Client:
    """A signed-in member (not an owner) of alice's organization."""
    client = Client()
    client.force_login(MembershipFactory(organization=alice.organization).user)
    return client


@pytest.fixture(autouse=True)
def _eager_tasks():
    """Tasks run in the test's own process, whatever CELERY_BROKER_URL says; the one test
    of a real worker (tests/test_tasks.py) turns this off."""
    from sendon_results.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = eager


@pytest.fixture
def queued_deliveries(monkeypatch) -> list[int]:
    """Requests to the sending platform queued, not posted (their ids, in order): for
    tests of the console alone; tests/test_handoff_delivery.py posts to a platform."""
    queued: list[int] = []
    monkeypatch.setattr("sendon_results.tasks.queue_outbox_delivery", queued.append)
    return queued


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _fresh_cache():
    from django.core.cache import cache

    cache.clear()  # the verification rate limit counts in it


@pytest.fixture(scope="session", autouse=True)
def _statement_fonts_loaded_once(request):
    """WeasyPrint decodes the bundled fonts on its first rendering and keeps them for the
    process: do that once per session, before the first test, as a worker does when it
    starts, so no one statement test carries the cost in its duration. A session with no
    test of the database issues no statement and skips it (a second, WeasyPrint's import)."""
    if not any(
        {"db", "transactional_db"} & set(item.fixturenames) or item.get_closest_marker("django_db")
        for item in request.session.items
    ):
        return
    try:
        from sendon_results.statements import warm_fonts
    except ImportError:
        from sendon_results.statements.render import warm_fonts
    warm_fonts()
