"""OpenAI-compatible vendors' differences are data on the provider or model (quirks)."""

from routing.adapters.base import Target
from routing.adapters.openai_compat import build_body, usage_from
from routing.catalog import ModelInfo, ProviderInfo

REQUEST = {
    "model": "auto",
    "messages": [{"role": "user", "content": "hi"}],
    "temperature": 0.3,
    "top_p": 0.9,
    "max_tokens": 50,
    "stream_options": {"include_usage": False},
    "models": ["x/y"],
}


def target(provider_quirks=None, model_quirks=None) -> Target:
    p = ProviderInfo(
        slug="v", name="V", wire_format="openai", base_url="http://v", credential_env="V", quirks=provider_quirks or {}
    )
    m = ModelInfo(
        id=1,
        public_id="v/m",
        upstream_id="m-2026",
        display_name="M",
        provider=p,
        input_price_usd_micro_per_mtok=1,
        output_price_usd_micro_per_mtok=1,
        cached_input_price_usd_micro_per_mtok=None,
        context_window=1000,
        max_output_tokens=100,
        quirks=model_quirks or {},
    )
    return Target(model=m, base_url="http://v", api_key="k")


def test_it_sends_the_upstream_id_and_keeps_gateway_fields_to_itself():
    body = build_body(REQUEST, target(), stream=False)
    assert body["model"] == "m-2026" and "models" not in body and "stream_options" not in body


def test_the_stop_sequence_ask_and_a_tools_cache_mark_are_not_sent():
    tool = {"type": "function", "function": {"name": "f"}}
    request = {**REQUEST, "stop": ["END"], "x_stop_sequence": True, "tools": [{**tool, "cache_control": {"a": 1}}]}
    body = build_body(request, target(), stream=False)
    assert "x_stop_sequence" not in body and body["stop"] == ["END"] and body["tools"] == [tool]
    assert "cache_control" in request["tools"][0]  # the caller's request is left as it was


def test_cache_marks_on_content_parts_reach_only_vendors_that_read_them():
    marked = {"type": "text", "text": "manual", "cache_control": {"type": "ephemeral"}}
    plain = {"type": "text", "text": "manual"}
    messages = [{"role": "system", "content": [marked]}, {"role": "user", "content": "hi"}]
    request = {**REQUEST, "messages": messages}
    body = build_body(request, target(), stream=False)
    assert body["messages"] == [{"role": "system", "content": [plain]}, {"role": "user", "content": "hi"}]
    assert request["messages"][0]["content"] == [marked]  # the caller's request is left as it was
    assert build_body(request, target({"cache_control_marks": True}), stream=False)["messages"] == messages
    assert build_body(REQUEST, target(), stream=False)["messages"] is REQUEST["messages"]  # nothing to strip: no copy


def test_a_one_hour_cache_mark_reaches_a_mark_reader_as_a_five_minute_one_without_a_one_hour_price():
    hour = {"type": "text", "text": "manual", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
    messages = [{"role": "system", "content": [hour]}, {"role": "assistant", "tool_calls": []}]
    request = {**REQUEST, "messages": messages}
    sent = build_body(request, target({"cache_control_marks": True}), stream=False)["messages"]
    assert sent == [
        {"role": "system", "content": [{"type": "text", "text": "manual", "cache_control": {"type": "ephemeral"}}]},
        {"role": "assistant", "tool_calls": []},  # no content added where there was none
    ]
    assert request["messages"][0]["content"] == [hour]  # the caller's request is left as it was


def test_streams_always_ask_for_usage_unless_the_vendor_rejects_stream_options():
    assert build_body(REQUEST, target(), stream=True)["stream_options"] == {"include_usage": True}
    body = build_body(REQUEST, target({"stream_options": False}), stream=True)
    assert body["stream"] is True and "stream_options" not in body


def test_parameters_a_model_rejects_are_dropped_and_the_models_quirks_win():
    body = build_body(REQUEST, target({"drop_params": ["top_p"]}, {"drop_params": ["temperature"]}), stream=False)
    assert "temperature" not in body and body["top_p"] == 0.9


def test_the_output_cap_is_renamed_for_vendors_that_want_max_completion_tokens():
    body = build_body(REQUEST, target({"max_tokens_param": "max_completion_tokens"}), stream=False)
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body


def test_cache_hits_reported_deepseek_style_are_read():
    u = usage_from({"prompt_tokens": 100, "completion_tokens": 5, "prompt_cache_hit_tokens": 60})
    assert (u.prompt_tokens, u.cached_tokens, u.completion_tokens) == (100, 60, 5)


def test_reasoning_reaches_the_caller_as_reasoning_content(client):
    # deepseek-reasoner's quirks drop the sampling parameters it rejects; its reasoning comes back in
    # the field OpenAI-compatible clients read.
    reply = client.chat.completions.create(
        model="deepseek/deepseek-reasoner", temperature=0.2, messages=[{"role": "user", "content": "think"}]
    )
    assert reply.model == "deepseek/deepseek-reasoner"
    assert reply.choices[0].message.reasoning_content
    assert reply.usage.completion_tokens_details.reasoning_tokens > 0
    chunks = list(
        client.chat.completions.create(
            model="deepseek/deepseek-reasoner", stream=True, messages=[{"role": "user", "content": "think"}]
        )
    )
    assert "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
