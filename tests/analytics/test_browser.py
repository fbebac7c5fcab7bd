"""A person in a browser: signs up, creates two keys, makes calls through three routes, and on
/dashboard/analytics sees charts whose totals are the usage rows', filters by key, opens a
request's detail and downloads the CSV. Screenshots go to $AIPOWER_TEST_ARTIFACTS."""

import csv
import io
import re
import time
import uuid
from pathlib import Path

import openai
import pytest

from tests.accounts.test_browser import ARGS, CHROMIUM, confirm_email, submit_sign_up
from tests.servers import start_gateway

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no Chromium (scripts/deps.sh browser)")


@pytest.fixture(scope="module")
def site(test_database_url, simulator, tmp_path_factory):
    outbox = tmp_path_factory.mktemp("outbox")
    server = start_gateway(
        database_url=test_database_url,
        simulator_url=simulator.url,
        DEBUG="1",
        SECURE_COOKIES="0",
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(outbox),
        AIPOWER_TRIAL_CREDIT_NUSD="5000000000",
    )
    server.outbox = outbox
    yield server
    server.stop()


def create_key(page, name: str) -> str:
    page.fill("#create-key input[name=name]", name)
    page.click("#create-key button[type=submit]")
    return page.locator("#secret-value").inner_text().strip()


def usage_rows(live_db, email: str, expect: int):
    from django.db import connection

    from accounts.models import Membership
    from analytics.models import UsageRecord

    deadline = time.monotonic() + 10
    with live_db.unblock():
        try:
            org = Membership.objects.get(user__email=email).organization_id
            while True:
                rows = list(UsageRecord.objects.filter(organization_id=org).order_by("-created_at"))
                if len(rows) >= expect or time.monotonic() > deadline:
                    return rows
                time.sleep(0.05)
        finally:
            # Opened inside Playwright's event loop, this connection is that context's own:
            # closed here, or it would keep the test database from being dropped.
            connection.close()


def test_it_shows_a_new_customer_what_their_calls_cost(site, live_db, artifacts, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM checks below are sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    from playwright.sync_api import expect, sync_playwright

    from billing.pricing import format_usd

    email = f"analytics-{uuid.uuid4().hex[:8]}@example.com"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page = context.new_page()
        try:
            page.goto(site.url + "/accounts/signup/")
            submit_sign_up(page, email)
            confirm_email(page, site, email)
            backend = create_key(page, "backend")
            page.goto(site.url + "/keys/")
            batch = create_key(page, "batch")

            calls = [
                (backend, "auto", False),
                (backend, "auto", False),
                (backend, "auto-cheap", True),
                (backend, "auto-cheap", False),
                (batch, "auto-best", False),
                (batch, "auto-best", True),
            ]
            for key, model, stream in calls:
                with openai.OpenAI(base_url=site.url + "/v1", api_key=key, max_retries=0, timeout=30) as client:
                    if stream:
                        list(
                            client.chat.completions.create(
                                model=model,
                                stream=True,
                                stream_options={"include_usage": True},
                                messages=[{"role": "user", "content": "Stream a haiku."}],
                            )
                        )
                    else:
                        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hello!"}])
            rows = usage_rows(live_db, email, len(calls))
            assert len(rows) == len(calls)
            total_nusd = sum(r.charged_nusd for r in rows)

            page.click("header nav >> text=Analytics")
            expect(page).to_have_url(site.url + "/dashboard/analytics")
            expect(page.locator("#total-requests")).to_have_text(str(len(calls)))
            expect(page.locator("#total-spend")).to_have_text(format_usd(total_nusd))
            page.wait_for_function(
                "() => typeof Chart !== 'undefined' && ['spend-chart', 'volume-chart', 'latency-chart', 'rates-chart']"
                ".every(id => Chart.getChart(id) && Chart.getChart(id).getDatasetMeta(0).data.length)"
            )
            drawn = page.evaluate("""() => {
                const spend = Chart.getChart('spend-chart').data.datasets;
                const data = JSON.parse(document.getElementById('chart-data').textContent);
                return {routes: spend.map(d => d.label).sort(),
                        spend_nusd: Object.values(data.spend).flat().reduce((a, b) => a + b, 0),
                        requests: Chart.getChart('volume-chart').data.datasets[0].data.reduce((a, b) => a + b, 0)};
            }""")
            assert drawn == {
                "routes": ["auto", "auto-best", "auto-cheap"],
                "spend_nusd": total_nusd,
                "requests": len(calls),
            }
            page.screenshot(path=artifacts / "analytics-dashboard.png", full_page=True)

            batch_rows = [r for r in rows if r.route == "auto-best"]
            batch_id = page.locator("#filter-key option", has_text="batch").get_attribute("value")
            page.select_option("#filter-key", value=batch_id)
            page.click("#filters button[type=submit]")
            expect(page).to_have_url(re.compile(rf"key={batch_id}"))
            expect(page.locator("#total-requests")).to_have_text(str(len(batch_rows)))
            expect(page.locator("#total-spend")).to_have_text(format_usd(sum(r.charged_nusd for r in batch_rows)))
            expect(page.locator("#by-route tbody tr")).to_have_count(1)
            page.screenshot(path=artifacts / "analytics-filtered.png", full_page=True)

            with page.expect_download() as download:
                page.click("#log a.btn:text('CSV')")
            text = Path(download.value.path()).read_text()
            exported = list(csv.DictReader(io.StringIO(text)))
            assert sorted(e["request_id"] for e in exported) == sorted(r.request_id for r in batch_rows)
            assert {e["route"] for e in exported} == {"auto-best"}

            newest = batch_rows[0]
            page.locator("#log a.req-link").first.click()
            expect(page.locator("#request-id")).to_have_text(newest.request_id)
            expect(page.locator("#attempts tbody tr")).to_have_count(len(newest.attempt_log))
            expect(page.locator("main")).to_contain_text(newest.served_model)
            page.screenshot(path=artifacts / "analytics-request.png", full_page=True)
        except Exception:
            page.screenshot(path=artifacts / "analytics-browser-failure.png", full_page=True)
            raise
        finally:
            context.close()
            browser.close()
