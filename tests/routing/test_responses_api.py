"""/v1/responses through the openai SDK's client.responses, against a real gateway and the provider
simulator: every wire format, streaming, tools, structured output, stored conversations per
organization, and shapes checked against OpenAI's published schema."""

import json

import httpx
import openai
import pytest

from tests.conftest import make_tenant
from tests.schema import SPEC_PATH, assert_valid

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}
LOGPROBS = "message.output_text.logprobs"


def test_it_answers_a_string_input_on_a_route_and_records_it(client, usage):
    raw = client.responses.with_raw_response.create(
        model="auto", input="Say hello.", instructions="Be brief.", max_output_tokens=200
    )
    resp = raw.parse()
    assert resp.status == "completed" and resp.model == "deepseek/deepseek-chat"
    assert resp.output_text and resp.output[0].type == "message"
    assert resp.usage.input_tokens > 0 and resp.usage.output_tokens > 0
    assert_valid(raw.http_response.json(), "Response")
    [row] = usage(raw.headers["x-request-id"])
    assert row.route == "auto" and row.prompt_tokens == resp.usage.input_tokens
    assert row.completion_tokens == resp.usage.output_tokens and row.charged_nusd > 0


@pytest.mark.parametrize("model", ["anthropic/claude-haiku-4.5", "google/gemini-2.5-flash", "qwen/qwen-plus"])
def test_every_wire_format_serves_it_streamed_and_not(client, model):
    items = [{"role": "user", "content": [{"type": "input_text", "text": "Tell me a fact."}]}]
    resp = client.responses.create(model=model, input=items)
    assert resp.model == model and resp.output_text

    events = list(client.responses.create(model=model, input="Tell me a fact.", stream=True))
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    final = events[-1].response
    assert text and final.output_text == text and final.usage.output_tokens > 0 and final.model == model


@pytest.mark.parametrize(
    "fields",
    [{}, {"include": [LOGPROBS], "top_logprobs": 1, "service_tier": "flex", "truncation": "auto"}],
    ids=["plain", "fields"],
)
def test_stream_events_match_openais_schema(gateway, tenant, fields):
    request = {"model": "openai/gpt-4o-mini", "input": "Hi", "stream": True, **fields}
    assert_valid(request, "CreateResponse")
    with httpx.stream(
        "POST",
        gateway.url + "/v1/responses",
        headers={"authorization": f"Bearer {tenant.key}"},
        json=request,
        timeout=30,
    ) as r:
        body = r.read().decode()
    events = [json.loads(block.split("data: ", 1)[1]) for block in body.split("\n\n") if block.strip()]
    deltas = [e for e in events if e["type"] == "response.output_text.delta"]
    assert deltas and all(bool(e["logprobs"]) == bool(fields) for e in deltas)
    names = {
        "response.created": "ResponseCreatedEvent",
        "response.in_progress": "ResponseInProgressEvent",
        "response.output_item.added": "ResponseOutputItemAddedEvent",
        "response.content_part.added": "ResponseContentPartAddedEvent",
        "response.output_text.delta": "ResponseTextDeltaEvent",
        "response.output_text.done": "ResponseTextDoneEvent",
        "response.content_part.done": "ResponseContentPartDoneEvent",
        "response.output_item.done": "ResponseOutputItemDoneEvent",
        "response.completed": "ResponseCompletedEvent",
    }
    for event in events:
        assert_valid(event, names[event["type"]])


@pytest.mark.parametrize("model", ["anthropic/claude-sonnet-4", "openai/gpt-4o-mini", "google/gemini-2.5-pro"])
def test_function_tools_round_trip(client, model):
    first = client.responses.create(model=model, input="Weather in Paris?", tools=[WEATHER], tool_choice="required")
    [call] = [o for o in first.output if o.type == "function_call"]
    assert call.name == "get_weather" and "city" in json.loads(call.arguments)
    second = client.responses.create(
        model=model,
        tools=[WEATHER],
        input=[
            {"role": "user", "content": "Weather in Paris?"},
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "18C and sunny"},
        ],
        store=False,
    )
    assert second.output_text and second.output[-1].type == "message"

    events = list(
        client.responses.create(
            model=model,
            input="Weather in Oslo?",
            tools=[WEATHER],
            tool_choice={"type": "function", "name": "get_weather"},
            stream=True,
        )
    )
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert len(done) == 1 and "city" in json.loads(done[0].arguments)
    assert events[-1].response.output[-1].type == "function_call"


def test_json_schema_output(client):
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    for model in ("anthropic/claude-sonnet-4", "deepseek/deepseek-chat"):
        resp = client.responses.create(
            model=model,
            input="A person, please.",
            text={"format": {"type": "json_schema", "name": "person", "schema": schema, "strict": True}},
        )
        person = json.loads(resp.output_text)
        assert isinstance(person["name"], str) and isinstance(person["age"], int)


def test_previous_response_id_continues_a_stored_conversation(client, gateway, tenant, other_tenant):
    first = client.responses.create(model="auto", input="My name is Ada.")
    assert first.store is True
    follow = client.responses.create(model="auto", input="What is my name?", previous_response_id=first.id)
    assert follow.previous_response_id == first.id and follow.output_text
    third = client.responses.create(
        model="anthropic/claude-haiku-4.5", input="And again?", previous_response_id=follow.id, stream=False
    )
    assert third.output_text
    got = client.responses.retrieve(first.id)
    assert got.id == first.id and got.output_text == first.output_text
    assert_valid(
        httpx.get(gateway.url + f"/v1/responses/{first.id}", headers={"authorization": f"Bearer {tenant.key}"}).json(),
        "Response",
    )

    # Another organization sees none of it: not by GET, not by DELETE, not as previous_response_id.
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=other_tenant.key, max_retries=0) as other:
        with pytest.raises(openai.NotFoundError):
            other.responses.retrieve(first.id)
        with pytest.raises(openai.NotFoundError):
            other.responses.delete(first.id)
        with pytest.raises(openai.NotFoundError) as exc:
            other.responses.create(model="auto", input="Hi", previous_response_id=first.id)
        assert exc.value.body["param"] == "previous_response_id"
    assert client.responses.retrieve(first.id).id == first.id

    client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)


def test_a_streamed_response_is_stored_and_store_false_is_not(client):
    events = list(client.responses.create(model="auto", input="Hello", stream=True))
    final = events[-1].response
    assert client.responses.retrieve(final.id).output_text == final.output_text
    unstored = client.responses.create(model="auto", input="Hello", store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(unstored.id)


def test_expired_responses_are_gone(own_gateways, tenant):
    gw = own_gateways(AIPOWER_RESPONSES_TTL_SECONDS=0)
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=tenant.key, max_retries=0) as c:
        resp = c.responses.create(model="auto", input="Hello")
        with pytest.raises(openai.NotFoundError):
            c.responses.retrieve(resp.id)
        with pytest.raises(openai.NotFoundError):
            c.responses.create(model="auto", input="Again", previous_response_id=resp.id)


@pytest.mark.parametrize(
    "tool",
    [
        {"type": "web_search"},
        {"type": "file_search", "vector_store_ids": ["vs_1"]},
        {"type": "computer_use_preview", "display_width": 800, "display_height": 600, "environment": "browser"},
    ],
)
def test_built_in_tools_are_refused_by_name(client, tool):
    with pytest.raises(openai.BadRequestError) as exc:
        client.responses.create(model="auto", input="Search the web", tools=[tool])
    assert tool["type"] in exc.value.body["message"] and exc.value.body["param"] == "tools[0].type"


def test_it_fails_over_and_refuses_what_it_cannot_honour(client, sim):
    sim.fault("deepseek", "status:503", count=1)
    raw = client.responses.with_raw_response.create(model="auto", input="Hello", store=False)
    assert raw.parse().model == "qwen/qwen-plus" and raw.headers["x-aipower-fallback-from"] == "deepseek/deepseek-chat"
    with pytest.raises(openai.BadRequestError) as exc:
        client.responses.create(model="auto", input="Hello", extra_body={"frequency_penalty_x": 1})
    assert exc.value.body["param"] == "frequency_penalty_x"
    with (
        pytest.raises(openai.AuthenticationError),
        openai.OpenAI(base_url=client.base_url, api_key="sk-aip-bad", max_retries=0) as bad,
    ):
        bad.responses.create(model="auto", input="Hello")


def test_the_purge_task_deletes_only_expired_responses(live_db, tenant):
    from datetime import timedelta

    from django.utils import timezone

    from routing.models import StoredResponse
    from routing.tasks import purge_expired_responses

    now = timezone.now()
    with live_db.unblock():
        for rid, expires in (("resp_old_x", now - timedelta(seconds=1)), ("resp_new_x", now + timedelta(hours=1))):
            StoredResponse.objects.create(
                response_id=rid,
                organization=tenant.organization,
                created_at=now,
                expires_at=expires,
                response={},
                messages=[],
            )
        assert purge_expired_responses() >= 1
        left = set(
            StoredResponse.objects.filter(response_id__in=["resp_old_x", "resp_new_x"]).values_list(
                "response_id", flat=True
            )
        )
    assert left == {"resp_new_x"}


# --- include, truncation, service_tier --------------------------------------------------------


def spec_enum(name: str) -> list[str]:
    """The values OpenAI's published schema lists for one of its string enums."""
    schema = json.loads(SPEC_PATH.read_text())["components"]["schemas"][name]
    return next(s for s in schema.get("anyOf", [schema]) if "enum" in s)["enum"]


def nothing_recorded(live_db, tenant):
    """The organization was neither charged nor given a usage row (its only ledger entry is its grant)."""
    from analytics.models import UsageRecord
    from billing.models import LedgerEntry

    with live_db.unblock():
        return (
            LedgerEntry.objects.filter(organization=tenant.organization).count() == 1
            and not UsageRecord.objects.filter(organization=tenant.organization).exists()
        )


def test_include_logprobs_gives_each_output_tokens_logprob(client, gateway, tenant):
    request = {"model": "openai/gpt-4o-mini", "input": "Hello", "include": [LOGPROBS], "top_logprobs": 2}
    assert_valid(request, "CreateResponse")
    raw = client.responses.with_raw_response.create(**request)
    resp = raw.parse()
    assert_valid(raw.http_response.json(), "Response")
    part = resp.output[-1].content[0]
    assert part.logprobs and "".join(t.token for t in part.logprobs) == part.text == resp.output_text
    assert all(t.logprob <= 0 and len(t.top_logprobs) == 2 and t.bytes == list(t.token.encode()) for t in part.logprobs)
    assert resp.top_logprobs == 2
    # Without the include value nothing is asked for, and nothing is returned.
    plain = client.responses.create(model="openai/gpt-4o-mini", input="Hello")
    assert plain.output[-1].content[0].logprobs == [] and plain.top_logprobs == 0

    events = list(
        client.responses.create(model="deepseek/deepseek-chat", input="Hello", include=[LOGPROBS], stream=True)
    )
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert all(e.logprobs for e in deltas)
    streamed = [t for e in deltas for t in e.logprobs]
    [done] = [e for e in events if e.type == "response.output_text.done"]
    assert [t.token for t in done.logprobs] == [t.token for t in streamed]
    assert "".join(t.token for t in streamed) == done.text
    final = events[-1].response.output[-1].content[0]
    assert [t.logprob for t in final.logprobs] == [t.logprob for t in streamed]


def test_a_route_moves_past_models_without_logprobs_and_a_pinned_one_says_which_value(client, usage):
    resp = client.responses.create(model="auto-code", input="Hello", include=[LOGPROBS])
    assert resp.model == "openai/gpt-5.4" and resp.output[-1].content[0].logprobs
    for model in ("anthropic/claude-sonnet-4", "google/gemini-2.5-flash"):
        with pytest.raises(openai.BadRequestError) as exc:
            client.responses.create(model=model, input="Hello", include=[LOGPROBS])
        assert exc.value.body["param"] == "include" and LOGPROBS in exc.value.body["message"]
        [row] = usage(exc.value.response.headers["x-request-id"])
        assert row.status == "client_error" and row.charged_nusd == 0


@pytest.mark.parametrize("value", spec_enum("IncludeEnum") + ["message.output_text.everything"])
def test_every_include_value_is_honoured_or_refused_by_name(gateway, live_db, sim, value):
    tenant = make_tenant(live_db)
    before = sim.stats()["total"]
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=tenant.key, max_retries=0) as c:
        if value in (LOGPROBS, "message.input_image.image_url"):
            resp = c.responses.create(model="openai/gpt-4o-mini", input="Hello", include=[value])
            assert resp.output_text and bool(resp.output[-1].content[0].logprobs) == (value == LOGPROBS)
            return
        for stream in (False, True):
            with pytest.raises(openai.BadRequestError) as exc:
                c.responses.create(model="auto", input="Hello", include=[LOGPROBS, value], stream=stream)
            body = exc.value.body
            assert (
                body["param"] == "include[1]" and value in body["message"] and body["type"] == "invalid_request_error"
            )
            assert body["code"] == ("invalid_value" if value.endswith("everything") else "unsupported_value")
    assert sim.stats()["total"] == before and nothing_recorded(live_db, tenant)


def test_top_logprobs_is_checked(client):
    for extra in ({"top_logprobs": 21, "include": [LOGPROBS]}, {"top_logprobs": 3}):
        with pytest.raises(openai.BadRequestError) as exc:
            client.responses.create(model="openai/gpt-4o-mini", input="Hello", **extra)
        assert exc.value.body["param"] == "top_logprobs"


@pytest.mark.parametrize("tier", spec_enum("ServiceTierResponses"))
def test_every_service_tier_is_accepted_and_the_tier_served_is_echoed(client, tier):
    for model in ("openai/gpt-4o-mini", "anthropic/claude-haiku-4.5"):
        resp = client.responses.create(model=model, input="Hello", service_tier=tier, store=False)
        assert resp.service_tier == "default" and resp.output_text
    events = list(client.responses.create(model="auto", input="Hello", service_tier=tier, stream=True, store=False))
    responses = [e.response for e in events if hasattr(e, "response")]
    assert len(responses) == 3 and {r.service_tier for r in responses} == {"default"}


def test_service_tier_is_checked_and_never_sent_upstream(client):
    from routing.dialects.responses import to_chat

    with pytest.raises(openai.BadRequestError) as exc:
        client.responses.create(model="auto", input="Hello", extra_body={"service_tier": "turbo"})
    assert exc.value.body["param"] == "service_tier"
    chat, _ = to_chat({"model": "auto", "input": "Hi", "service_tier": "priority", "truncation": "auto"}, [])
    assert not {"service_tier", "truncation", "include"} & chat.keys()


# alibaba/qwen-max has a 32,768-token window (the gateway estimates 4 characters a token).
LONG = "lorem ipsum " * 12_000  # ~36k tokens


def test_an_input_too_long_for_the_pinned_model_is_openais_400_and_changes_nothing(gateway, live_db, sim):
    tenant = make_tenant(live_db)
    items = [
        {"role": "user", "content": LONG},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": "Summarize it."},
    ]
    before = sim.stats()["total"]
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=tenant.key, max_retries=0) as c:
        for extra in ({}, {"truncation": "disabled"}, {"stream": True}):
            with pytest.raises(openai.BadRequestError) as exc:
                c.responses.create(model="alibaba/qwen-max", input=items, **extra)
            assert exc.value.body == {
                "message": "Your input exceeds the context window of this model. "
                "Please adjust your input and try again.",
                "type": "invalid_request_error",
                "param": "input",
                "code": "context_length_exceeded",
            }
        # Even "auto" cannot drop the last turn: one item too long is the same 400.
        with pytest.raises(openai.BadRequestError) as exc:
            c.responses.create(model="alibaba/qwen-max", input=LONG, truncation="auto")
        assert exc.value.body["code"] == "context_length_exceeded"
    assert sim.stats()["total"] == before and nothing_recorded(live_db, tenant)


def test_truncation_auto_drops_the_oldest_items_and_keeps_the_instructions(client, usage):
    instructions = "Answer in one line. " * 100  # ~500 tokens, always kept
    items = [
        {"role": "user", "content": LONG},
        {"role": "assistant", "content": "Noted."},
        {"role": "developer", "content": "Be polite."},
        {"role": "user", "content": "Summarize it."},
    ]
    request = {"model": "alibaba/qwen-max", "input": items, "instructions": instructions, "truncation": "auto"}
    assert_valid(request, "CreateResponse")
    raw = client.responses.with_raw_response.create(**request)
    resp = raw.parse()
    assert resp.truncation == "auto" and resp.output_text and resp.model == "alibaba/qwen-max"
    assert raw.headers["x-aipower-truncated-messages"] == "1"  # the long item only: the rest fits
    assert 500 < resp.usage.input_tokens < 1_000  # the instructions and the last turn, not the long item
    assert_valid(raw.http_response.json(), "Response")
    [row] = usage(raw.headers["x-request-id"])
    assert row.prompt_tokens == resp.usage.input_tokens and row.charged_nusd > 0

    events = list(client.responses.create(**request, stream=True))
    assert events[-1].type == "response.completed" and events[-1].response.truncation == "auto"
    assert events[0].response.truncation == "auto" and events[-1].response.usage.input_tokens < 1_000

    # A short input is never truncated, and the setting is echoed either way.
    short = client.responses.with_raw_response.create(model="alibaba/qwen-max", input="Hi", truncation="auto")
    assert short.parse().truncation == "auto" and "x-aipower-truncated-messages" not in short.headers
    assert client.responses.create(model="alibaba/qwen-max", input="Hi").truncation == "disabled"


def test_truncation_never_leaves_a_tool_result_without_its_call(client):
    call = {
        "type": "function_call",
        "call_id": "call_1",
        "name": "get_weather",
        "arguments": json.dumps({"city": LONG}),
    }
    items = [
        call,
        {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
        {"role": "user", "content": "Thanks. And tomorrow?"},
    ]
    raw = client.responses.with_raw_response.create(
        model="alibaba/qwen-max", input=items, tools=[WEATHER], truncation="auto"
    )
    # Dropping only the call would fit, but would send its result alone: both go.
    assert raw.headers["x-aipower-truncated-messages"] == "2" and raw.parse().usage.input_tokens < 200


def test_a_route_serves_a_long_input_on_a_larger_window_and_truncates_only_past_the_largest(client, gateway, live_db):
    huge = "lorem ipsum " * 100_000  # ~300k tokens: past every economy model of `auto`, not its largest
    raw = client.responses.with_raw_response.create(model="auto", input=huge, max_output_tokens=16)
    resp = raw.parse()
    assert resp.model in ("google/gemini-2.5-flash", "openai/gpt-5.4", "google/gemini-2.5-pro")
    assert resp.truncation == "disabled" and resp.usage.input_tokens > 250_000
    assert "x-aipower-truncated-messages" not in raw.headers

    # auto-free's largest window is qwen-turbo's 1,000,000 tokens.
    tenant = make_tenant(live_db)
    items = [
        {"role": "user", "content": "x" * 4_010_000},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": "Summarize it."},
    ]
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=tenant.key, max_retries=0, timeout=60) as c:
        with pytest.raises(openai.BadRequestError) as exc:
            c.responses.create(model="auto-free", input=items)
        assert exc.value.body["code"] == "context_length_exceeded" and exc.value.body["param"] == "input"
        assert nothing_recorded(live_db, tenant)
        cut = c.responses.with_raw_response.create(model="auto-free", input=items, truncation="auto")
    assert cut.headers["x-aipower-truncated-messages"] == "1" and cut.parse().usage.input_tokens < 100


def test_an_upstream_context_error_is_openais_responses_error(client, usage):
    # The estimate says it fits; the upstream says otherwise, and no larger window is left.
    with pytest.raises(openai.BadRequestError) as exc:
        client.responses.create(
            model="openai/gpt-5.4",
            input="Hello",
            extra_headers={"x-sim-fault": "openai=status:400:context", "x-aipower-fallback": "off"},
        )
    assert exc.value.body["code"] == "context_length_exceeded" and exc.value.body["param"] == "input"
    [row] = usage(exc.value.response.headers["x-request-id"])
    assert row.charged_nusd == 0
