"""The seed catalog: the providers, models and routes the product page names.

Prices are each vendor's public list price (Anthropic's 5-minute cache writes at 1.25× input) per one
million tokens, in micro-USD (1_000_000 = $1), as published on the page named in `source` (read
November 2026); Anthropic's 1-hour cache writes (2× input) from the "Model pricing" table at
ANTHROPIC_PRICING, named beside them. Doubao is listed in CNY and is converted at 7.2 CNY per USD.
Operators keep prices current in Django admin.

Long-prompt prices (`long`: a whole request above a prompt-token threshold is billed at other
prices; billing/pricing.py) are seeded where the vendor's page names them: GPT-5.4 (above 272K)
and Gemini 2.5 Pro (above 200K), each from its `source`. The others have one price at any length
their seeded context window allows: Claude (ANTHROPIC_PRICING lists one price per model; Opus 4.6's
1M window is at standard prices, Sonnet 4 and Haiku 4.5 are seeded with a 200K window), Gemini 2.5
Flash (one price on its page), Qwen Turbo (one price), Qwen Plus (its tier starts above 256K
input tokens, beyond its seeded 131K window), Qwen Max (32K window), DeepSeek, Kimi K2, MiniMax M2
and Doubao Pro 256K (one price each on the pages named).

Quality ranks (QUALITY) are a 0-100 ordering of the models by the public leaderboard named beside
them: overall from LMArena's text leaderboard, coding from SWE-bench Verified (and LMArena's
WebDev board where a model has no SWE-bench entry). They only order models for `auto-best` and
`auto-code`; the numbers are a scale, not the leaderboards' own scores. Operators keep them
current in Django admin, like prices.
"""

from typing import Any

from billing.pricing import LONG_FIELDS

M = 1_000_000  # micro-USD per USD
# Every Claude model's input, 5-minute and 1-hour cache-write, cache-hit and output prices, in one table.
ANTHROPIC_PRICING = "https://platform.claude.com/docs/en/about-claude/pricing"

PROVIDERS = [
    # slug, name, wire format, base URL, credential environment variable
    ("openai", "OpenAI", "openai", "https://api.openai.com/v1", "OPENAI_API_KEY"),
    ("anthropic", "Anthropic", "anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY"),
    ("google", "Google", "gemini", "https://generativelanguage.googleapis.com/v1beta", "GEMINI_API_KEY"),
    ("deepseek", "DeepSeek", "openai", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
    ("qwen", "Qwen (DashScope)", "openai", "https://dashscope.aliyuncs.com/compatible-mode/v1", "DASHSCOPE_API_KEY"),
    ("zhipu", "Zhipu GLM", "openai", "https://open.bigmodel.cn/api/paas/v4", "ZHIPUAI_API_KEY"),
    ("moonshot", "Moonshot", "openai", "https://api.moonshot.ai/v1", "MOONSHOT_API_KEY"),
    ("minimax", "MiniMax", "openai", "https://api.minimax.io/v1", "MINIMAX_API_KEY"),
    ("bytedance", "ByteDance Doubao (Ark)", "openai", "https://ark.cn-beijing.volces.com/api/v3", "ARK_API_KEY"),
    (
        "alibaba",
        "Alibaba Cloud Model Studio",
        "openai",
        "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        "DASHSCOPE_INTL_API_KEY",
    ),
]

# Vendor differences, as data (see routing/adapters/openai_compat.py).
PROVIDER_QUIRKS = {
    "openai": {"max_tokens_param": "max_completion_tokens"},
    "zhipu": {
        "drop_params": ["presence_penalty", "frequency_penalty", "logit_bias", "seed"],
        "unsupported_params": ["n", "logprobs", "top_logprobs"],
    },
    "minimax": {"drop_params": ["presence_penalty", "frequency_penalty", "logit_bias"]},
}


def _m(
    provider,
    upstream_id,
    public,
    name,
    inp,
    out,
    cached,
    ctx,
    max_out,
    source,
    *,
    vision=False,
    tools=True,
    json_mode=True,
    quirks=None,
    cache_write=None,
    cache_write_1h=None,
    dimensions=None,
    batch=None,
    openrouter_id="",
    long=None,
):
    # long: (threshold tokens, input, output, cached input) above it, for a vendor that prices a
    # whole request higher when its prompt is longer than the threshold (billing/pricing.py)
    threshold, long_in, long_out, long_cached = long or (None, None, None, None)
    return {
        "provider": provider,
        "upstream_id": upstream_id,
        "public_id": f"{provider}/{public}",
        "openrouter_id": openrouter_id,
        "display_name": name,
        "input_price_usd_micro_per_mtok": round(inp * M),
        "output_price_usd_micro_per_mtok": round(out * M),
        "cached_input_price_usd_micro_per_mtok": None if cached is None else round(cached * M),
        "cache_write_price_usd_micro_per_mtok": None if cache_write is None else round(cache_write * M),
        "cache_write_1h_price_usd_micro_per_mtok": None if cache_write_1h is None else round(cache_write_1h * M),
        "long_prompt_threshold_tokens": threshold,
        "long_input_price_usd_micro_per_mtok": None if long_in is None else round(long_in * M),
        "long_cached_input_price_usd_micro_per_mtok": None if long_cached is None else round(long_cached * M),
        "long_cache_write_price_usd_micro_per_mtok": None,  # no seeded vendor tiers cache writes
        "long_output_price_usd_micro_per_mtok": None if long_out is None else round(long_out * M),
        "context_window": ctx,
        "max_output_tokens": max_out,
        "price_source": source,
        "supports_vision": vision,
        "supports_tools": tools,
        "supports_json_mode": json_mode,
        "quirks": quirks or {},
        **(
            {
                "kind": "embedding",
                "dimensions": dimensions,
                "max_batch_inputs": batch,
                "supports_streaming": False,
                "supports_tools": False,
                "supports_json_mode": False,
            }
            if dimensions
            else {}
        ),
    }


# `openrouter_id`: the model's id in OpenRouter's model list where it is not <provider>/<upstream id>
# (read from openrouter.ai's model pages and its API's answers). Left empty where OpenRouter was
# not found to list the model: zhipu/glm-4-flash, deepseek/deepseek-reasoner, bytedance/doubao-pro-256k
# and the embedding models; the price sync then reports them "not listed".
MODELS = [
    _m(
        "openai",
        "gpt-5.4",
        "gpt-5.4",
        "GPT-5.4",
        2.50,
        15.00,
        0.25,
        1_050_000,
        128_000,
        "https://developers.openai.com/api/docs/models/gpt-5.4",
        vision=True,
        # same page: "prompts with >272K input tokens are priced at 2x input and 1.5x output for the
        # full session" (cached input is input: 2x as well)
        long=(272_000, 5.00, 22.50, 0.50),
    ),
    _m(
        "openai",
        "gpt-4o-mini",
        "gpt-4o-mini",
        "GPT-4o mini",
        0.15,
        0.60,
        0.075,
        128_000,
        16_384,
        "https://openai.com/api/pricing/",
        vision=True,
    ),
    _m(
        "anthropic",
        "claude-sonnet-4-20250514",
        "claude-sonnet-4",
        "Claude Sonnet 4",
        3.00,
        15.00,
        0.30,
        200_000,
        64_000,
        "https://www.anthropic.com/pricing#api",
        vision=True,
        cache_write=3.75,
        cache_write_1h=6.00,  # ANTHROPIC_PRICING
        openrouter_id="anthropic/claude-sonnet-4",
    ),
    _m(
        "anthropic",
        "claude-opus-4-6",
        "claude-opus-4.6",
        "Claude Opus 4.6",
        5.00,
        25.00,
        0.50,
        1_000_000,
        128_000,
        "https://platform.claude.com/docs/en/models/opus-4-6/overview",
        vision=True,
        cache_write=6.25,
        cache_write_1h=10.00,  # ANTHROPIC_PRICING
        openrouter_id="anthropic/claude-opus-4.6",
    ),
    _m(
        "anthropic",
        "claude-haiku-4-5",
        "claude-haiku-4.5",
        "Claude Haiku 4.5",
        1.00,
        5.00,
        0.10,
        200_000,
        64_000,
        "https://www.anthropic.com/pricing#api",
        vision=True,
        cache_write=1.25,
        cache_write_1h=2.00,  # ANTHROPIC_PRICING
        openrouter_id="anthropic/claude-haiku-4.5",
    ),
    _m(
        "google",
        "gemini-2.5-pro",
        "gemini-2.5-pro",
        "Gemini 2.5 Pro",
        1.25,
        10.00,
        0.125,
        1_048_576,
        65_536,
        "https://ai.google.dev/gemini-api/docs/pricing",
        vision=True,
        long=(200_000, 2.50, 15.00, 0.25),  # same page: "prompts > 200k tokens" (context caching too)
    ),
    _m(
        "google",
        "gemini-2.5-flash",
        "gemini-2.5-flash",
        "Gemini 2.5 Flash",
        0.30,
        2.50,
        0.03,
        1_048_576,
        65_536,
        "https://ai.google.dev/gemini-api/docs/pricing",
        vision=True,
    ),
    _m(
        "deepseek",
        "deepseek-chat",
        "deepseek-chat",
        "DeepSeek V3",
        0.28,
        0.42,
        0.028,
        128_000,
        8_192,
        "https://api-docs.deepseek.com/quick_start/pricing",
        # DeepSeek's API serves V3.2 (non-thinking) as deepseek-chat; OpenRouter's deepseek/deepseek-chat
        # is the original V3 at other prices (openrouter.ai/deepseek/deepseek-v3.2).
        openrouter_id="deepseek/deepseek-v3.2",
    ),
    _m(
        "deepseek",
        "deepseek-reasoner",
        "deepseek-reasoner",
        "DeepSeek R (reasoner)",
        0.28,
        0.42,
        0.028,
        128_000,
        65_536,
        "https://api-docs.deepseek.com/quick_start/pricing",
        quirks={
            "drop_params": ["temperature", "top_p", "presence_penalty", "frequency_penalty"],
            "unsupported_params": ["logprobs", "top_logprobs"],
        },
    ),
    _m(
        "qwen",
        "qwen-turbo",
        "qwen-turbo",
        "Qwen Turbo",
        0.05,
        0.20,
        None,
        1_000_000,
        16_384,
        "https://www.alibabacloud.com/help/en/model-studio/models",
    ),
    _m(
        "qwen",
        "qwen-plus",
        "qwen-plus",
        "Qwen Plus",
        0.40,
        1.20,
        None,
        131_072,
        16_384,
        "https://www.alibabacloud.com/help/en/model-studio/models",
    ),
    _m(
        "alibaba",
        "qwen-max",
        "qwen-max",
        "Qwen Max",
        1.60,
        6.40,
        None,
        32_768,
        8_192,
        "https://www.alibabacloud.com/help/en/model-studio/models",
        openrouter_id="qwen/qwen-max",
    ),
    _m(
        "zhipu",
        "glm-4-flash",
        "glm-4-flash",
        "GLM-4 Flash",
        0.0,
        0.0,
        None,
        128_000,
        4_096,
        "https://open.bigmodel.cn/pricing",
    ),
    _m(
        "moonshot",
        "kimi-k2-0905-preview",
        "kimi-k2",
        "Kimi K2",
        0.60,
        2.50,
        0.15,
        262_144,
        16_384,
        "https://platform.moonshot.ai/docs/pricing/chat",
        openrouter_id="moonshotai/kimi-k2-0905",
    ),
    _m(
        "minimax",
        "MiniMax-M2",
        "minimax-m2",
        "MiniMax M2",
        0.30,
        1.20,
        0.03,
        204_800,
        131_072,
        "https://platform.minimax.io/docs/guides/pricing",
        openrouter_id="minimax/minimax-m2",
    ),
    _m(
        "bytedance",
        "doubao-1-5-pro-256k-250115",
        "doubao-pro-256k",
        "Doubao Pro 256K",
        5 / 7.2,
        9 / 7.2,
        None,
        256_000,
        12_288,
        "https://www.volcengine.com/docs/82379/1544106 (CNY 5 / 9 per 1M tokens)",
    ),
]

# Embedding models (/v1/embeddings): context window = tokens per input, no output tokens. The quirk
# "embedding_dimensions" lists the dimensions a model can shorten to (absent: any up to its own);
# "embedding_token_input": the model takes token arrays as input.
EMBEDDING_MODELS = [
    _m(
        "openai",
        "text-embedding-3-small",
        "text-embedding-3-small",
        "Text Embedding 3 Small",
        0.02,
        0,
        None,
        8_191,
        0,
        "https://openai.com/api/pricing/",
        tools=False,
        json_mode=False,
        dimensions=1536,
        batch=2048,
        quirks={"embedding_token_input": True},
    ),
    _m(
        "openai",
        "text-embedding-3-large",
        "text-embedding-3-large",
        "Text Embedding 3 Large",
        0.13,
        0,
        None,
        8_191,
        0,
        "https://openai.com/api/pricing/",
        tools=False,
        json_mode=False,
        dimensions=3072,
        batch=2048,
        quirks={"embedding_token_input": True},
    ),
    _m(
        "google",
        "gemini-embedding-001",
        "gemini-embedding-001",
        "Gemini Embedding",
        0.15,
        0,
        None,
        2_048,
        0,
        "https://ai.google.dev/gemini-api/docs/pricing",
        tools=False,
        json_mode=False,
        dimensions=3072,
        batch=100,
    ),
    _m(
        "qwen",
        "text-embedding-v3",
        "text-embedding-v3",
        "Qwen Text Embedding v3",
        0.07,
        0,
        None,
        8_192,
        0,
        "https://www.alibabacloud.com/help/en/model-studio/models",
        tools=False,
        json_mode=False,
        dimensions=1024,
        batch=10,
        quirks={"embedding_dimensions": [1024, 768, 512, 256, 128, 64]},
    ),
]
MODELS += EMBEDDING_MODELS

# Content beyond text and images that a model takes in its chat API, as its vendor documents it
# (read December 2026); the rest take neither (DeepSeek, Qwen Turbo/Plus/Max, GLM-4 Flash, Kimi K2,
# MiniMax M2 and Doubao 1.5 Pro are text-only chat models, or take files only through their own
# file APIs). Routing sends documents and audio only to models that take them (routing/policy.py).
CLAUDE_PDF = "https://platform.claude.com/docs/en/build-with-claude/pdf-support (all active models)"
OPENAI_PDF = (
    "https://developers.openai.com/api/docs/guides/file-inputs (Chat Completions: PDF file parts, "
    "on models with vision: gpt-4o and later)"
)
GEMINI_PDF = "https://ai.google.dev/gemini-api/docs/document-processing"
PDF_INPUT = {  # public id -> where it was read
    "anthropic/claude-sonnet-4": CLAUDE_PDF,
    "anthropic/claude-opus-4.6": CLAUDE_PDF,
    "anthropic/claude-haiku-4.5": CLAUDE_PDF,
    "openai/gpt-4o-mini": OPENAI_PDF,
    "openai/gpt-5.4": OPENAI_PDF,
    "google/gemini-2.5-pro": GEMINI_PDF,
    "google/gemini-2.5-flash": GEMINI_PDF,
}
# OpenAI's chat models take input_audio only as their audio snapshots (gpt-4o-audio-preview and
# the like, https://platform.openai.com/docs/guides/audio), not GPT-4o mini or GPT-5.4 ("text and
# image input", https://developers.openai.com/api/docs/models); Anthropic's Messages API has no
# audio block.
AUDIO_INPUT = {
    "google/gemini-2.5-pro": "https://ai.google.dev/gemini-api/docs/audio (32 tokens a second)",
    "google/gemini-2.5-flash": "https://ai.google.dev/gemini-api/docs/audio (32 tokens a second)",
}
for _row in MODELS:
    _row["supports_pdf_input"] = _row["public_id"] in PDF_INPUT
    _row["supports_audio_input"] = _row["public_id"] in AUDIO_INPUT

LMARENA = "https://lmarena.ai/leaderboard/text"
SWEBENCH = "https://www.swebench.com/ (Verified)"
WEBDEV = "https://lmarena.ai/leaderboard/webdev"

# public id -> (overall, coding, where each was read); typical answer lengths where not 500 tokens.
# Checked against the figures the vendors publish (December 2026): the coding ranks follow the
# SWE-bench Verified score written beside them. Where no figure was found, or one contradicts the
# rank, UNCONFIRMED says why (it is appended to the source); an operator decides in admin.
QUALITY = {
    "anthropic/claude-opus-4.6": (96, 96, f"overall: {LMARENA}; coding: {SWEBENCH} 80.8%"),
    "openai/gpt-5.4": (95, 91, f"overall: {LMARENA}; coding: {SWEBENCH}"),
    "google/gemini-2.5-pro": (90, 80, f"overall: {LMARENA}; coding: {SWEBENCH} 63.8%"),
    "anthropic/claude-sonnet-4": (86, 92, f"overall: {LMARENA}; coding: {SWEBENCH} 72.7%"),
    "moonshot/kimi-k2": (81, 82, f"overall: {LMARENA}; coding: {SWEBENCH} 69.2% (K2-0905)"),
    "deepseek/deepseek-reasoner": (81, 76, f"overall: {LMARENA}; coding: {SWEBENCH}"),
    "minimax/minimax-m2": (77, 84, f"overall: {LMARENA}; coding: {SWEBENCH} 69.4%"),
    "alibaba/qwen-max": (76, 66, f"overall: {LMARENA}; coding: {WEBDEV}"),
    "deepseek/deepseek-chat": (75, 72, f"overall: {LMARENA}; coding: {SWEBENCH}"),
    "google/gemini-2.5-flash": (75, 68, f"overall: {LMARENA}; coding: {SWEBENCH} 60.4%"),
    "anthropic/claude-haiku-4.5": (74, 92, f"overall: {LMARENA}; coding: {SWEBENCH} 73.3% (on a par with Sonnet 4)"),
    "qwen/qwen-plus": (69, 62, f"overall: {LMARENA}; coding: {WEBDEV}"),
    "bytedance/doubao-pro-256k": (66, 56, f"overall: {LMARENA}; coding: {WEBDEV}"),
    "openai/gpt-4o-mini": (58, 50, f"overall: {LMARENA}; coding: {WEBDEV}"),
    "qwen/qwen-turbo": (52, 44, f"overall: {LMARENA}; coding: {WEBDEV}"),
    "zhipu/glm-4-flash": (45, 38, f"overall: {LMARENA}; coding: {WEBDEV}"),
}
UNCONFIRMED = {
    "openai/gpt-5.4": "coding: no OpenAI SWE-bench Verified figure found (third-party tables say about 80%, "
    "which would rank it above Claude Sonnet 4's 72.7%)",
    "anthropic/claude-sonnet-4": "overall: a mid-2025 copy of the board ranks it below DeepSeek R1-0528, "
    "Gemini 2.5 Flash and DeepSeek V3-0324",
    "deepseek/deepseek-reasoner": "coding: 57.6% for R1-0528 (below Gemini 2.5 Flash), higher for the V3.x "
    "models the same API id later serves",
    "deepseek/deepseek-chat": "coding: 38.8% for V3-0324 (below Gemini 2.5 Flash), 66-68% for V3.1/V3.2, "
    "which the same API id later serves",
}
TYPICAL_OUTPUT = {"deepseek/deepseek-reasoner": 1_500, "openai/gpt-5.4": 800}

for _row in MODELS:
    if _row.get("kind") == "embedding":
        continue  # ranked for chat only
    _overall, _coding, _source = QUALITY[_row["public_id"]]
    if _row["public_id"] in UNCONFIRMED:
        _source += "; unconfirmed: " + UNCONFIRMED[_row["public_id"]]
    _row.update(
        quality_overall=_overall,
        quality_coding=_coding,
        quality_source=_source,
        typical_output_tokens=TYPICAL_OUTPUT.get(_row["public_id"], 500),
    )

# Routes are goals over pools (routing/policy.py orders the pool per request): name, goal,
# description, policy, options, pool in its static order (entries of tiered routes are
# (public id, tier)). Each pool holds a model with a long context window, for long prompts.
ROUTES: list[tuple[str, str, str, str, dict[str, Any], list[str | tuple[str, str]]]] = [
    (
        "auto",
        "Balance of cost & quality",
        "General chat and most tasks; the default when unsure.",
        "tiered",
        {"premium_threshold": 0.6, "default_quality": 0.5},
        [
            ("deepseek/deepseek-chat", "economy"),
            ("qwen/qwen-plus", "economy"),
            ("openai/gpt-4o-mini", "economy"),
            ("google/gemini-2.5-flash", "economy"),
            ("anthropic/claude-sonnet-4", "code"),
            ("openai/gpt-5.4", "premium"),
            ("google/gemini-2.5-pro", "premium"),
        ],
    ),
    (
        "auto-cheap",
        "Lowest possible price",
        "Batch processing and classification.",
        "cheapest",
        {},
        ["bytedance/doubao-pro-256k", "qwen/qwen-turbo", "deepseek/deepseek-chat", "google/gemini-2.5-flash"],
    ),
    (
        "auto-fast",
        "Fastest time-to-first-token",
        "Realtime chat, suggestions, autocomplete.",
        "fastest",
        {},
        ["qwen/qwen-turbo", "google/gemini-2.5-flash", "openai/gpt-4o-mini"],
    ),
    (
        "auto-code",
        "Best coding accuracy",
        "Writing and refactoring code, agentic workflows.",
        "code",
        {},
        ["anthropic/claude-sonnet-4", "openai/gpt-5.4", "deepseek/deepseek-chat"],
    ),
    (
        "auto-best",
        "Highest quality regardless of price",
        "High-stakes reasoning and analysis.",
        "best",
        {},
        ["anthropic/claude-opus-4.6", "openai/gpt-5.4", "google/gemini-2.5-pro"],
    ),
    (
        "auto-free",
        "Near-zero cost",
        "Demos, experiments and development scripts.",
        "free",
        {"price_cap_usd_micro_per_mtok": 250_000},
        ["zhipu/glm-4-flash", "qwen/qwen-turbo"],
    ),
]

# Fallback chains by provider family, as the product page shows them, and sensible ones for the rest.
FALLBACKS = {
    "openai": ["anthropic/claude-sonnet-4", "deepseek/deepseek-chat"],
    "anthropic": ["openai/gpt-5.4", "deepseek/deepseek-chat"],
    "deepseek": ["qwen/qwen-plus", "openai/gpt-4o-mini"],
    "qwen": ["deepseek/deepseek-chat", "openai/gpt-4o-mini"],
    "google": ["anthropic/claude-sonnet-4", "openai/gpt-5.4"],
    "zhipu": ["qwen/qwen-turbo", "deepseek/deepseek-chat"],
    "moonshot": ["deepseek/deepseek-chat", "qwen/qwen-plus"],
    "minimax": ["deepseek/deepseek-chat", "qwen/qwen-plus"],
    "bytedance": ["qwen/qwen-turbo", "deepseek/deepseek-chat"],
    "alibaba": ["qwen/qwen-plus", "deepseek/deepseek-chat"],
}


def snapshot():
    """The seed catalog as a routing snapshot, without a database (tests, the benchmark)."""
    from .catalog import ModelInfo, ProviderInfo, RouteInfo, Snapshot

    providers = {
        slug: ProviderInfo(
            slug=slug,
            name=name,
            wire_format=wire,
            base_url=base,
            credential_env=cred,
            quirks=PROVIDER_QUIRKS.get(slug, {}),
        )
        for slug, name, wire, base, cred in PROVIDERS
    }
    models = {}
    for i, row in enumerate(MODELS, start=1):
        models[row["public_id"]] = ModelInfo(
            id=i,
            public_id=row["public_id"],
            upstream_id=row["upstream_id"],
            display_name=row["display_name"],
            provider=providers[row["provider"]],
            input_price_usd_micro_per_mtok=row["input_price_usd_micro_per_mtok"],
            output_price_usd_micro_per_mtok=row["output_price_usd_micro_per_mtok"],
            cached_input_price_usd_micro_per_mtok=row["cached_input_price_usd_micro_per_mtok"],
            cache_write_price_usd_micro_per_mtok=row["cache_write_price_usd_micro_per_mtok"],
            cache_write_1h_price_usd_micro_per_mtok=row["cache_write_1h_price_usd_micro_per_mtok"],
            **{f: row[f] for f in LONG_FIELDS},
            context_window=row["context_window"],
            max_output_tokens=row["max_output_tokens"],
            supports_vision=row["supports_vision"],
            supports_pdf_input=row["supports_pdf_input"],
            supports_audio_input=row["supports_audio_input"],
            supports_tools=row["supports_tools"],
            supports_json_mode=row["supports_json_mode"],
            quirks=row["quirks"],
            quality_overall=row.get("quality_overall"),
            quality_coding=row.get("quality_coding"),
            typical_output_tokens=row.get("typical_output_tokens", 500),
            kind=row.get("kind", "chat"),
            dimensions=row.get("dimensions"),
            max_batch=row.get("max_batch_inputs"),
        )
    routes = {}
    for name, goal, description, policy, options, targets in ROUTES:
        pool = [t if isinstance(t, tuple) else (t, "") for t in targets]
        routes[name] = RouteInfo(
            name=name,
            goal=goal,
            description=description,
            targets=tuple(models[p] for p, _ in pool),
            policy=policy,
            tiers=tuple(t for _, t in pool),
            premium_threshold=options.get("premium_threshold", 0.5),
            default_quality=options.get("default_quality", 0.5),
            price_cap_usd_micro_per_mtok=options.get("price_cap_usd_micro_per_mtok"),
        )
    fallbacks = {slug: tuple(models[p] for p in chain) for slug, chain in FALLBACKS.items()}
    by_upstream = {m.upstream_id: m for m in models.values()}
    return Snapshot(models=models, by_upstream_id=by_upstream, routes=routes, fallbacks=fallbacks)
