"""PDF documents and audio through a real gateway and the provider simulator, with the openai SDK:
routes send them only to models that take them and say why, a pinned model that cannot is refused
before any upstream call (nothing charged), /v1/models and /v1/route/explain show the capability."""

import importlib

import httpx
import openai
import pytest
from django.apps import apps

from billing.models import LedgerEntry
from routing import seed
from routing.models import CatalogModel
from simulator.content import AUDIO_TOKENS_PER_SECOND, TOKENS_PER_PDF_PAGE
from tests.media import audio_part, pdf_part

PDF_READERS = {
    "anthropic/claude-sonnet-4",
    "anthropic/claude-opus-4.6",
    "anthropic/claude-haiku-4.5",
    "openai/gpt-4o-mini",
    "openai/gpt-5.4",
    "google/gemini-2.5-pro",
    "google/gemini-2.5-flash",
}


def asking(*parts):
    return [{"role": "user", "content": [{"type": "text", "text": "Summarize this, please."}, *parts]}]


def create(client, **kwargs):
    raw = client.chat.completions.with_raw_response.create(**kwargs)
    return raw.parse(), raw.headers


def test_auto_sends_a_pdf_to_a_model_that_reads_it_and_says_why(client, usage, sim):
    deepseek = sim.hits("deepseek")
    reply, headers = create(client, model="auto", messages=asking(pdf_part(3)))
    # auto's economy tier opens with DeepSeek V3 and Qwen Plus, which take no files.
    assert reply.model == "openai/gpt-4o-mini" and reply.model in PDF_READERS
    assert "I read 3 PDF pages." in reply.choices[0].message.content
    reason = headers["x-aipower-route-reason"]
    assert "economy tier" in reason
    assert "PDF documents: skipped deepseek/deepseek-chat, qwen/qwen-plus, which cannot take them" in reason
    assert sim.hits("deepseek") == deepseek
    # The upstream counted each page (its text and an image of it): the charge is for all of it.
    assert reply.usage.prompt_tokens > 3 * TOKENS_PER_PDF_PAGE
    [row] = usage(headers["x-request-id"])
    assert (row.status, row.served_model, row.route_reason) == ("ok", "openai/gpt-4o-mini", reason)
    assert row.prompt_tokens == reply.usage.prompt_tokens and row.charged_nusd > 0


@pytest.mark.parametrize(
    "model, part, capability, provider",
    [
        ("deepseek/deepseek-chat", pdf_part(2), "pdf_input", "deepseek"),
        ("anthropic/claude-sonnet-4", audio_part(3), "audio_input", "anthropic"),
    ],
)
def test_a_pinned_model_that_cannot_take_it_is_refused_before_any_upstream_call(
    client, sim, usage, live_db, model, part, capability, provider
):
    before = sim.hits(provider)
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model=model, messages=asking(part))
    assert (e.value.status_code, e.value.type, e.value.code, e.value.param) == (
        400,
        "invalid_request_error",
        "no_capable_model",
        "model",
    )
    message = e.value.body["message"]
    assert message.startswith(f"The model '{model}' cannot serve this request: it does not accept") and (
        f"({capability})" in message
    )
    assert sim.hits(provider) == before
    request_id = e.value.response.headers["x-request-id"]
    [row] = usage(request_id)
    assert (row.status, row.http_status, row.error_type) == ("client_error", 400, "no_capable_model")
    assert row.served_model == "" and row.charged_nusd == 0 and row.prompt_tokens == 0
    with live_db.unblock():
        assert not LedgerEntry.objects.filter(request_id=request_id).exists()


def test_a_route_where_no_model_reads_pdfs_is_a_clear_400(client, sim):
    before = sim.stats()["total"]
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="auto-free", messages=asking(pdf_part(1)))
    assert e.value.code == "no_capable_model"
    assert e.value.body["message"] == (
        "No model of route 'auto-free' can serve this request: zhipu/glm-4-flash does not accept PDF documents "
        "(pdf_input); qwen/qwen-turbo does not accept PDF documents (pdf_input)."
    )
    assert sim.stats()["total"] == before


def test_gemini_takes_audio_and_counts_its_seconds(client, usage):
    text_only, _ = create(client, model="google/gemini-2.5-flash", messages=asking())
    reply, headers = create(client, model="google/gemini-2.5-flash", messages=asking(audio_part(5)))
    assert "I read 1 audio clip." in reply.choices[0].message.content
    assert reply.usage.prompt_tokens == text_only.usage.prompt_tokens + 5 * AUDIO_TOKENS_PER_SECOND
    [row] = usage(headers["x-request-id"])
    assert row.status == "ok" and row.prompt_tokens == reply.usage.prompt_tokens


def test_auto_sends_audio_to_gemini(client):
    reply, headers = create(client, model="auto", messages=asking(audio_part(2)))
    assert reply.model in ("google/gemini-2.5-flash", "google/gemini-2.5-pro")
    assert "audio: skipped" in headers["x-aipower-route-reason"]


def test_models_list_the_capabilities(client, gateway, tenant):
    def caps(name):
        r = httpx.get(gateway.url + f"/v1/models/{name}", headers={"authorization": f"Bearer {tenant.key}"})
        return r.json()["capabilities"]

    assert (caps("anthropic/claude-sonnet-4")["pdf_input"], caps("anthropic/claude-sonnet-4")["audio_input"]) == (
        True,
        False,
    )
    assert (caps("google/gemini-2.5-flash")["pdf_input"], caps("google/gemini-2.5-flash")["audio_input"]) == (
        True,
        True,
    )
    assert (caps("deepseek/deepseek-chat")["pdf_input"], caps("deepseek/deepseek-chat")["audio_input"]) == (
        False,
        False,
    )
    listed = {m.id: m.model_dump() for m in client.models.list().data}
    assert {m for m, e in listed.items() if e["capabilities"].get("pdf_input") and "/" in m} == PDF_READERS
    assert listed["auto"]["capabilities"]["pdf_input"] is True  # some model of the route reads PDFs
    assert listed["auto-free"]["capabilities"]["pdf_input"] is False


def test_explain_shows_which_models_cannot_take_the_pdf(gateway, tenant, sim):
    before = sim.stats()["total"]
    r = httpx.post(
        gateway.url + "/v1/route/explain",
        json={"model": "auto", "messages": asking(pdf_part(4))},
        headers={"authorization": f"Bearer {tenant.key}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    plan = r.json()
    skipped = {s["model"]: s["why"] for s in plan["skipped"]}
    assert skipped["deepseek/deepseek-chat"] == "does not accept PDF documents (pdf_input)"
    assert skipped["qwen/qwen-plus"] == "does not accept PDF documents (pdf_input)"
    assert {c["model"] for c in plan["candidates"]} <= PDF_READERS
    assert "PDF documents: skipped" in plan["reason"]
    assert plan["prompt_tokens_estimate"] >= 4_000  # about 1,000 a page
    assert sim.stats()["total"] == before


def test_the_data_migration_gives_an_existing_catalog_the_seeded_capabilities(live_db, db):
    migration = importlib.import_module("routing.migrations.0007_pdf_audio_input")
    CatalogModel.objects.update(supports_pdf_input=False, supports_audio_input=False)

    migration.seed_input_capabilities(apps, None)

    pdf = set(CatalogModel.objects.filter(supports_pdf_input=True).values_list("public_id", flat=True))
    audio = set(CatalogModel.objects.filter(supports_audio_input=True).values_list("public_id", flat=True))
    assert pdf == set(seed.PDF_INPUT) == PDF_READERS
    assert audio == set(seed.AUDIO_INPUT) == {"google/gemini-2.5-pro", "google/gemini-2.5-flash"}
