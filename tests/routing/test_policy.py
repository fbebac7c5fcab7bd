"""The routing policy is a pure function: no database, no servers."""

import pytest

from routing.catalog import ModelInfo, ProviderInfo, RouteInfo, Snapshot
from routing.credit import prompt_bound
from routing.errors import GatewayError
from routing.policy import plan
from routing.request import TOKENS_PER_PAGE, validate
from tests.media import audio_part, pdf_part

P = ProviderInfo(slug="p", name="P", wire_format="openai", base_url="http://x", credential_env="P_KEY")


def model(public_id, *, ctx=100_000, out=8_000, tools=True, vision=False, json_mode=True, pdf=False, audio=False):
    return ModelInfo(
        id=hash(public_id),
        public_id=public_id,
        upstream_id=public_id.split("/")[1],
        display_name=public_id,
        provider=P,
        input_price_usd_micro_per_mtok=1,
        output_price_usd_micro_per_mtok=1,
        cached_input_price_usd_micro_per_mtok=None,
        context_window=ctx,
        max_output_tokens=out,
        supports_tools=tools,
        supports_vision=vision,
        supports_json_mode=json_mode,
        supports_pdf_input=pdf,
        supports_audio_input=audio,
    )


SMALL = model("p/small", ctx=1_000, out=500, tools=False)
BIG = model("p/big", ctx=200_000, out=16_000, vision=True)
PLAIN = model("p/plain", json_mode=False)
SNAP = Snapshot(
    models={m.public_id: m for m in (SMALL, BIG, PLAIN)},
    by_upstream_id={"small": SMALL, "big": BIG, "plain": PLAIN},
    routes={"auto-x": RouteInfo(name="auto-x", goal="", description="", targets=(SMALL, BIG))},
)


def features(**body):
    body.setdefault("model", "auto-x")
    body.setdefault("messages", [{"role": "user", "content": "hello"}])
    return validate(body)


def test_it_keeps_route_order_when_every_target_fits():
    p = plan("auto-x", features(), SNAP)
    assert p.route == "auto-x"
    assert [m.public_id for m in p.candidates] == ["p/small", "p/big"]


def test_it_skips_targets_whose_context_window_is_too_small():
    long_prompt = "word " * 2_000  # ~2,500 tokens by the estimate
    p = plan("auto-x", features(messages=[{"role": "user", "content": long_prompt}]), SNAP)
    assert [m.public_id for m in p.candidates] == ["p/big"]


def test_it_counts_max_tokens_against_the_window():
    p = plan("auto-x", features(max_tokens=990), SNAP)
    assert [m.public_id for m in p.candidates] == ["p/big"]


def test_it_skips_targets_without_tools_or_vision():
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    assert [m.public_id for m in plan("auto-x", features(tools=tools), SNAP).candidates] == ["p/big"]
    image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]
    assert [m.public_id for m in plan("auto-x", features(messages=image), SNAP).candidates] == ["p/big"]


def test_tool_choice_none_does_not_need_tool_support():
    tools = [{"type": "function", "function": {"name": "f"}}]
    p = plan("auto-x", features(tools=tools, tool_choice="none"), SNAP)
    assert [m.public_id for m in p.candidates] == ["p/small", "p/big"]


def test_it_says_why_when_no_target_can_serve():
    snap = Snapshot(
        models=SNAP.models,
        by_upstream_id={},
        routes={"auto-y": RouteInfo(name="auto-y", goal="", description="", targets=(SMALL, PLAIN))},
    )
    with pytest.raises(GatewayError) as exc:
        plan(
            "auto-y",
            features(
                model="auto-y",
                response_format={"type": "json_object"},
                tools=[{"type": "function", "function": {"name": "f"}}],
            ),
            snap,
        )
    assert exc.value.status == 400
    assert exc.value.code == "no_capable_model"
    assert "p/small does not support tools" in exc.value.message
    assert "p/plain does not support JSON mode" in exc.value.message


def test_a_pinned_model_bypasses_routing():
    p = plan("p/big", features(), SNAP)
    assert p.route is None and [m.public_id for m in p.candidates] == ["p/big"]


def test_a_bare_upstream_id_resolves_when_unambiguous():
    assert plan("big", features(), SNAP).candidates == (BIG,)
    ambiguous = Snapshot(models=SNAP.models, by_upstream_id={}, routes={})
    with pytest.raises(GatewayError) as exc:
        plan("big", features(), ambiguous)
    assert exc.value.status == 404 and exc.value.code == "model_not_found"


def test_an_unknown_model_is_404():
    with pytest.raises(GatewayError) as exc:
        plan("nope/nothing", features(), SNAP)
    assert (exc.value.status, exc.value.code, exc.value.param) == (404, "model_not_found", "model")


CHAINED = Snapshot(
    models=SNAP.models, by_upstream_id=SNAP.by_upstream_id, routes=SNAP.routes, fallbacks={"p": (PLAIN, BIG)}
)


def test_a_pinned_model_falls_back_through_its_family_chain():
    assert [m.public_id for m in plan("p/small", features(model="p/small"), CHAINED).candidates] == [
        "p/small",
        "p/plain",
        "p/big",
    ]


def test_fallbacks_never_pick_a_model_that_cannot_serve():
    rf = {"type": "json_object"}
    p = plan("p/small", features(model="p/small", response_format=rf), CHAINED)
    assert [m.public_id for m in p.candidates] == ["p/small", "p/big"]


def test_a_pinned_model_that_cannot_serve_is_refused_not_replaced():
    with pytest.raises(GatewayError) as exc:
        plan("p/plain", features(model="p/plain", response_format={"type": "json_object"}), CHAINED)
    assert exc.value.code == "no_capable_model" and "JSON mode" in exc.value.message


def test_fallback_off_keeps_only_the_first_choice():
    assert [m.public_id for m in plan("p/small", features(model="p/small"), CHAINED, fallback=False).candidates] == [
        "p/small"
    ]


def test_the_callers_own_list_replaces_the_chains():
    p = plan("p/small", features(model="p/small"), CHAINED, extra_models=["p/big"])
    assert [m.public_id for m in p.candidates] == ["p/small", "p/big"]
    with pytest.raises(GatewayError) as exc:
        plan("p/small", features(model="p/small"), CHAINED, extra_models=["p/nothing"])
    assert exc.value.code == "model_not_found"


READER = model("p/reader", ctx=200_000, out=16_000, vision=True, pdf=True)
LISTENER = model("p/listener", ctx=1_000_000, out=16_000, vision=True, pdf=True, audio=True)
MEDIA = Snapshot(
    models={m.public_id: m for m in (SMALL, PLAIN, READER, LISTENER)},
    by_upstream_id={},
    routes={
        "auto-m": RouteInfo(name="auto-m", goal="", description="", targets=(PLAIN, READER, LISTENER)),
        "auto-text": RouteInfo(name="auto-text", goal="", description="", targets=(SMALL, PLAIN)),
    },
)


def asking(*parts, model="auto-m"):
    return features(model=model, messages=[{"role": "user", "content": [{"type": "text", "text": "Sum up."}, *parts]}])


def test_a_pdf_goes_only_to_models_that_read_pdfs_and_the_reason_says_so():
    f = asking(pdf_part(3))
    assert f.documents and not f.audio and not f.vision
    p = plan("auto-m", f, MEDIA)
    assert [m.public_id for m in p.candidates] == ["p/reader", "p/listener"]
    assert p.skipped == (("p/plain", "does not accept PDF documents (pdf_input)"),)
    assert p.reason.endswith("; PDF documents: skipped p/plain, which cannot take them")


def test_audio_goes_only_to_models_that_take_audio():
    p = plan("auto-m", asking(audio_part(2)), MEDIA)
    assert [m.public_id for m in p.candidates] == ["p/listener"]
    assert dict(p.skipped) == {
        "p/plain": "does not accept audio input (audio_input)",
        "p/reader": "does not accept audio input (audio_input)",
    }
    both = plan("auto-m", asking(pdf_part(1), audio_part(2)), MEDIA)
    assert [m.public_id for m in both.candidates] == ["p/listener"]
    assert "PDF documents and audio: skipped p/plain, p/reader" in both.reason


def test_a_pinned_model_that_cannot_take_the_input_is_refused_naming_the_capability():
    for part, capability, pinned in ((pdf_part(1), "pdf_input", "p/plain"), (audio_part(1), "audio_input", "p/reader")):
        with pytest.raises(GatewayError) as exc:
            plan(pinned, asking(part, model=pinned), MEDIA)
        assert (exc.value.status, exc.value.code, exc.value.param) == (400, "no_capable_model", "model")
        assert exc.value.message.startswith(f"The model '{pinned}' cannot serve this request: it does not accept")
        assert f"({capability})" in exc.value.message
    assert plan("p/reader", asking(pdf_part(1), model="p/reader"), MEDIA).candidates == (READER,)


def test_a_route_where_no_model_reads_pdfs_says_why():
    with pytest.raises(GatewayError) as exc:
        plan("auto-text", asking(pdf_part(1), model="auto-text"), MEDIA)
    assert exc.value.status == 400 and exc.value.code == "no_capable_model"
    assert exc.value.message == (
        "No model of route 'auto-text' can serve this request: p/small does not accept PDF documents (pdf_input); "
        "p/plain does not accept PDF documents (pdf_input)."
    )


def test_fallbacks_that_cannot_read_the_pdf_are_left_out():
    snap = Snapshot(
        models=MEDIA.models,
        by_upstream_id={},
        routes={},
        fallbacks={"p": (PLAIN, LISTENER)},
    )
    p = plan("p/reader", asking(pdf_part(1), model="p/reader"), snap)
    assert [m.public_id for m in p.candidates] == ["p/reader", "p/listener"]
    assert ("p/plain", "does not accept PDF documents (pdf_input)") in p.skipped


def test_the_estimate_counts_pdf_pages_and_audio_seconds_and_the_hold_takes_the_context_window():
    text_only = asking()
    assert not text_only.unbounded and prompt_bound(text_only, READER) == text_only.prompt_tokens_bound
    five = asking(pdf_part(5))
    assert five.prompt_tokens == text_only.prompt_tokens + 5 * TOKENS_PER_PAGE
    # 16 kHz 16-bit mono: 32,000 bytes, 32 tokens, a second (and one for the header's rounding).
    ten_seconds = asking(audio_part(10))
    assert ten_seconds.prompt_tokens - text_only.prompt_tokens in (320, 321)
    # What the upstream counts for a document is not bounded by the request's bytes: the hold takes the window.
    for f in (five, ten_seconds):
        assert prompt_bound(f, READER) == 200_000 and prompt_bound(f, LISTENER) == 1_000_000
    # A file by id is estimated as a page; its size is the upstream's to know.
    by_id = asking({"type": "file", "file": {"file_id": "file-abc123"}})
    assert by_id.documents and by_id.prompt_tokens == text_only.prompt_tokens + TOKENS_PER_PAGE


def test_a_pdf_whose_pages_cannot_be_counted_is_estimated_by_its_size():
    import base64

    blob = base64.b64encode(b"%PDF-1.7 " + bytes(100_000)).decode()  # page objects in compressed streams
    f = asking({"type": "file", "file": {"file_data": f"data:application/pdf;base64,{blob}"}})
    assert f.prompt_tokens - asking().prompt_tokens == 5 * TOKENS_PER_PAGE  # 1 + 100,009 // 25,000 pages


@pytest.mark.parametrize(
    "part, param",
    [
        ({"type": "file"}, "messages[0].content[1].file"),
        ({"type": "file", "file": {"filename": "a.pdf"}}, "messages[0].content[1].file"),
        ({"type": "input_audio", "input_audio": {"format": "wav"}}, "messages[0].content[1].input_audio.data"),
        ({"type": "input_audio"}, "messages[0].content[1].input_audio.data"),
    ],
)
def test_a_malformed_file_or_audio_part_is_a_400_naming_it(part, param):
    with pytest.raises(GatewayError) as exc:
        asking(part)
    assert exc.value.status == 400 and exc.value.param == param
