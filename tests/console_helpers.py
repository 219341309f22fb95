"""Helpers for the console tests: accounts, a signed-in HTTP client, and the headless browser."""

from __future__ import annotations

import re
import tempfile
from contextlib import contextmanager
from pathlib import Path

PASSWORD = "correct horse battery staple"
CHROMIUM = "/usr/bin/chromium"  # Debian's package (.ci/run and install.sh --dev install it)
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]
ACCOUNTS = {"ana": "admin", "tuan": "tracer", "vy": "viewer"}


def add_accounts(records, accounts: dict[str, str] = ACCOUNTS) -> None:
    for name, role in accounts.items():
        records.add_user(name, role, PASSWORD)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in(client, name: str, password: str = PASSWORD):
    """POST the sign-in form as a browser would (GET it first for the CSRF token)."""
    token = csrf_of(client.get("/console/").text)
    return client.post("/console/", data={"csrf": token, "name": name, "password": password},
                       follow_redirects=False)


@contextmanager
def chromium():
    """Debian's headless Chromium driven by Playwright (no browser download), a fresh profile."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="console-chromium-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True,
            viewport={"width": 1366, "height": 768}, locale="vi-VN")
        try:
            yield context
        finally:
            context.close()


def unlabelled_controls(page) -> list[str]:
    """Form controls the accessibility tree shows without a name (an unlabelled input)."""
    tree = page.locator("main").aria_snapshot()
    roles = ("textbox", "combobox", "spinbutton", "checkbox", "radio", "button", "searchbox")
    return [line.strip() for line in tree.splitlines()
            if re.match(r"^-\s+(" + "|".join(roles) + r")\s*(\[|:|$)", line.strip())]


def tab_through(page, limit: int = 300) -> set[str]:
    """Press Tab until focus comes round to a control it has reached before (Tab wraps from the
    page's end to its start); the descriptions of every control that got focus."""  # noqa: D401
    seen: set[str] = set()
    previous = None
    for _ in range(limit):
        page.keyboard.press("Tab")
        described = page.evaluate(
            "() => { const e = document.activeElement; return !e || e === document.body ? '' : "
            "e.tagName + '#' + (e.id || e.name || e.getAttribute('href') || e.textContent.trim()) + '=' + (e.value || '') }")
        if described == previous:  # a date field's parts (day, month, year) are one control
            continue
        if described in seen:
            break
        if described:
            seen.add(described)
        previous = described
    return seen


def focusable(page) -> set[str]:
    return set(page.evaluate(
        "() => Array.from(document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea'))"
        ".filter(e => !e.disabled && !(e.type === 'radio' && !e.checked) && (e.offsetParent !== null || e.classList.contains('skip')))"
        ".map(e => e.tagName + '#' + (e.id || e.name || e.getAttribute('href') || e.textContent.trim()) + '=' + (e.value || ''))"))


def here() -> Path:
    return Path(__file__).parent
