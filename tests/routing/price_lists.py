"""A local HTTP server that serves price lists, and payloads written after each format's
documentation: LiteLLM's `model_prices_and_context_window.json` (an object keyed by model name;
USD per token as JSON numbers) and OpenRouter's `GET /api/v1/models` (`{"data": [...]}`; USD per
token as strings)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class PriceListServer:
    """serve(path, body, status=200): what GET path answers. body: bytes, or anything JSON."""

    def __init__(self):
        self.routes: dict[str, tuple[int, bytes]] = {}
        self.hits: list[str] = []
        routes, hits = self.routes, self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.path)
                status, body = routes.get(self.path, (404, b'{"error": "not found"}'))
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, path: str, body, status: int = 200) -> str:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.routes[path] = (status, raw)
        return self.url + path

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# The seed prices these payloads are written against (micro-USD per 1M tokens):
# deepseek/deepseek-chat 280_000 in / 28_000 cached / 420_000 out, 128_000 context, 8_192 out;
# anthropic/claude-sonnet-4 3_000_000 / 300_000 / 3_750_000 write / 6_000_000 1-hour write / 15_000_000,
# 200_000, 64_000;
# openai/gpt-4o-mini 150_000 / 75_000 / 600_000; zhipu/glm-4-flash free; qwen/qwen-turbo 50_000 / 200_000.
LITELLM_RAW = """{
  "sample_spec": {
    "max_tokens": "LEGACY parameter. set to max_output_tokens if provider specifies it.",
    "max_input_tokens": "max input tokens, if the provider specifies it.",
    "max_output_tokens": "max output tokens, if the provider specifies it.",
    "input_cost_per_token": 0.0000,
    "output_cost_per_token": 0.000,
    "litellm_provider": "one of https://docs.litellm.ai/docs/providers",
    "mode": "one of: chat, embedding, completion, image_generation, audio_transcription, audio_speech",
    "supports_function_calling": true,
    "supports_vision": true
  },
  "deepseek-chat": {
    "max_tokens": 8192, "max_input_tokens": 128000, "max_output_tokens": 8192,
    "input_cost_per_token": 2.95e-07, "output_cost_per_token": 4.6e-07, "cache_read_input_token_cost": 2.8e-08,
    "litellm_provider": "deepseek", "mode": "chat", "supports_function_calling": true
  },
  "deepseek/deepseek-chat": {
    "max_input_tokens": 128000, "max_output_tokens": 8192,
    "input_cost_per_token": 2.95e-07, "output_cost_per_token": 4.6e-07,
    "litellm_provider": "deepseek", "mode": "chat"
  },
  "claude-sonnet-4-20250514": {
    "max_tokens": 32000, "max_input_tokens": 200000, "max_output_tokens": 32000,
    "input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05,
    "cache_creation_input_token_cost": 3.75e-06, "cache_creation_input_token_cost_above_1hr": 6e-06,
    "cache_read_input_token_cost": 3e-07,
    "litellm_provider": "anthropic", "mode": "chat", "supports_function_calling": true, "supports_vision": true,
    "supports_pdf_input": true
  },
  "gpt-4o-mini": {
    "max_input_tokens": 128000, "max_output_tokens": 16384,
    "input_cost_per_token": 1.5e-06, "output_cost_per_token": 6e-07, "cache_read_input_token_cost": 7.5e-08,
    "litellm_provider": "openai", "mode": "chat", "supports_function_calling": true, "supports_vision": true
  },
  "glm-4-flash": {
    "max_input_tokens": 128000, "max_output_tokens": 4096,
    "input_cost_per_token": 1e-07, "output_cost_per_token": 1e-07,
    "litellm_provider": "zai", "mode": "chat"
  },
  "qwen-turbo": {
    "max_input_tokens": 1000000, "max_output_tokens": 16384,
    "input_cost_per_token": 6e-08, "output_cost_per_token": 2.4e-07,
    "litellm_provider": "dashscope", "mode": "chat"
  },
  "deepseek-v4-preview": {
    "max_input_tokens": 256000, "max_output_tokens": 32768,
    "input_cost_per_token": 4e-07, "output_cost_per_token": 1.2e-06,
    "litellm_provider": "deepseek", "mode": "chat", "supports_function_calling": true
  },
  "text-embedding-3-large": {
    "max_input_tokens": 8191, "input_cost_per_token": 1.3e-07, "output_cost_per_token": 0.0,
    "litellm_provider": "openai", "mode": "embedding"
  },
  "acme-large": {
    "max_input_tokens": 8191, "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06,
    "litellm_provider": "acme", "mode": "chat"
  }
}"""


def openrouter_payload() -> dict:
    def model(
        ident,
        name,
        prompt,
        completion,
        *,
        cache_read=None,
        cache_write=None,
        cache_write_1h=None,
        context=128000,
        max_completion=None,
        modalities=("text",),
        params=("tools", "tool_choice", "max_tokens"),
    ):
        pricing = {
            "prompt": prompt,
            "completion": completion,
            "request": "0",
            "image": "0",
            "web_search": "0",
            "internal_reasoning": "0",
        }
        if cache_read is not None:
            pricing["input_cache_read"] = cache_read
        if cache_write is not None:
            pricing["input_cache_write"] = cache_write
        if cache_write_1h is not None:
            pricing["input_cache_write_1h"] = cache_write_1h
        return {
            "id": ident,
            "canonical_slug": ident,
            "name": name,
            "created": 1750000000,
            "description": "",
            "context_length": context,
            "architecture": {
                "modality": "text->text",
                "input_modalities": list(modalities),
                "output_modalities": ["text"],
                "tokenizer": "Other",
                "instruct_type": None,
            },
            "pricing": pricing,
            "top_provider": {"context_length": context, "max_completion_tokens": max_completion, "is_moderated": False},
            "per_request_limits": None,
            "supported_parameters": list(params),
        }

    return {
        "data": [
            model(
                "deepseek/deepseek-chat-v3",
                "DeepSeek: DeepSeek V3",
                "0.0000003",
                "0.00000045",
                cache_read="0.00000003",
                context=163840,
                max_completion=16384,
            ),
            model(
                "anthropic/claude-sonnet-4",
                "Anthropic: Claude Sonnet 4",
                "0.000003",
                "0.00015",
                cache_read="0.0000003",
                cache_write="0.00000375",
                cache_write_1h="0.000006",
                context=200000,
                max_completion=64000,
                modalities=("text", "image", "file"),
            ),
            model(
                "moonshotai/kimi-k2-0905",
                "MoonshotAI: Kimi K2 0905",
                "0.0000006",
                "0.0000025",
                cache_read="0.00000015",
                context=262144,
                max_completion=16384,
            ),
            model("qwen/qwen-plus", "Qwen: Qwen-Plus", "abc", "0.0000012", context=131072, max_completion=16384),
            model("z-ai/glm-5", "Z.AI: GLM 5", "0.000001", "0.0000032", context=202752, max_completion=131072),
            model("openrouter/auto", "Auto Router", "-1", "-1", context=2000000),
        ]
    }
