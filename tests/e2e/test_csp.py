"""The Content-Security-Policy in a real browser: injected inline code is blocked, and
the console's own pages (htmx, the organization switcher) raise no violation."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from sendon_results.models import Membership
from tests.conftest import Account
from tests.e2e.conftest import wait_until
from tests.e2e.test_browse import sign_in
from tests.factories import MembershipFactory, make_send

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Runs before the page's own scripts: every violation the page meets is kept.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(event.effectiveDirective);
});
"""
HOSTILE_BODY = '<img src="x" onerror="window.__pwned = 1">악성 본문'


def violations(page: Page) -> list[str]:
    return page.evaluate("() => window.__violations")


def test_injected_inline_code_is_blocked_and_the_pages_raise_no_violation(page: Page, live_server):
    alice = Account("보안상사")
    other = Account("하늘상사")
    MembershipFactory(user=alice.user, organization=other.organization, role=Membership.Role.OWNER)
    make_send(alice.organization, sender=alice.phone, body=HOSTILE_BODY, outcomes=["failure"])
    make_send(alice.organization, sender=alice.phone, status="failed", outcomes=["failure"])
    messages: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            messages.append(message.text)

    page.on("console", keep)
    page.add_init_script(RECORD_VIOLATIONS)
    sign_in(page, live_server.url, alice)

    # A body with markup is text on the page; its handler never runs.
    expect(page.get_by_text(HOSTILE_BODY)).to_be_visible()
    # The console's own behaviour works under the policy: htmx filters without a reload,
    # the switcher submits on change (app.js, not an inline handler).
    page.get_by_role("checkbox", name="처리실패").check()
    expect(page).to_have_url(re.compile(r"status=failed"))
    expect(page.locator("table.results-table tbody tr")).to_have_count(1)
    assert violations(page) == [], violations(page)
    page.get_by_label("조직").select_option(str(other.organization.pk))
    expect(page.locator(".message")).to_contain_text("하늘상사")
    assert violations(page) == [], violations(page)
    assert not [text for text in messages if "Content Security Policy" in text], messages

    # Now inject inline code into the page, as an attacker's markup would.
    page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.__injected = 1";
            document.body.appendChild(script);
            const holder = document.createElement("div");
            holder.innerHTML = '<img src="/static/none.png" onerror="window.__handler = 1">';
            document.body.appendChild(holder);
            const style = document.createElement("style");
            style.textContent = "body { display: none }";
            document.head.appendChild(style);
        }"""
    )
    wait_until(page, "window.__violations.length >= 3")
    assert page.evaluate("() => [window.__injected, window.__handler, window.__pwned]") == [
        None,
        None,
        None,
    ]
    assert {"script-src-elem", "script-src-attr", "style-src-elem"} <= set(violations(page))
    expect(page.locator("body")).to_be_visible()  # the injected style did not apply
    assert [text for text in messages if "Content Security Policy" in text]
