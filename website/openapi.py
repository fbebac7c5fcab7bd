"""The gateway's API described for people (the docs page) and for tools (an OpenAPI 3.1
document served at /docs/openapi.json), from one set of tables."""

from django.conf import settings

from routing.catalog import Snapshot

REQUEST_HEADERS = [
    ("Authorization", "Bearer sk-aip-… — your API key (required)."),
    ("x-aipower-fallback", "off (or 0, false, no) disables failover: only the first model that can serve is tried."),
    (
        "x-aipower-quality",
        "0 to 1: the quality trade-off for the prompt-aware route auto (0 = cheapest, 1 = best); "
        "overrides the key's default.",
    ),
    (
        "traceparent",
        "Optional W3C trace context: where the gateway exports OpenTelemetry traces, its span of your "
        "request joins your trace (its attributes name the request id, route, model and attempts).",
    ),
]

RESPONSE_HEADERS = [
    (
        "x-request-id",
        "This request's id (req_…): on its usage row, its ledger entry, in the dashboard, and in the logs and traces.",
    ),
    ("x-aipower-route", "The routing mode asked for (auto, auto-code, …); absent when a model was pinned."),
    ("x-aipower-route-reason", "Why the route chose its first model, e.g. 'difficulty 0.82 >= 0.60: premium tier'."),
    ("x-aipower-provider", "The provider that served the answer (openai, anthropic, deepseek, …)."),
    ("x-aipower-model", "The model that served the answer; the body's model field says the same."),
    ("x-aipower-attempts", "How many upstream calls were made (1 unless a failover happened)."),
    ("x-aipower-fallback-from", "After a failover: the first-choice model that failed."),
    (
        "x-aipower-max-tokens-capped",
        "The request set no max_tokens and the balance did not cover the model's "
        "maximum output: the output was capped at this many tokens.",
    ),
    (
        "x-aipower-cost-usd",
        "What this request cost you in USD (upstream price plus markup), exact to the nano-dollar; the body's "
        "usage.cost says the same (in a stream, the final usage chunk).",
    ),
    (
        "x-aipower-token-count",
        "On /v1/messages/count_tokens: where the count came from — 'anthropic' (the "
        "provider's own count endpoint) or 'estimate' (the gateway's bound).",
    ),
    (
        "x-ratelimit-limit-requests / -tokens",
        "For a key with rate limits: its requests and tokens per minute (OpenAI's headers, on every endpoint).",
    ),
    (
        "x-ratelimit-remaining-requests / -tokens",
        "What the key may still send at once: requests, and tokens (counted when each request ends).",
    ),
    ("x-ratelimit-reset-requests / -tokens", "When that limit is back to its full burst, e.g. 20s, 1m0s."),
    (
        "anthropic-ratelimit-*",
        "On /v1/messages, the same limits under Anthropic's names, "
        "anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}; the reset is an RFC 3339 time, "
        "e.g. 2026-12-03T08:00:41Z.",
    ),
    ("retry-after", "On 429 (and on a 502 whose upstream asked for it): seconds to wait before retrying."),
]

# (HTTP status, type, code, meaning)
ERRORS = [
    (
        400,
        "invalid_request_error",
        "invalid_json / invalid_encoding / invalid_type / invalid_value / missing_required_parameter",
        "The body is not valid: the message names the parameter (also in error.param).",
    ),
    (
        400,
        "invalid_request_error",
        "unsupported_parameter / unsupported_value",
        "A parameter the chosen model cannot honour.",
    ),
    (
        400,
        "invalid_request_error",
        "no_capable_model",
        "No model of the route (or the pinned model) can serve this request: tools, images, PDF documents, "
        "audio, JSON mode, max_tokens or the context window.",
    ),
    (
        400,
        "invalid_request_error",
        "context_length_exceeded",
        "The prompt plus max_tokens is longer than every model that could serve it (on /v1/responses with "
        "truncation 'disabled', the default, param 'input').",
    ),
    (
        400,
        "invalid_request_error",
        "unsupported_tool",
        "/v1/responses: a built-in tool (web search, file search, computer use) the gateway cannot run; the "
        "message names it. Function tools are supported. An 'include' value that needs one (or encrypted "
        "reasoning) is unsupported_value, naming the value.",
    ),
    (
        400,
        "invalid_request_error",
        "batch_too_large",
        "/v1/embeddings: more inputs in one request than the model takes.",
    ),
    (401, "invalid_request_error", "missing_api_key / invalid_api_key", "No key, or not a valid, active key."),
    (
        402,
        "insufficient_quota",
        "insufficient_quota",
        "The balance (or the monthly cap, or the key's budget) does not cover this request. The message says "
        "what is available and the largest max_tokens it covers.",
    ),
    (403, "permission_error", "model_not_allowed", "This key's allow-list does not include the model or route."),
    (404, "invalid_request_error", "model_not_found / unknown_url", "No such model or route, or no such path."),
    (
        404,
        "invalid_request_error",
        "response_not_found",
        "/v1/responses/{id}: no stored response with that id in your organization (or it has expired).",
    ),
    (405, "invalid_request_error", "method_not_allowed", "Wrong HTTP method for the path."),
    (413, "invalid_request_error", "request_too_large", "The body is larger than the limit."),
    (
        429,
        "rate_limit_exceeded",
        "rate_limit_exceeded",
        "The key's requests- or tokens-per-minute limit; wait for retry-after seconds.",
    ),
    (
        429,
        "invalid_request_error",
        "too_many_failed_authentications",
        "Too many requests with invalid keys from your address in the last minute; wait for retry-after seconds. "
        "Valid keys are never slowed down.",
    ),
    (431, "invalid_request_error", "-", "The request line and headers are larger than the limit; nothing was read."),
    (
        500,
        "server_error",
        "internal_error",
        "The gateway failed on this request; it is recorded, nothing is charged beyond what an upstream delivered.",
    ),
    (502, "server_error", "upstream_unavailable", "Every upstream that could serve the request failed."),
    (
        503,
        "server_error",
        "service_unavailable",
        "The gateway's database cannot be reached: nothing is served that could not be charged. Retry after "
        "retry-after seconds.",
    ),
]

PARAMETERS = [
    (
        "model",
        "string, required",
        "A routing mode (auto, auto-cheap, auto-fast, auto-code, auto-best, auto-free) "
        "or a model: provider/model (e.g. anthropic/claude-sonnet-4) or a bare upstream id.",
    ),
    ("messages", "array, required", "OpenAI chat messages: system, user (text and image_url parts), assistant, tool."),
    ("stream", "boolean", "Server-sent events; stream_options.include_usage adds a final usage chunk."),
    (
        "max_tokens / max_completion_tokens",
        "integer",
        "The output cap. Absent: the model's maximum, or what the balance covers (see x-aipower-max-tokens-capped).",
    ),
    (
        "temperature, top_p, presence_penalty, frequency_penalty, seed, stop, n, logprobs, top_logprobs, user",
        "as OpenAI",
        "Passed to the upstream in its own dialect (dropped where a vendor has no equivalent).",
    ),
    ("tools, tool_choice, parallel_tool_calls", "as OpenAI", "Function calling; routes skip models without tools."),
    ("response_format", "object", 'JSON mode ({"type": "json_object"}) and JSON schema.'),
    (
        "reasoning_effort",
        "string",
        "none, minimal, low, medium, high: reasoning models think at it; Claude thinks too (adaptive thinking "
        "or a budget; needs temperature 1), its thinking in reasoning_content.",
    ),
    (
        "service_tier",
        "string",
        "Accepted (auto, default, flex, priority, …) but not sent: every request is served and billed at the "
        'standard tier, and the response says "default".',
    ),
    (
        "models",
        "array of strings",
        "Your own fallback list, tried after the first choice instead of the provider-family chains.",
    ),
]


def limits() -> list[tuple[str, str]]:
    return [
        ("Request body", f"{settings.AIPOWER_MAX_REQUEST_BYTES // (1024 * 1024)} MiB at most (413 above)."),
        ("Attempts", f"At most {settings.AIPOWER_MAX_ATTEMPTS} upstream attempts per request, within a retry budget."),
        (
            "Upstream timeouts",
            f"{settings.AIPOWER_UPSTREAM_CONNECT_TIMEOUT:g} s to connect, "
            f"{settings.AIPOWER_UPSTREAM_FIRST_BYTE_TIMEOUT:g} s to the first byte, "
            f"{settings.AIPOWER_UPSTREAM_IDLE_TIMEOUT:g} s between stream chunks, "
            f"{settings.AIPOWER_UPSTREAM_TOTAL_TIMEOUT:g} s in all (per provider in admin).",
        ),
        ("Rate limits", "Per key: requests and tokens per minute, set on the key (429 with retry-after)."),
        ("Budgets", "Per key: a monthly budget; per organization: a monthly spending cap (402 when reached)."),
        ("Key changes", f"A revoked or expired key stops working within {settings.AIPOWER_KEY_CACHE_SECONDS:g} s."),
        (
            "Output cap floor",
            f"With no max_tokens, output is capped at what the balance covers, but never "
            f"below {settings.AIPOWER_MIN_CAPPED_OUTPUT_TOKENS} tokens (402 instead).",
        ),
    ]


def _error_schema() -> dict:
    return {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message", "type"],
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "param": {"type": ["string", "null"]},
                    "code": {"type": ["string", "null"]},
                },
            }
        },
    }


def _header_names(name: str) -> list[str]:
    """The headers a docs row names: 'x-ratelimit-limit-requests / -tokens' is two."""
    first, _, other = name.partition(" / -")
    return [first, first.rsplit("-", 1)[0] + "-" + other] if other else [first]


def document(base_url: str, snapshot: Snapshot) -> dict:
    names = list(snapshot.routes) + sorted(snapshot.models)
    header_objs = {
        header: {"description": text, "schema": {"type": "string"}}
        for name, text in RESPONSE_HEADERS
        if name.startswith("x-")
        for header in _header_names(name)
    }
    errors = {
        str(status): {
            "description": " / ".join(sorted({c for s, _, c, _ in ERRORS if s == status})),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for status in sorted({e[0] for e in ERRORS})
    }
    message = {
        "type": "object",
        "required": ["role"],
        "properties": {
            "role": {"type": "string", "enum": ["system", "developer", "user", "assistant", "tool"]},
            "content": {
                "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}, {"type": "null"}]
            },
            "tool_calls": {"type": "array", "items": {"type": "object"}},
            "tool_call_id": {"type": "string"},
        },
    }
    request = {
        "type": "object",
        "required": ["model", "messages"],
        "properties": {
            "model": {
                "type": "string",
                "description": "A routing mode or a model id.",
                "examples": names[:8],
                "enum": names,
            },
            "messages": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Message"}},
            "stream": {"type": "boolean"},
            "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
            "max_tokens": {"type": "integer", "minimum": 1},
            "max_completion_tokens": {"type": "integer", "minimum": 1},
            "temperature": {"type": "number", "minimum": 0, "maximum": 2},
            "top_p": {"type": "number", "minimum": 0, "maximum": 1},
            "presence_penalty": {"type": "number", "minimum": -2, "maximum": 2},
            "frequency_penalty": {"type": "number", "minimum": -2, "maximum": 2},
            "n": {"type": "integer", "minimum": 1},
            "seed": {"type": "integer"},
            "stop": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "maxItems": 4}]},
            "logprobs": {"type": "boolean"},
            "top_logprobs": {"type": "integer", "minimum": 1},
            "user": {"type": "string"},
            "tools": {"type": "array", "items": {"type": "object"}},
            "tool_choice": {},
            "parallel_tool_calls": {"type": "boolean"},
            "response_format": {"type": "object"},
            "models": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Your own fallback list, tried after the first choice.",
            },
        },
    }
    usage = {
        "type": "object",
        "properties": {k: {"type": "integer"} for k in ("prompt_tokens", "completion_tokens", "total_tokens")},
    }
    completion = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "object": {"const": "chat.completion"},
            "created": {"type": "integer"},
            "model": {"type": "string", "description": "The model that actually ran."},
            "choices": {"type": "array", "items": {"type": "object"}},
            "usage": {"$ref": "#/components/schemas/Usage"},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "AIPower gateway API",
            "version": "1",
            "description": "One OpenAI-compatible endpoint in front of many providers, with smart routing, "
            "automatic failover and prepaid credits. Use the official openai SDK with "
            f"base_url={base_url}.",
        },
        "servers": [{"url": base_url}],
        "security": [{"bearer": []}],
        "paths": {
            "/chat/completions": {
                "post": {
                    "operationId": "createChatCompletion",
                    "summary": "Create a chat completion (routed, with failover)",
                    "parameters": [
                        {
                            "name": "x-aipower-fallback",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "enum": ["on", "off"]},
                            "description": "off disables failover.",
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/ChatCompletionRequest"}}
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "The completion; with stream=true, server-sent events "
                            "(chat.completion.chunk objects, then data: [DONE]).",
                            "headers": header_objs,
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/ChatCompletion"}},
                                "text/event-stream": {"schema": {"type": "string"}},
                            },
                        },
                        **errors,
                    },
                }
            },
            "/models": {
                "get": {
                    "operationId": "listModels",
                    "summary": "The routing modes and models this key can call",
                    "responses": {
                        "200": {
                            "description": "A list of models",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "object": {"const": "list"},
                                            "data": {
                                                "type": "array",
                                                "items": {
                                                    "type": "object",
                                                    "properties": {
                                                        "id": {"type": "string"},
                                                        "object": {"const": "model"},
                                                        "created": {"type": "integer"},
                                                        "owned_by": {"type": "string"},
                                                    },
                                                },
                                            },
                                        },
                                    }
                                }
                            },
                        },
                        "401": errors["401"],
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "sk-aip-… API key"}},
            "schemas": {
                "Error": _error_schema(),
                "Message": message,
                "ChatCompletionRequest": request,
                "ChatCompletion": completion,
                "Usage": usage,
            },
        },
    }
