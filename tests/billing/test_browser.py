"""A person in a browser: signs up (trial credit), tops up through Stripe Checkout (the fake
Stripe server's hosted page, whose payment sends a signed webhook), and sees the credit, the
receipt and their settings on the billing page. Screenshots go to $AIPOWER_TEST_ARTIFACTS."""

import re
import uuid
from pathlib import Path

import pytest

from tests.accounts.test_browser import ARGS, CHROMIUM, confirm_email, submit_sign_up
from tests.billing import fake_stripe as fs
from tests.servers import start_gateway

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no Chromium (scripts/deps.sh browser)")


@pytest.fixture(scope="module")
def site(test_database_url, simulator, fake_stripe, tmp_path_factory):
    outbox = tmp_path_factory.mktemp("outbox")
    server = start_gateway(
        database_url=test_database_url,
        simulator_url=simulator.url,
        DEBUG="1",
        SECURE_COOKIES="0",
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(outbox),
        STRIPE_SECRET_KEY=fs.SECRET_KEY,
        STRIPE_WEBHOOK_SECRET=fs.WEBHOOK_SECRET,
        STRIPE_API_BASE=fake_stripe.url,
        AIPOWER_TRIAL_CREDIT_NUSD="1000000000",
        CELERY_TASK_ALWAYS_EAGER="1",
    )
    server.outbox = outbox
    fake_stripe.webhook_url = server.url + "/billing/stripe/webhook/"
    yield server
    server.stop()


def test_it_signs_up_tops_up_through_checkout_and_sees_the_credit(site, fake_stripe, artifacts):
    from playwright.sync_api import expect, sync_playwright

    email = f"billing-{uuid.uuid4().hex[:8]}@example.com"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
        try:
            page.goto(site.url + "/accounts/signup/")
            submit_sign_up(page, email)
            confirm_email(page, site, email)

            page.goto(site.url + "/billing/")
            expect(page.locator("#balance-value")).to_have_text("$1.00")
            expect(page.locator("#trial")).to_contain_text("$1.00")
            expect(page.locator("table.ledger tbody tr.grant")).to_contain_text("Free trial credit")
            page.screenshot(path=artifacts / "billing-trial.png", full_page=True)

            page.fill("input[name=custom_usd]", "15")
            page.click("#topup-custom")
            expect(page).to_have_url(re.compile(re.escape(fake_stripe.url) + r"/pay/cs_test_\w+"))
            expect(page.get_by_role("heading", name="Pay $15.00")).to_be_visible()
            page.click("#pay")  # Stripe takes the payment and sends its signed webhooks, then redirects back

            expect(page).to_have_url(re.compile(re.escape(site.url) + r"/billing/\?checkout=done&session_id=cs_test_"))
            expect(page.locator("#checkout-done")).to_be_visible()
            expect(page.locator("#balance-value")).to_have_text("$16.00")
            row = page.locator("table.ledger tbody tr.topup")
            expect(row).to_contain_text("$15.00")
            expect(row.get_by_role("link", name="receipt")).to_be_visible()
            statuses = [
                status
                for evt, status in fake_stripe.delivered
                if evt["data"]["object"].get("metadata", {}).get("organization_id")
            ]
            assert statuses and all(s == 200 for s in statuses)
            page.screenshot(path=artifacts / "billing-topped-up.png", full_page=True)

            page.fill("input[name=alert_thresholds_usd]", "5, 2")
            page.click("#settings-form button[type=submit]")
            expect(page.locator("main")).to_contain_text("Billing settings saved.")
            expect(page.locator("input[name=alert_thresholds_usd]")).to_have_value("2, 5")

            page.select_option("select[name=kind]", "topup")
            page.click("#ledger-filters button[type=submit]")
            expect(page.locator("table.ledger tbody tr")).to_have_count(1)
            page.screenshot(path=artifacts / "billing-filtered.png", full_page=True)
        except Exception:
            page.screenshot(path=artifacts / "billing-browser-failure.png", full_page=True)
            raise
        finally:
            browser.close()
