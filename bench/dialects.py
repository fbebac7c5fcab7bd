"""The API's other dialects against chat completions: /v1/messages (Anthropic's Messages API) and
/v1/responses (OpenAI's Responses API, store=false) translate onto the chat path, so what they add
is their translation. Measured as p50 of each minus p50 of chat completions, same pinned model,
same prompt, concurrency 1, the three interleaved request by request (the upstream and the
direct baseline cancel out)."""

import time

import orjson

from . import load
from .report import INFO, Check, at_most, error_note, percentile_diff_ms, summary_ms

LIMIT_MS = 0.5  # p50 over chat completions' added latency


def endpoints(gateway_url: str, api_key: str, model: str, messages: list) -> dict:
    system = " ".join(m["content"] for m in messages if m["role"] == "system")
    turns = [m for m in messages if m["role"] != "system"]
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    E = load.Endpoint
    return {
        "messages": E(
            "messages",
            gateway_url + "/v1/messages",
            orjson.dumps({"model": model, "max_tokens": 64, "system": system, "messages": turns}),
            {**headers, "anthropic-version": "2023-06-01"},
        ),
        "responses": E(
            "responses",
            gateway_url + "/v1/responses",
            orjson.dumps(
                {"model": model, "max_output_tokens": 64, "instructions": system, "input": turns, "store": False}
            ),
            headers,
        ),
    }


async def dialect_phase(s, chat_ep, eps: dict, n: int, warmup: int) -> tuple[dict, dict]:
    for _ in range(warmup):
        for ep in (chat_ep, eps["messages"], eps["responses"]):
            await load.request(s, ep)
    series = {"chat": [], "messages": [], "responses": []}
    for _ in range(n):
        series["chat"].append(await load.request(s, chat_ep))
        series["messages"].append(await load.request(s, eps["messages"]))
        series["responses"].append(await load.request(s, eps["responses"]))
    phase = {
        "requests_each": n,
        "concurrency": 1,
        **{f"{k}_ms": summary_ms([r.seconds for r in v if r.ok]) for k, v in series.items()},
        "errors": {k: len([r for r in v if not r.ok]) for k, v in series.items()},
        "error_note": error_note([r for v in series.values() for r in v]),
    }
    return phase, {k: [r.seconds for r in v if r.ok] for k, v in series.items()}


def translation_cpu_us(eps: dict, model: str, rounds: int = 2000) -> dict:
    """CPU time, in microseconds, of what each dialect adds to a request in the gateway process:
    the caller's body to a chat request (and its JSON), the chat answer's JSON to the dialect's
    answer (and its JSON). Measured here, in-process, where the machine's noise cannot swamp it."""
    from routing.dialects import anthropic_in, responses

    answer = orjson.dumps(
        {
            "id": "chatcmpl-x",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "logprobs": None,
                    "message": {"role": "assistant", "content": "Simulated reply " * 8, "refusal": None},
                }
            ],
            "usage": {
                "prompt_tokens": 30,
                "completion_tokens": 40,
                "total_tokens": 70,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0},
            },
        }
    )
    headers = {"x-request-id": "req_0123456789abcdef01234567"}
    m_body, r_body = eps["messages"].body, eps["responses"].body

    def messages():
        orjson.dumps(anthropic_in.to_chat(orjson.loads(m_body)))
        orjson.dumps(anthropic_in.to_message(orjson.loads(answer), headers))

    def responses_():
        body = orjson.loads(r_body)
        chat, conversation = responses.to_chat(body, [])
        orjson.dumps(chat)
        completion = orjson.loads(answer)
        choice = completion["choices"][0]
        orjson.dumps(
            responses.response_object(
                body,
                "resp_x",
                0,
                model=model,
                output=responses._output_of(choice["message"]),
                usage=completion["usage"],
                finish=choice["finish_reason"],
            )
        )

    out = {}
    for name, fn in (("messages", messages), ("responses", responses_)):
        for _ in range(100):
            fn()
        t0 = time.process_time()
        for _ in range(rounds):
            fn()
        out[name] = round((time.process_time() - t0) / rounds * 1e6, 1)
    return out


def checks(phase: dict, secs: dict) -> list:
    out = []
    clean = not any(phase["errors"].values())
    for name, label in (("messages", "/v1/messages"), ("responses", "/v1/responses")):
        diff = percentile_diff_ms(secs[name], secs["chat"], 50) if clean else None
        out.append(
            at_most(
                f"{name}_over_chat_p50",
                f"{label} p50 minus chat completions p50 (c=1)",
                diff,
                LIMIT_MS,
                "ms",
                note=f"{label} p50 {phase[f'{name}_ms'].get('p50')} ms vs chat completions "
                f"{phase['chat_ms'].get('p50')} ms"
                if clean
                else phase["error_note"],
            )
        )
    cpu = phase.get("translation_cpu_us") or {}
    for name, label in (("messages", "/v1/messages"), ("responses", "/v1/responses")):
        if name in cpu:
            out.append(
                Check(
                    f"{name}_translation_cpu",
                    f"{label} translation CPU per request (in-process)",
                    "report",
                    f"{cpu[name]:.1f} us",
                    cpu[name],
                    INFO,
                    False,
                    "request and answer translated and re-encoded, non-streaming",
                )
            )
    return out
