"""A new organization's trial credit reaches every route and model with a plain prompt: the hold
covers the candidate being called (topped up before a dearer failover, a fallback the credit
cannot cover skipped), and with no max_tokens the output is capped at what the credit covers."""

import re
import threading
import time
import uuid

import httpx
import openai
import pytest
from django.conf import settings
from django_scopes import scopes_disabled

from billing.models import LedgerEntry, Reservation
from billing.pricing import cost_of, worst_case_nusd
from routing.catalog import ModelInfo, load_snapshot
from routing.credit import affordable_output, prompt_bound
from routing.models import Route
from routing.request import validate
from tests.billing.conftest import fund, state
from tests.conftest import make_tenant
from tests.media import pdf_part

HI = [{"role": "user", "content": "hi"}]
PINNED = [
    "anthropic/claude-sonnet-4",
    "google/gemini-2.5-flash",
    "openai/gpt-4o-mini",
    "anthropic/claude-opus-4.6",
    "openai/gpt-5.4",
    "google/gemini-2.5-pro",
]


def info(public_id: str) -> ModelInfo:
    return load_snapshot().models[public_id]


def post(gw, key, body, **headers):
    return httpx.post(
        gw.url + "/v1/chat/completions", json=body, timeout=30, headers={"authorization": f"Bearer {key}", **headers}
    )


def settled(org_id, live_db):
    time.sleep(0.3)
    with live_db.unblock():
        return state(org_id)


def test_the_trial_credit_reaches_every_route_and_model_with_a_plain_prompt(gateway, live_db):
    trial = make_tenant(live_db, credit_nusd=settings.AIPOWER_TRIAL_CREDIT_NUSD)
    with live_db.unblock():
        routes = list(Route.objects.values_list("name", flat=True))
    assert {"auto", "auto-cheap", "auto-fast", "auto-code", "auto-best", "auto-free"} <= set(routes)
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=trial.key, max_retries=0, timeout=30)
    capped = {}
    for name in routes + PINNED:
        raw = client.chat.completions.with_raw_response.create(model=name, messages=HI)
        reply = raw.parse()
        assert reply.choices[0].message.content, name
        capped[name] = raw.headers.get("x-aipower-max-tokens-capped")
        # Streams too.
        with client.chat.completions.create(model=name, messages=HI, stream=True) as stream:
            assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices), name
    s = settled(trial.organization.pk, live_db)
    assert 0 < s["balance"] < settings.AIPOWER_TRIAL_CREDIT_NUSD and s["reserved"] == 0 and s["open"] == 0
    # $1 does not cover Claude Opus 4.6's 128k output tokens: the output was capped, and said so;
    # GPT-4o mini's 16k are covered: no cap.
    assert capped["openai/gpt-4o-mini"] is None and capped["auto-cheap"] is None
    assert int(capped["anthropic/claude-opus-4.6"]) < 128_000 and int(capped["auto-best"]) < 128_000
    assert int(capped["anthropic/claude-sonnet-4"]) < 64_000


def test_the_cap_is_what_the_balance_covers(gateway, tenant, live_db, usage):
    model = "anthropic/claude-sonnet-4"
    body = {"model": model, "messages": HI}
    with live_db.unblock():
        fund(tenant.organization.pk, 100_000_000)  # $0.10
        expected = affordable_output(100_000_000, info(model), prompt_bound(validate(dict(body)), info(model)), 1500)
    r = post(gateway, tenant.key, body)
    assert r.status_code == 200, r.text
    assert 256 <= expected < 64_000 and r.headers["x-aipower-max-tokens-capped"] == str(expected)
    [row] = usage(r.headers["x-request-id"])
    assert row.status == "ok" and row.charged_nusd <= 100_000_000
    assert settled(tenant.organization.pk, live_db)["balance"] >= 0


def test_below_the_floor_it_answers_402(gateway, tenant, live_db):
    model = "anthropic/claude-sonnet-4"
    with live_db.unblock():
        fund(tenant.organization.pk, 2_000_000)  # $0.002: about 100 output tokens of Sonnet
    r = post(gateway, tenant.key, {"model": model, "messages": HI})
    assert r.status_code == 402
    err = r.json()["error"]
    assert err["code"] == "insufficient_quota" and err["type"] == "insufficient_quota"
    assert "fewer than the 256 a request needs" in err["message"] and "$0.002 available" in err["message"]
    with live_db.unblock():
        assert not LedgerEntry.objects.filter(request_id=r.headers["x-request-id"]).exists()


def test_the_402_names_the_largest_affordable_max_tokens(gateway, tenant, live_db):
    model = "anthropic/claude-sonnet-4"
    with live_db.unblock():
        fund(tenant.organization.pk, 50_000_000)  # $0.05
    body = {"model": model, "messages": HI, "max_tokens": 64_000}
    r = post(gateway, tenant.key, body)
    assert r.status_code == 402
    message = r.json()["error"]["message"]
    assert message.startswith(
        "Insufficient credit: your organization's balance ($0.05 available) does not "
        "cover max_tokens=64000 on anthropic/claude-sonnet-4."
    )
    largest = int(re.search(r"The largest max_tokens it covers for this request is (\d+)", message).group(1))
    with live_db.unblock():
        bound = prompt_bound(validate(dict(body)), info(model))
        assert largest == affordable_output(50_000_000, info(model), bound, 1500)
    # One more token is refused; exactly that many is served.
    assert post(gateway, tenant.key, {**body, "max_tokens": largest + 1}).status_code == 402
    ok = post(gateway, tenant.key, {**body, "max_tokens": largest}, **{"x-sim-output-tokens": "5"})
    assert ok.status_code == 200 and "x-aipower-max-tokens-capped" not in ok.headers
    assert settled(tenant.organization.pk, live_db)["balance"] >= 0


def test_a_dearer_fallback_gets_a_topped_up_hold(gateway, tenant, live_db, usage):
    # GPT-4o mini fails; its family's chain goes on to Claude Sonnet 4, 25x dearer per output token.
    with live_db.unblock():
        fund(tenant.organization.pk, 1_000_000_000)
    r = post(
        gateway,
        tenant.key,
        {"model": "openai/gpt-4o-mini", "messages": HI, "max_tokens": 2000},
        **{"x-sim-fault": "openai=status:503"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["model"] == "anthropic/claude-sonnet-4"
    assert r.headers["x-aipower-fallback-from"] == "openai/gpt-4o-mini"
    [row] = usage(r.headers["x-request-id"])
    s = settled(tenant.organization.pk, live_db)
    assert s["reserved"] == 0 and s["open"] == 0 and s["balance"] == 1_000_000_000 - row.charged_nusd


def test_a_fallback_the_credit_cannot_cover_is_skipped(gateway, tenant, live_db, usage):
    # Enough for GPT-4o mini's and DeepSeek V3's worst case at 2000 output tokens, not Claude Sonnet 4's.
    with live_db.unblock():
        fund(tenant.organization.pk, 5_000_000)  # $0.005; Sonnet's worst case is ~$0.035
    r = post(
        gateway,
        tenant.key,
        {"model": "openai/gpt-4o-mini", "messages": HI, "max_tokens": 2000},
        **{"x-sim-fault": "openai=status:503"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["model"] == "deepseek/deepseek-chat"
    [row] = usage(r.headers["x-request-id"])
    skipped = {"model": "anthropic/claude-sonnet-4", "status": "skipped", "error": "insufficient_credit"}
    assert skipped in row.attempt_log
    s = settled(tenant.organization.pk, live_db)
    assert s["balance"] == 5_000_000 - row.charged_nusd >= 0 and s["reserved"] == 0


def test_a_failed_first_choice_with_only_a_too_dear_fallback_is_not_charged(gateway, tenant, live_db, usage):
    with live_db.unblock():
        fund(tenant.organization.pk, 5_000_000)
    r = post(
        gateway,
        tenant.key,
        {"model": "openai/gpt-4o-mini", "messages": HI, "max_tokens": 2000, "models": ["anthropic/claude-sonnet-4"]},
        **{"x-sim-fault": "openai=status:503"},
    )
    # The first candidate was tried and failed; the only fallback was too dear: the upstream's failure.
    assert r.status_code == 502
    [row] = usage(r.headers["x-request-id"])
    assert row.attempt_log[-1] == {
        "model": "anthropic/claude-sonnet-4",
        "status": "skipped",
        "error": "insufficient_credit",
    }
    s = settled(tenant.organization.pk, live_db)
    assert s["balance"] == 5_000_000 and s["reserved"] == 0


@pytest.mark.twins
async def test_top_up_and_headroom(tenant, db_open, pools, reservation_functions):
    from accounts.models import ApiKey
    from billing import holds, reservations
    from billing.services import key_budget_set

    org = tenant.organization.pk
    top, held = f"top-{uuid.uuid4().hex}", f"key-{uuid.uuid4().hex}"
    fund(org, 1000)
    assert await holds.headroom_nusd(organization_id=org, api_key_id=tenant.key_id) == 1000
    await reservations.reserve(organization_id=org, api_key_id=tenant.key_id, request_id=top, amount_nusd=400)
    assert await holds.headroom_nusd(organization_id=org, api_key_id=tenant.key_id) == 600
    await holds.top_up(request_id=top, delta_nusd=500)
    with pytest.raises(reservations.InsufficientCredit) as e:
        await holds.top_up(request_id=top, delta_nusd=101)
    assert e.value.limit == "balance" and state(org)["reserved"] == 900
    await reservations.settle(request_id=top, charged_nusd=850)
    assert state(org)["balance"] == 150 and state(org)["reserved"] == 0
    with pytest.raises(holds.HoldGone):
        await holds.top_up(request_id=top, delta_nusd=1)

    # The key's monthly budget (200) is the tighter limit now: 100 + 60 fit, 41 more do not.
    fund(org, 1000)
    key_budget_set(api_key=ApiKey.objects.get(pk=tenant.key_id), monthly_budget_nusd=200)
    assert await holds.headroom_nusd(organization_id=org, api_key_id=tenant.key_id) == 200
    assert await holds.headroom_nusd(organization_id=org, api_key_id=None) == 1150  # no key: the balance
    await reservations.reserve(organization_id=org, api_key_id=tenant.key_id, request_id=held, amount_nusd=100)
    await holds.top_up(request_id=held, delta_nusd=60)
    with pytest.raises(reservations.InsufficientCredit) as e:
        await holds.top_up(request_id=held, delta_nusd=41)
    assert e.value.limit == "key_budget"
    assert await holds.headroom_nusd(organization_id=org, api_key_id=tenant.key_id) == 40
    assert state(org)["reserved"] == 160
    await reservations.release(request_id=held)


def with_pdf(model: str, pages: int, **body) -> dict:
    content = [{"type": "text", "text": "Summarize the report."}, pdf_part(pages)]
    return {"model": model, "messages": [{"role": "user", "content": content}], **body}


def first_hold(live_db, key_id: int, send) -> tuple[int, object]:
    """(the amount of the first hold placed for the key while `send()` runs, what send() returned)."""
    seen: list[int] = []

    def watch():
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            with live_db.unblock(), scopes_disabled():  # a thread of its own: not the test's scope state
                seen.extend(Reservation.objects.filter(api_key_id=key_id).values_list("amount_nusd", flat=True))
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    result = send()
    watcher.join()
    return seen[0], result


@pytest.mark.parametrize("model", ["anthropic/claude-haiku-4.5", "google/gemini-2.5-flash", "openai/gpt-4o-mini"])
def test_a_pdf_request_is_held_for_the_context_window_and_charged_exactly(gateway, tenant, live_db, usage, model):
    with live_db.unblock():
        fund(tenant.organization.pk, 5_000_000_000)  # $5
        m = info(model)
    body = with_pdf(model, 40, max_tokens=200)
    held, r = first_hold(
        live_db,
        tenant.key_id,
        lambda: post(gateway, tenant.key, body, **{"x-sim-latency-ms": "500", "x-aipower-fallback": "off"}),
    )
    assert r.status_code == 200, r.text
    counted = r.json()["usage"]["prompt_tokens"]
    # What a PDF costs is the upstream's count of its pages: far beyond its bytes, which bound text.
    assert counted > validate(dict(body)).prompt_tokens_bound
    assert held == worst_case_nusd(
        prompt_tokens=m.context_window,
        max_tokens=200,
        model_max_output=m.max_output_tokens,
        input_price_usd_micro_per_mtok=m.input_price_usd_micro_per_mtok,
        output_price_usd_micro_per_mtok=m.output_price_usd_micro_per_mtok,
        markup_bp=1500,
    )
    [row] = usage(r.headers["x-request-id"])
    exact = cost_of(
        prompt_tokens=counted,
        cached_tokens=0,
        completion_tokens=r.json()["usage"]["completion_tokens"],
        input_price_usd_micro_per_mtok=m.input_price_usd_micro_per_mtok,
        output_price_usd_micro_per_mtok=m.output_price_usd_micro_per_mtok,
        cached_input_price_usd_micro_per_mtok=m.cached_input_price_usd_micro_per_mtok,
        markup_bp=1500,
    )
    assert row.prompt_tokens == counted and row.charged_nusd == exact.charged_nusd > 0
    assert held >= row.charged_nusd
    s = settled(tenant.organization.pk, live_db)
    assert s["reserved"] == 0 and s["balance"] == 5_000_000_000 - exact.charged_nusd


def test_a_balance_below_a_documents_bound_gets_a_402_that_says_why(gateway, tenant, live_db):
    model = "anthropic/claude-haiku-4.5"  # 200k tokens at $1 per 1M: $0.23 held for the prompt, with markup
    with live_db.unblock():
        fund(tenant.organization.pk, 100_000_000)  # $0.10
    r = post(gateway, tenant.key, with_pdf(model, 2, max_tokens=100), **{"x-aipower-fallback": "off"})
    assert r.status_code == 402
    err = r.json()["error"]
    assert err["code"] == "insufficient_quota" and err["type"] == "insufficient_quota"
    assert err["message"] == (
        "Insufficient credit: your organization's balance ($0.10 available) does not cover this request's "
        "prompt on anthropic/claude-haiku-4.5: a request with a document or audio is held for the model's "
        "whole context window (200000 tokens), as only the upstream can count it. Top up on the billing page."
    )
    with live_db.unblock():
        assert not LedgerEntry.objects.filter(request_id=r.headers["x-request-id"]).exists()
    # The same question without the document is well within the balance.
    plain = {"model": model, "messages": [{"role": "user", "content": "Summarize the report."}], "max_tokens": 100}
    assert post(gateway, tenant.key, plain).status_code == 200
    s = settled(tenant.organization.pk, live_db)
    assert s["reserved"] == 0 and s["balance"] >= 0


def test_with_a_document_and_no_max_tokens_the_output_is_capped_to_the_balance(gateway, tenant, live_db, usage):
    # GPT-4o mini: its 128k-token window at $0.15 per 1M is $0.022 with markup; $0.025 leaves a few
    # thousand output tokens of its 16,384.
    model = "openai/gpt-4o-mini"
    body = with_pdf(model, 2)
    with live_db.unblock():
        fund(tenant.organization.pk, 25_000_000)
        expected = affordable_output(25_000_000, info(model), prompt_bound(validate(dict(body)), info(model)), 1500)
    assert 256 <= expected < 16_384
    r = post(gateway, tenant.key, body, **{"x-aipower-fallback": "off"})
    assert r.status_code == 200, r.text
    assert r.headers["x-aipower-max-tokens-capped"] == str(expected)
    [row] = usage(r.headers["x-request-id"])
    assert row.status == "ok" and 0 < row.charged_nusd <= 25_000_000
    assert settled(tenant.organization.pk, live_db)["balance"] >= 0


def test_the_hold_covers_a_prompt_written_to_the_cache_for_one_hour(gateway, tenant, live_db, usage):
    from billing.pricing import worst_case_nusd
    from routing.credit import worst_case

    model = "anthropic/claude-sonnet-4"
    manual = f"Manual {uuid.uuid4().hex}. " + "The manual explains many things in detail. " * 120
    mark = {"type": "ephemeral", "ttl": "1h"}
    body = {
        "model": model,
        "max_tokens": 50,
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": manual, "cache_control": mark}]},
            {"role": "user", "content": "Summarise it."},
        ],
    }
    with live_db.unblock():
        m = info(model)
    features = validate(dict(body))
    bound = prompt_bound(features, m)
    worst = worst_case(m, features, 1500)
    # Every prompt token at Sonnet 4's 1-hour cache-write price ($6 per 1M, the dearest a prompt
    # token can cost there), 50 output tokens at $15, +15%, rounded up once.
    assert worst == -(-(bound * 6_000_000 + 50 * 15_000_000) * 11_500 // (1000 * 10_000))
    at_input_price = worst_case_nusd(
        prompt_tokens=bound,
        max_tokens=50,
        model_max_output=m.max_output_tokens,
        input_price_usd_micro_per_mtok=m.input_price_usd_micro_per_mtok,
        output_price_usd_micro_per_mtok=m.output_price_usd_micro_per_mtok,
        markup_bp=1500,
    )
    assert at_input_price < worst - 1  # a hold at the input price would have let the next request through

    with live_db.unblock():
        fund(tenant.organization.pk, worst - 1)
    refused = post(gateway, tenant.key, body)
    assert refused.status_code == 402, refused.text
    assert refused.json()["error"]["code"] == "insufficient_quota"
    with live_db.unblock():
        assert not LedgerEntry.objects.filter(request_id=refused.headers["x-request-id"]).exists()

    with live_db.unblock():
        fund(tenant.organization.pk, 1)  # just enough
    served = post(gateway, tenant.key, body)
    assert served.status_code == 200, served.text
    [row] = usage(served.headers["x-request-id"])
    assert row.status == "ok" and row.cache_write_1h_tokens == row.cache_write_tokens > 1000
    # Charged in full at the 1-hour price (not capped at the hold), which the hold covered.
    pico = (
        (row.prompt_tokens - row.cache_write_tokens) * m.input_price_usd_micro_per_mtok
        + row.cache_write_1h_tokens * m.cache_write_1h_price_usd_micro_per_mtok
        + row.completion_tokens * m.output_price_usd_micro_per_mtok
    )
    assert row.charged_nusd == -(-pico * 11_500 // (1000 * 10_000)) <= worst
    assert settled(tenant.organization.pk, live_db)["balance"] == worst - row.charged_nusd


def test_only_a_marked_prompt_is_held_at_a_cache_write_price(live_db):
    from routing.credit import worst_case

    with live_db.unblock():
        m = info("anthropic/claude-sonnet-4")  # input $3, cache writes $3.75 (5 minutes) and $6 (1 hour)
    text = "The manual explains many things in detail. " * 50

    def held(mark) -> tuple[int, int]:
        part = {"type": "text", "text": text, **({"cache_control": mark} if mark else {})}
        features = validate({"model": m.public_id, "max_tokens": 10, "messages": [{"role": "user", "content": [part]}]})
        return features.cache_marks, worst_case(m, features, 1500)

    def at(price: int, bound: int) -> int:
        return -(-(bound * price + 10 * 15_000_000) * 11_500 // (1000 * 10_000))

    bound = prompt_bound(
        validate({"model": m.public_id, "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}]}),
        m,
    )
    assert held(None) == (0, at(3_000_000, bound))  # no mark: nothing can be written to the cache
    assert held({"type": "ephemeral"}) == (1, at(3_750_000, bound))
    assert held({"type": "ephemeral", "ttl": "1h"}) == (2, at(6_000_000, bound))
    # A marked tool is a marked prompt too.
    tool = {"type": "function", "function": {"name": "f"}, "cache_control": {"type": "ephemeral"}}
    features = validate({"model": m.public_id, "messages": [{"role": "user", "content": "hi"}], "tools": [tool]})
    assert features.cache_marks == 1
