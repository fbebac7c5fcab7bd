"""Money in one module: exact parsing and formatting of dollar amounts, and the billing settings
form showing stored amounts exactly, so that saving it unchanged changes nothing."""

from decimal import Decimal
from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.models import CreditAccount
from billing.money import (
    NUSD_PER_USD,
    InvalidAmount,
    format_usd,
    nusd_to_usd,
    parse_usd_to_nusd,
    usd_input,
    usd_to_nusd,
)
from billing.services import account_settings_update
from tests.accounts.conftest import make_org


@pytest.mark.parametrize(
    "nusd, shown",
    [
        (12_345_670_000_000, "12345.67"),
        (1_234_567 * NUSD_PER_USD, "1234567"),
        (100 * NUSD_PER_USD, "100"),
        (1, "0.000000001"),
        (2_500_000_000, "2.5"),
        (0, "0"),
        (None, ""),
    ],
)
def test_it_shows_an_amount_in_a_field_exactly_and_plainly(nusd, shown):
    assert usd_input(nusd) == shown


@pytest.mark.parametrize(
    "text, nusd",
    [
        ("12345.67", 12_345_670_000_000),
        ("$12,345.67", 12_345_670_000_000),
        (" 1,234,567 ", 1_234_567 * NUSD_PER_USD),
        ("0.000000001", 1),
        ("-5", -5 * NUSD_PER_USD),
    ],
)
def test_it_parses_dollars_exactly(text, nusd):
    assert parse_usd_to_nusd(text) == nusd


@pytest.mark.parametrize("text", ["", "abc", "1.2.3", "1e3", "nan", "inf", "$", "0.0000000001", "12 dollars"])
def test_it_refuses_what_is_not_an_exact_amount(text):
    with pytest.raises(InvalidAmount):
        parse_usd_to_nusd(text)


@given(st.integers(min_value=0, max_value=10**18))
def test_showing_then_parsing_an_amount_gives_it_back(nusd):
    assert parse_usd_to_nusd(usd_input(nusd)) == nusd
    assert nusd_to_usd(nusd) == Decimal(nusd) / NUSD_PER_USD


def test_it_formats_for_people_to_the_micro_dollar_with_cents_at_least():
    assert format_usd(1_234_567_891) == "$1.234567"
    assert format_usd(-5 * NUSD_PER_USD) == "-$5.00"
    assert format_usd(16 * NUSD_PER_USD) == "$16.00"
    assert format_usd(0) == "$0.00"
    assert format_usd(5_100_000_000) == "$5.10"
    assert format_usd(1_234_500 * NUSD_PER_USD // 1000) == "$1,234.50"
    assert format_usd(999) == "$0.00"  # below a micro-dollar: truncated toward zero
    assert usd_to_nusd(Decimal("0.25")) == 250_000_000


def test_the_product_has_one_definition_of_a_dollar():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    defined = [
        str(p.relative_to(root))
        for app in ("accounts", "billing", "analytics", "routing", "aipower")
        for p in (root / app).rglob("*.py")
        if "NUSD_PER_USD = " in p.read_text()
    ]
    assert defined == ["billing/money.py"]


class _Fields(HTMLParser):
    """The fields of one form of a page, as a browser would submit them unchanged."""

    def __init__(self, form_id):
        super().__init__()
        self.form_id, self.inside, self.data = form_id, False, {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.inside = a.get("id") == self.form_id
        elif tag == "input" and self.inside and a.get("name"):
            if a.get("type") == "checkbox":
                if "checked" in a:
                    self.data[a["name"]] = "on"
            else:
                self.data[a["name"]] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False


def _settings_form(web) -> dict:
    parser = _Fields("settings-form")
    parser.feed(web.get("/billing/").content.decode())
    return parser.data


@pytest.fixture
def org(db):
    return make_org("Acme")


@pytest.mark.parametrize("cap_nusd, shown", [(12_345_670_000_000, "12345.67"), (1_234_567 * NUSD_PER_USD, "1234567")])
def test_it_shows_the_cap_exactly_and_saving_unchanged_changes_nothing(org, cap_nusd, shown):
    o = org.organization.pk
    account_settings_update(
        organization_id=o,
        monthly_cap_nusd=cap_nusd,
        auto_recharge_enabled=True,
        auto_recharge_threshold_nusd=1_234_567_890_123,
        auto_recharge_amount_nusd=25_500_000_000,
        alert_thresholds_nusd=[123_456_789, 1_000_000 * NUSD_PER_USD],
    )
    before = CreditAccount.objects.get(organization_id=o)
    web = org.client_for(org.owner)
    fields = _settings_form(web)
    assert fields["monthly_cap_usd"] == shown
    assert fields["auto_recharge_threshold_usd"] == "1234.567890123"
    assert fields["auto_recharge_amount_usd"] == "25.5"
    assert fields["alert_thresholds_usd"] == "0.123456789, 1000000"
    response = web.post("/billing/settings/", fields)
    assert response.status_code == 302
    after = CreditAccount.objects.get(organization_id=o)
    for name in (
        "monthly_cap_nusd",
        "auto_recharge_enabled",
        "auto_recharge_threshold_nusd",
        "auto_recharge_amount_nusd",
        "alert_thresholds_nusd",
    ):
        assert getattr(after, name) == getattr(before, name), name


def test_it_accepts_dollar_signs_and_thousands_separators(org):
    web = org.client_for(org.owner)
    assert web.post("/billing/settings/", {"monthly_cap_usd": "$12,345.67"}).status_code == 302
    assert CreditAccount.objects.get(organization=org.organization).monthly_cap_nusd == 12_345_670_000_000


@pytest.mark.parametrize(
    "fields, error",
    [
        ({"monthly_cap_usd": "12.5.1"}, "not an amount"),
        ({"monthly_cap_usd": "-3"}, "greater than or equal to 0"),
        (
            {"auto_recharge_enabled": "on", "auto_recharge_threshold_usd": "5", "auto_recharge_amount_usd": "20.001"},
            "Whole cents",
        ),
    ],
)
def test_bad_amounts_are_form_errors_and_change_nothing(org, fields, error):
    account_settings_update(organization_id=org.organization.pk, monthly_cap_nusd=7 * NUSD_PER_USD)
    response = org.client_for(org.owner).post("/billing/settings/", fields)
    assert response.status_code == 400 and error in response.content.decode()
    account = CreditAccount.objects.get(organization=org.organization)
    assert account.monthly_cap_nusd == 7 * NUSD_PER_USD and not account.auto_recharge_enabled
