"""The simulator's pure parts: the token estimate, reply text, chunking, schema instances, fault specs."""

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.content import (
    Ask,
    build_reply,
    estimate_completion_tokens,
    estimate_prompt_tokens,
    estimate_text_tokens,
    filler_text,
    schema_instance,
    split_even,
    split_words,
)
from simulator.faults import Fault, FaultRegistry, FaultSpecError, header_fault, parse_fault, parse_header_rules


def test_the_estimate_is_about_four_characters_a_token():
    assert [estimate_text_tokens("x" * n) for n in (0, 1, 4, 5, 8, 9)] == [0, 1, 1, 2, 2, 3]
    assert estimate_prompt_tokens(chars=40, messages=2, images=1) == 10 + 2 * 4 + 85 + 3
    assert estimate_completion_tokens("abcd", "abcdefgh", [("fn", "{}")]) == 1 + 2 + 1 + 1


@given(st.text(min_size=0, max_size=80), st.integers(min_value=1, max_value=400), st.integers(min_value=0))
def test_filler_text_has_exactly_the_tokens_asked_for(intro, n, seed):
    text = filler_text(intro, n, seed)
    assert estimate_text_tokens(text) == n
    assert text.startswith(intro[: len(text)])


@given(st.text(min_size=1, max_size=200), st.integers(min_value=1, max_value=300))
def test_chunking_loses_nothing(text, n):
    pieces = split_even(text, n)
    assert "".join(pieces) == text and len(pieces) == min(n, len(text))
    assert "".join(split_words(text)) == text


def test_schema_instances_validate():
    schema = {
        "type": "object",
        "$defs": {"pt": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}},
        "properties": {
            "p": {"$ref": "#/$defs/pt"},
            "n": {"anyOf": [{"type": "null"}, {"type": "integer"}]},
            "c": {"const": "fixed"},
            "l": {"type": "array", "items": {"$ref": "#/$defs/pt"}},
        },
        "required": ["p", "n", "c", "l"],
    }
    value = schema_instance(schema)
    jsonschema.validate(value, schema)
    assert value["c"] == "fixed" and isinstance(value["n"], int)
    assert schema_instance(
        {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}, "required": ["b"]},
        all_properties=False,
    ) == {"b": "sample b"}


def test_a_reply_is_deterministic_and_tool_calls_win_over_text():
    ask = Ask(model="m", prompt_tokens=10, seed=42)
    assert build_reply(ask).text == build_reply(ask).text
    tools = [("f", {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]})]
    reply = build_reply(Ask(model="m", prompt_tokens=10, tools=tools))
    assert reply.finish == "tool_calls" and reply.tool_calls[0].input == {"q": "sample q"}
    reply = build_reply(Ask(model="m", prompt_tokens=10, tools=tools, tool_result="42"))
    assert reply.finish == "stop" and "42" in reply.text


@pytest.mark.parametrize(
    "spec, fault",
    [
        ("status:503", Fault("status", status=503, spec="status:503")),
        ("status:429:retry-after=5", Fault("status", status=429, retry_after="5", spec="status:429:retry-after=5")),
        ("status:400:context", Fault("status", status=400, context=True, spec="status:400:context")),
        ("hang", Fault("hang", spec="hang")),
        ("drop", Fault("drop", spec="drop")),
        ("drop-mid-stream:3", Fault("drop-mid-stream", n=3, spec="drop-mid-stream:3")),
        ("error-event:0", Fault("error-event", n=0, spec="error-event:0")),
        ("slow-first-byte:250", Fault("slow-first-byte", n=250, spec="slow-first-byte:250")),
    ],
)
def test_fault_specs_parse(spec, fault):
    assert parse_fault(spec) == fault


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "status",
        "status:abc",
        "status:99",
        "status:200",
        "status:429:later",
        "hang:1",
        "drop-mid-stream:-1",
        "error-event:x",
        "boom",
    ],
)
def test_bad_fault_specs_are_refused(spec):
    with pytest.raises(FaultSpecError):
        parse_fault(spec)


def test_header_rules_split_targets_from_specs():
    rules = parse_header_rules("status:429:retry-after=3; deepseek=hang ;qwen-plus=status:429:retry-after=9")
    assert [(t, f.spec) for t, f in rules] == [
        ("*", "status:429:retry-after=3"),
        ("deepseek", "hang"),
        ("qwen-plus", "status:429:retry-after=9"),
    ]
    header = "deepseek=status:503;qwen-plus=hang"
    assert header_fault(header, "deepseek", "deepseek-chat").status == 503
    assert header_fault(header, "qwen", "qwen-plus").kind == "hang"
    assert header_fault(header, "qwen", "qwen-max") is None
    with pytest.raises(FaultSpecError):
        parse_header_rules("deepseek=nonsense")


def test_registry_rules_count_down_and_can_be_probabilistic():
    registry = FaultRegistry()
    registry.add("m", "drop", count=1)
    assert registry.take("p", "other") is None
    assert registry.take("p", "m").kind == "drop"
    assert registry.take("p", "m") is None and registry.rules == []
    registry.add("*", "hang", probability=0.5)
    hits = sum(registry.take("p", "m") is not None for _ in range(400))
    assert 120 < hits < 280
