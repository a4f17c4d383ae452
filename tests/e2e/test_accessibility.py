"""WCAG 2.1 AA on every page of the console at a desktop's and a phone's width, checked by
axe-core (the engine browsers' accessibility tools use), and the keyboard's way past the
menu. Each page also leaves a screenshot: in the test's own folder, or with
SCREENSHOTS_DIR set (`make screenshots`) in that folder, as the gallery of docs/screenshots/.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import axe_playwright_python
import pytest
from django.core.cache import cache
from playwright.sync_api import Browser, Page, expect

from tests.e2e.pages import OWNER, PAGES, VIEWPORTS, build_demo, open_page, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE_SCRIPT = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING_IMPACTS = {"serious", "critical"}


def run_axe(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations of WCAG 2.1 A and AA on the page as it is now."""
    page.evaluate(AXE_SCRIPT)
    results = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags},"
        " resultTypes: ['violations']})",
        WCAG_TAGS,
    )
    return list(results["violations"])


def describe(violations: list[dict[str, Any]], where: str) -> str:
    """One line per rule and element: what to fix, and where."""
    lines = [f"{where}: {len(violations)} serious or critical WCAG 2.1 AA violation(s)"]
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"][:8]:
            target = " ".join(
                " > ".join(part) if isinstance(part, list) else part for part in node["target"]
            )
            summary = node.get("failureSummary", "").replace("\n", " ")
            lines.append(f"    {target}  — {summary[:200]}")
        if len(violation["nodes"]) > 8:
            lines.append(f"    … and {len(violation['nodes']) - 8} more")
    return "\n".join(lines)


def screenshot_dir(tmp_path: Path) -> Path:
    folder = os.environ.get("SCREENSHOTS_DIR")
    return Path(folder) if folder else tmp_path


@pytest.mark.parametrize("width", VIEWPORTS)
def test_every_page_meets_wcag_aa(
    browser: Browser, live_server, tmp_path: Path, width: str
) -> None:
    """Every page at this width, one after another on one data set (a data set a page
    would take minutes); every page's violations are reported together."""
    demo = build_demo()
    columns, rows = VIEWPORTS[width]
    folder = screenshot_dir(tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    problems = []
    for spec in PAGES:
        cache.clear()  # the throttled page locks its address out of signing in
        context = browser.new_context(viewport={"width": columns, "height": rows}, locale="ko-KR")
        try:
            page = open_page(context, live_server.url, spec, demo)
            shot = folder / f"{spec.name}-{width}.png"
            page.screenshot(path=shot, full_page=True)
            assert shot.stat().st_size > 5_000, f"{spec.name}: an empty screenshot"
            found = run_axe(page)
        finally:
            context.close()
        blocking = [v for v in found if v["impact"] in BLOCKING_IMPACTS]
        if blocking:
            where = f"{spec.name} ({spec.path(demo)}) at {width} {columns}x{rows}"
            problems.append(describe(blocking, where))
    assert not problems, "\n\n".join(problems)


def test_the_skip_link_comes_first_and_lands_on_the_results(page: Page, live_server) -> None:
    build_demo()
    sign_in(page, live_server.url, *OWNER)
    page.goto(f"{live_server.url}/results/")
    page.keyboard.press("Tab")
    skip = page.locator(":focus")
    expect(skip).to_have_text("본문으로 건너뛰기")
    expect(skip).to_be_visible()  # shown while focused, for sighted keyboard users
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#results$"))
    focused = page.locator(":focus")
    expect(focused).to_have_id("results")
    # The next Tab goes on inside the results, not back to the menu.
    page.keyboard.press("Tab")
    inside = page.evaluate("document.activeElement.closest('#results') !== null")
    assert inside
