"""/v1/embeddings through the openai SDK's client.embeddings, against a real gateway and the
provider simulator: every embedding model of the catalog, inputs of every shape, dimensions,
base64, batch limits, billing, and failover only to models of the same output dimension."""

import base64
import math
import struct

import httpx
import openai
import pytest

from tests.schema import assert_valid


@pytest.mark.parametrize(
    "model, dims",
    [
        ("openai/text-embedding-3-small", 1536),
        ("openai/text-embedding-3-large", 3072),
        ("google/gemini-embedding-001", 3072),
        ("qwen/text-embedding-v3", 1024),
    ],
)
def test_every_embedding_model_serves_and_is_billed(client, gateway, tenant, usage, model, dims):
    raw = client.embeddings.with_raw_response.create(model=model, input=["first text", "second, longer text"])
    resp = raw.parse()
    assert resp.model == model and [d.index for d in resp.data] == [0, 1]
    for d in resp.data:
        assert len(d.embedding) == dims and math.isclose(sum(v * v for v in d.embedding), 1.0, rel_tol=1e-3)
    assert resp.data[0].embedding != resp.data[1].embedding
    assert resp.usage.prompt_tokens > 0
    [row] = usage(raw.headers["x-request-id"])
    assert row.served_model == model and row.status == "ok" and row.prompt_tokens == resp.usage.prompt_tokens
    assert row.completion_tokens == 0 and row.charged_nusd > row.upstream_cost_nusd > 0
    listed = httpx.get(gateway.url + f"/v1/models/{model}", headers={"authorization": f"Bearer {tenant.key}"}).json()
    assert listed["capabilities"] == {"embeddings": True} and listed["dimensions"] == dims


def test_the_response_matches_openais_schema_and_inputs_of_every_shape(client, gateway, tenant):
    body = httpx.post(
        gateway.url + "/v1/embeddings",
        headers={"authorization": f"Bearer {tenant.key}"},
        json={"model": "openai/text-embedding-3-small", "input": "hello"},
    ).json()
    assert_valid(body, "CreateEmbeddingResponse")
    one = client.embeddings.create(model="text-embedding-3-small", input="hello")
    # Deterministic, and a bare id is accepted (the SDK fetches base64: float32 precision).
    assert all(
        math.isclose(a, b, abs_tol=1e-6)
        for a, b in zip(one.data[0].embedding, body["data"][0]["embedding"], strict=True)
    )
    tokens = client.embeddings.create(model="openai/text-embedding-3-small", input=[1, 2, 3])
    assert tokens.usage.prompt_tokens == 3 and len(tokens.data) == 1
    many = client.embeddings.create(model="openai/text-embedding-3-small", input=[[1, 2], [3, 4, 5]])
    assert many.usage.prompt_tokens == 5 and len(many.data) == 2


def test_dimensions_and_base64(client, gateway, tenant):
    short = client.embeddings.create(model="openai/text-embedding-3-large", input="hello", dimensions=256)
    assert len(short.data[0].embedding) == 256
    # The SDK asks for base64 and decodes it; the raw answer is little-endian float32.
    raw = httpx.post(
        gateway.url + "/v1/embeddings",
        headers={"authorization": f"Bearer {tenant.key}"},
        json={"model": "qwen/text-embedding-v3", "input": "hello", "encoding_format": "base64", "dimensions": 512},
    ).json()
    packed = base64.b64decode(raw["data"][0]["embedding"])
    floats = struct.unpack(f"<{len(packed) // 4}f", packed)
    plain = client.embeddings.create(
        model="qwen/text-embedding-v3", input="hello", dimensions=512, encoding_format="float"
    )
    assert len(floats) == 512 and all(
        math.isclose(a, b, abs_tol=1e-6) for a, b in zip(floats, plain.data[0].embedding, strict=True)
    )


@pytest.mark.parametrize(
    "kwargs, param",
    [
        ({"model": "qwen/text-embedding-v3", "input": [f"text {i}" for i in range(11)]}, "input"),
        ({"model": "qwen/text-embedding-v3", "input": "x", "dimensions": 100}, "dimensions"),
        ({"model": "openai/text-embedding-3-small", "input": "x", "dimensions": 2000}, "dimensions"),
        ({"model": "google/gemini-embedding-001", "input": [1, 2, 3]}, "input"),
        ({"model": "openai/text-embedding-3-small", "input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"model": "openai/text-embedding-3-small", "input": []}, "input"),
        ({"model": "deepseek/deepseek-chat", "input": "x"}, "model"),
    ],
)
def test_bad_requests_are_refused_naming_the_parameter(gateway, tenant, kwargs, param, usage):
    resp = httpx.post(gateway.url + "/v1/embeddings", headers={"authorization": f"Bearer {tenant.key}"}, json=kwargs)
    assert resp.status_code == 400 and resp.json()["error"]["param"] == param
    [row] = usage(resp.headers["x-request-id"])
    assert row.status == "client_error" and row.charged_nusd == 0


def test_a_chat_request_never_reaches_an_embedding_model(client):
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(
            model="openai/text-embedding-3-small", messages=[{"role": "user", "content": "hi"}]
        )
    assert "embedding model" in exc.value.body["message"]


def test_failover_only_to_models_of_the_same_dimension(client, sim, usage):
    sim.fault("openai", "status:503")
    raw = client.embeddings.with_raw_response.create(model="openai/text-embedding-3-large", input="hello")
    resp = raw.parse()
    assert resp.model == "google/gemini-embedding-001" and len(resp.data[0].embedding) == 3072
    assert raw.headers["x-aipower-fallback-from"] == "openai/text-embedding-3-large"
    [row] = usage(raw.headers["x-request-id"])
    assert row.attempts == 2 and row.served_model == "google/gemini-embedding-001"
    # 1536 wide: Gemini can shorten to it, Qwen cannot; the large OpenAI model (also failing) can.
    small = client.embeddings.with_raw_response.create(model="openai/text-embedding-3-small", input="hello")
    assert small.parse().model == "google/gemini-embedding-001" and len(small.parse().data[0].embedding) == 1536
    # Qwen's 1024 with Qwen down: the OpenAI models are down too, Gemini shortens to 1024.
    sim.clear()
    sim.fault("qwen", "status:503")
    sim.fault("google", "status:503")
    with pytest.raises(openai.APIStatusError) as exc:
        client.embeddings.create(
            model="qwen/text-embedding-v3", input="hello", extra_headers={"x-aipower-fallback": "off"}
        )
    assert exc.value.status_code == 502
    served = client.embeddings.create(model="qwen/text-embedding-v3", input="hello")
    assert served.model == "openai/text-embedding-3-small" and len(served.data[0].embedding) == 1024
