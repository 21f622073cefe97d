"""Browser journeys: Playwright (sync API) driving Debian's chromium against a live server.

The live server runs in this process (pytest-django's `live_server`, with
`transactional_db`), so the test can read what the pages did straight from the
database and from the locmem e-mail outbox. The payment provider is the
sandbox mounted on the same live server.

Every test skips, with the reason, when /usr/bin/chromium is missing
(`apt-get install -y chromium`; .ci/run installs it). Screenshots of each step
land in tests/e2e/screenshots/<test>/<nn>-<name>.png (git-ignored, kept as CI
artifacts).
"""

import os
import re
import shutil
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
# Generous for two shared cores, but bounded: a stuck page fails the test.
TIMEOUT_MS = int(os.environ.get("E2E_TIMEOUT_MS", "20000"))


def _chromium_missing() -> str:
    if not Path(CHROMIUM).exists():
        return f"needs Debian's chromium at {CHROMIUM}: apt-get install -y chromium"
    return ""


def pytest_collection_modifyitems(config, items):
    reason = _chromium_missing()
    if not reason:
        return
    here = Path(__file__).resolve().parent
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if "e2e" in item.keywords and here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _orm_beside_playwright(monkeypatch):
    """Playwright's sync API runs an asyncio loop in this thread, and Django then refuses ORM
    calls made by the test itself (SynchronousOnlyOperation). The test thread never shares a
    connection with async code, so the guard is lifted, for e2e tests only and only while one
    runs; Playwright itself lives per test, so no loop outlives it into other suites."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def playwright_instance():
    if reason := _chromium_missing():
        pytest.skip(reason)
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)  # assertions wait as long as actions on busy cores
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture
def browser(playwright_instance):
    browser = playwright_instance.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
    )
    yield browser
    browser.close()


@pytest.fixture
def exchange_rates(live_server):
    """The rates file loaded (a transactional test starts from empty tables; EUR prices need them)."""
    from catalog.services.prices import exchange_rates_load

    exchange_rates_load()


@pytest.fixture
def shipping_everywhere(live_server):
    """A free method serving every country: checkout journeys choose it on the delivery step (pre-selected)."""
    from tests.shipping.factories import shipping_method_everywhere

    return shipping_method_everywhere()


@pytest.fixture
def new_page(browser, live_server, exchange_rates, shipping_everywhere):
    """A factory of fresh browser contexts (one per actor: shopper, staff), English by default."""
    contexts = []

    def make(locale: str = "en-US", phone: bool = False):
        size = PHONE if phone else {"width": 1280, "height": 900}
        context = browser.new_context(
            base_url=live_server.url, locale=locale, viewport=size, is_mobile=phone, has_touch=phone
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.js_errors = errors
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


PHONE = {"width": 390, "height": 844}
# axe-core's rules for WCAG 2.1 A and AA; a violation of impact serious or critical fails the test.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE_FAILING = {"serious", "critical"}
# Django's own admin and the API's Swagger page are not the storefront's markup.
AXE_SKIPPED_PATHS = ("/admin/", "/api/v1/docs/")


def _axe_source() -> str:
    from importlib.resources import files

    return (files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")


def axe_violations(page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now, one line each.

    The script is evaluated through the DevTools protocol, not added as a <script>, so the
    shop's Content-Security-Policy (no inline scripts) does not stop it.
    """
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(_axe_source())
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        AXE_TAGS,
    )
    return [
        f"{v['impact']}: {v['id']} ({v['help']}) at {[n['target'] for n in v['nodes'][:3]]}"
        for v in result["violations"]
        if v["impact"] in AXE_FAILING
    ]


@pytest.fixture
def shot(request):
    """`shot(page, name)` saves a full-page screenshot as screenshots/<test>/<nn>-<name>.png,
    then checks the page with axe-core (storefront pages: no serious or critical violation)."""
    folder = SCREENSHOTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    counter = {"n": 0}

    def take(page, name: str) -> Path:
        counter["n"] += 1
        safe = re.sub(r"[^\w.-]+", "_", name)
        path = folder / f"{counter['n']:02d}-{safe}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path), full_page=True)
        if not getattr(page, "javascript_off", False) and not any(p in page.url for p in AXE_SKIPPED_PATHS):
            violations = axe_violations(page)
            assert not violations, f"axe on {page.url} ({name}):\n" + "\n".join(violations)
        return path

    return take


@pytest.fixture
def psp(live_server, settings):
    """The payment provider: the sandbox on the live server, webhooks delivered back to it."""
    settings.PSP_SANDBOX_ENABLED = True
    settings.PAYMENT_GATEWAY_URL = live_server.url + "/psp-sandbox/"
    settings.PSP_SANDBOX_WEBHOOK_URL = live_server.url + "/payments/webhooks/psp/"
    settings.PSP_SANDBOX_WEBHOOKS_ENABLED = True
    yield settings.PAYMENT_GATEWAY_URL
    # Let webhooks still in flight land before the tables are flushed (bounded): a late one
    # would hold a database connection when the test database is dropped.
    deadline = time.monotonic() + 10
    for thread in threading.enumerate():
        if thread.name.startswith("psp-webhook-"):
            thread.join(timeout=max(0.0, deadline - time.monotonic()))


@pytest.fixture
def mailbox():
    """The locmem outbox (the live server runs in this process, so it sees the same list)."""
    from django.core import mail

    mail.outbox.clear()
    return mail.outbox


@pytest.fixture
def verified_user():
    """A shopper who signed up and verified the e-mail address earlier (password: journeys.PASSWORD)."""
    from allauth.account.models import EmailAddress

    from accounts.models import User
    from tests.e2e.journeys import PASSWORD

    def make(email: str = "bob.e2e@example.com", **fields):
        user = User.objects.create_user(email=email, password=PASSWORD, **fields)
        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        return user

    return make


@pytest.fixture
def shop_catalog(exchange_rates):
    """A small catalogue: two headphones (one under 100), a book, made through the catalog services."""
    from decimal import Decimal
    from types import SimpleNamespace

    from catalog.services.categories import category_create
    from catalog.services.products import product_create

    electronics = category_create(name="Electronics")
    headphones = category_create(name="Headphones", parent=electronics)
    books = category_create(name="Books")
    return SimpleNamespace(
        headphones=headphones,
        books=books,
        aurora=product_create(
            sku="HP-AURORA", name="Aurora Wireless Headphones", brand="Sonix", category=headphones,
            price=Decimal("79.00"), on_hand=10, description="Light wireless headphones with long battery life.",
        ),
        nimbus=product_create(
            sku="HP-NIMBUS", name="Nimbus Studio Headphones", brand="Acoustica", category=headphones,
            price=Decimal("149.00"), on_hand=5, description="Closed studio headphones.",
        ),
        guide=product_create(
            sku="BK-DJANGO", name="Pocket Guide to Django", brand="Leaf Press", category=books,
            price=Decimal("25.00"), on_hand=20, description="A small book about a big framework.",
        ),
    )
