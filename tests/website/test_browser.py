"""The public site in a real browser (headless Chromium): every public page at 1280 and 390 px
wide with no serious or critical axe-core violations and nothing wider than the screen; the
calculator; both free calls and the refused third; signing up and reaching the organization.
Screenshots of every page go to $AIPOWER_TEST_ARTIFACTS/site/."""

import uuid
from pathlib import Path

import pytest

from tests.accounts.test_browser import ARGS, CHROMIUM, confirm_email, submit_sign_up

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
PAGES = {
    "home": "/",
    "pricing": "/pricing/",
    "model": "/models/anthropic/claude-sonnet-4/",
    "docs": "/docs/",
    "try": "/try/",
    "signup": "/accounts/signup/",
    "signin": "/accounts/login/",
}
WIDTHS = {"desktop": 1280, "phone": 390}

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="no Chromium (scripts/deps.sh browser)"),
    pytest.mark.skipif(not AXE.exists(), reason="no axe-core (npm install, as scripts/test.sh does)"),
]


@pytest.fixture
def site(own_gateways, tmp_path):
    server = own_gateways(
        DEBUG="1",
        SECURE_COOKIES="0",
        EMAIL_FILE_PATH=str(tmp_path),
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
    )
    server.outbox = tmp_path
    return server


def axe_problems(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def check_page(page, name: str, width_name: str, shots: Path) -> None:
    assert axe_problems(page) == [], f"{name} at {width_name}"
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} at {width_name} is {overflow}px wider than the screen"
    if width_name == "desktop":  # on a phone, a wide table scrolls in its frame; on a desktop it fits
        wide = page.evaluate(
            "[...document.querySelectorAll('.table-wrap')].filter(w => w.scrollWidth > w.clientWidth + 1)"
            ".map(w => w.previousElementSibling ? w.previousElementSibling.textContent.slice(0, 40) : '?')"
        )
        assert wide == [], f"{name} at {width_name}: tables wider than their frame, after {wide}"
    page.screenshot(path=shots / f"{name}-{width_name}.png", full_page=True)


def expected_day(live_db, **calc) -> str:
    from routing.catalog import load_snapshot
    from website import calculator, costs

    with live_db.unblock():
        result = calculator.estimate(load_snapshot(), **calc)
    return costs.money(result.day_nusd)


def test_a_visitor_reads_the_site_tries_it_twice_and_signs_up(site, artifacts, live_db):
    from playwright.sync_api import expect, sync_playwright

    shots = artifacts / "site"
    shots.mkdir(exist_ok=True)
    routes = ("auto", "auto-cheap", "auto-fast", "auto-code", "auto-best", "auto-free")
    seed_mix = {name: {"auto-cheap": 80, "auto-code": 15, "auto-best": 5}.get(name, 0) for name in routes}
    own_mix = {**seed_mix, "auto-best": 15, "auto-cheap": 70}
    want = [
        expected_day(live_db, requests=1_000_000, input_tokens=500, output_tokens=200, mix=seed_mix),
        expected_day(live_db, requests=250_000, input_tokens=500, output_tokens=800, mix=seed_mix),
        expected_day(live_db, requests=250_000, input_tokens=500, output_tokens=800, mix=own_mix),
    ]
    assert len(set(want)) == 3
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            # Every public page, at both widths.
            for width_name, width in WIDTHS.items():
                context = browser.new_context(viewport={"width": width, "height": 900})
                page = context.new_page()
                for name, path in PAGES.items():
                    assert page.goto(site.url + path).status == 200, path
                    check_page(page, name, width_name, shots)
                context.close()

            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()

            # The calculator, live: the numbers change as the fields do.
            page.goto(site.url + "/pricing/")
            day = page.locator('[data-result="day"]')
            expect(day).to_have_text(want[0])  # the seed's example
            page.fill("#id_requests", "250000")
            page.fill("#id_output_tokens", "800")
            expect(day).to_have_text(want[1])
            page.fill("#id_mix_auto-best", "15")
            page.fill("#id_mix_auto-cheap", "70")
            expect(day).to_have_text(want[2])
            page.fill("#id_mix_auto-cheap", "60")  # adds up to 90%
            expect(page.locator(".calc-result")).to_contain_text("Fix the fields")
            page.screenshot(path=shots / "pricing-calculator-used.png", full_page=True)

            # Two free calls, then a refusal and the way to sign up.
            page.goto(site.url + "/")
            page.get_by_role("link", name="Try routing free — 2 calls").first.click()
            expect(page).to_have_url(site.url + "/try/")
            for route, expected_model in (("auto-fast", "qwen/qwen-turbo"), ("auto-code", "anthropic/claude-sonnet-4")):
                page.locator(f'input[name=route][value="{route}"]').check()
                page.fill("#try-prompt", "Say hello in five words.")
                page.click("[data-try-submit]")
                expect(page.locator('[data-fact="model"]')).to_contain_text(expected_model)
                expect(page.locator("[data-answer]")).not_to_be_empty()
                expect(page.locator('[data-fact="cost"]')).to_contain_text("$")
                expect(page.locator('[data-fact="latency"]')).to_contain_text("ms")
                assert "sk-aip-" not in page.content()
            page.screenshot(path=shots / "try-after-two-calls.png", full_page=True)
            page.click("[data-try-submit]")
            expect(page.locator("[data-signup]")).to_contain_text("You have used your 2 free calls")
            expect(page.locator("[data-signup]")).to_be_visible()
            expect(page.locator('[data-fact="model"]')).to_contain_text("anthropic/claude-sonnet-4")  # kept
            expect(page.locator("[data-left]")).to_have_text("0 of 2 free calls left")
            assert axe_problems(page) == []
            page.screenshot(path=shots / "try-refused.png", full_page=True)

            # Signing up from there reaches the organization's pages.
            page.get_by_role("link", name="Sign up free").click()
            email = f"site-{uuid.uuid4().hex[:8]}@example.com"
            submit_sign_up(page, email)
            expect(page.get_by_role("heading", name="Verify your email address")).to_be_visible()
            expect(page.locator("main")).to_contain_text(email)
            page.screenshot(path=shots / "verify-email.png", full_page=True)
            confirm_email(page, site, email)
            nav = page.locator("header")
            for label in ("Analytics", "API keys", "Members", "Billing", "Docs", "Pricing"):
                expect(nav.get_by_role("link", name=label, exact=True)).to_be_visible()
            assert axe_problems(page) == []
            page.screenshot(path=shots / "signed-up-keys.png", full_page=True)
            page.set_viewport_size({"width": 390, "height": 900})
            assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
            page.screenshot(path=shots / "signed-up-keys-phone.png", full_page=True)
        finally:
            browser.close()
