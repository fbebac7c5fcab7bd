"""/v1/responses through the openai SDK's client.responses, against a real gateway and the provider
simulator: every wire format, streaming, tools, structured output, stored conversations per
organization, and shapes checked against OpenAI's published schema."""

import json

import httpx
import openai
import pytest

from tests.schema import assert_valid

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


def test_stream_events_match_openais_schema(gateway, tenant):
    with httpx.stream(
        "POST",
        gateway.url + "/v1/responses",
        headers={"authorization": f"Bearer {tenant.key}"},
        json={"model": "openai/gpt-4o-mini", "input": "Hi", "stream": True},
        timeout=30,
    ) as r:
        body = r.read().decode()
    events = [json.loads(block.split("data: ", 1)[1]) for block in body.split("\n\n") if block.strip()]
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
