"""A person in a browser: sign up, verify the email, create a key, copy it, call the API with it,
and see "last used" change. Screenshots of the key pages go to $AIPOWER_TEST_ARTIFACTS."""

import re
import time
import uuid
from pathlib import Path

import openai
import pytest

from tests.servers import start_gateway

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "a long enough passphrase 123"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no Chromium (scripts/deps.sh browser)")


@pytest.fixture(scope="module")
def site(test_database_url, simulator, tmp_path_factory):
    """The product as `make run` serves it, over plain http, its email written to files."""
    outbox = tmp_path_factory.mktemp("outbox")
    server = start_gateway(
        database_url=test_database_url,
        simulator_url=simulator.url,
        DEBUG="1",  # static files (the copy button's script, the stylesheet) from the app itself
        SECURE_COOKIES="0",
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(outbox),
    )
    server.outbox = outbox
    yield server
    server.stop()


def email_to(outbox: Path, address: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for f in sorted(outbox.glob("*.log")):
            text = f.read_text()
            if f"To: {address}" in text:
                return text
        time.sleep(0.1)
    raise AssertionError(f"no email to {address} in {outbox}")


def submit_sign_up(page, email: str) -> None:
    """Fills in and sends the sign-up form on the current page."""
    page.fill("input[name=email]", email)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("form.auth-form button[type=submit]")


def confirm_email(page, site, email: str) -> None:
    """Opens the link of the confirmation email sent to `email` and confirms; lands on the keys page."""
    from playwright.sync_api import expect

    link = re.search(r"http://\S+/accounts/confirm-email/\S+/", email_to(site.outbox, email)).group(0)
    page.goto(link)
    page.click("form.auth-form button[type=submit]")  # "Confirm"
    expect(page).to_have_url(site.url + "/keys/")


def test_it_signs_up_creates_a_key_and_sees_it_used(site, artifacts):
    from playwright.sync_api import expect, sync_playwright

    email = f"browser-{uuid.uuid4().hex[:8]}@example.com"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
        page = context.new_page()
        try:
            page.goto(site.url + "/accounts/signup/")
            submit_sign_up(page, email)
            expect(page.get_by_role("heading", name="Verify Your Email Address")).to_be_visible()

            confirm_email(page, site, email)
            expect(page.locator("header")).to_contain_text(email)
            page.screenshot(path=artifacts / "keys-empty.png", full_page=True)

            page.fill("#create-key input[name=name]", "browser key")
            page.fill("#create-key input[name=rpm_limit]", "120")
            page.click("#create-key button[type=submit]")
            expect(page.get_by_role("heading", name="Key created: browser key")).to_be_visible()
            shown = page.locator("#secret-value").inner_text().strip()
            page.click("button[data-copy]")
            expect(page.locator("button[data-copy]")).to_have_text("Copied")
            copied = page.evaluate("navigator.clipboard.readText()")
            assert copied == shown and re.fullmatch(r"sk-aip-\w{38}", copied)
            page.screenshot(path=artifacts / "key-created.png", full_page=True)

            page.goto(site.url + "/keys/")
            row = page.locator("table.keys tbody tr", has_text="browser key")
            expect(row.locator("td.last-used")).to_have_text("never")
            assert copied not in page.content()

            with openai.OpenAI(base_url=site.url + "/v1", api_key=copied, max_retries=0, timeout=30) as client:
                reply = client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "Hi!"}])
            assert reply.choices[0].message.content

            deadline = time.monotonic() + 10
            while True:
                page.reload()
                last_used = row.locator("td.last-used").inner_text().strip()
                if last_used != "never" or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", last_used), last_used
            expect(row).to_contain_text("120 rpm")
            page.screenshot(path=artifacts / "keys-used.png", full_page=True)
        except Exception:
            page.screenshot(path=artifacts / "browser-failure.png", full_page=True)
            raise
        finally:
            context.close()
            browser.close()
