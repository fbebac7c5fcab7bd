"""Simulated embeddings: OpenAI's POST .../embeddings and Gemini's :batchEmbedContents.

Each vector is deterministic for (model, input, dimensions) and of unit length; its size is the
request's `dimensions` / `outputDimensionality`, else the model's own (DEFAULT_DIMENSIONS).
"""

import hashlib
import math
import random

from .content import estimate_text_tokens
from .wire import VendorError, dumps

DEFAULT_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
    "gemini-embedding-001": 3072,
    "text-embedding-v3": 1024,
}


def vector(model: str, text: str, dimensions: int) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(f"{model}\0{dimensions}\0{text}".encode()).digest()[:8], "big")
    rng = random.Random(seed)
    values = [rng.uniform(-1.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


def _dimensions(model: str, asked) -> int:
    if asked is None:
        return DEFAULT_DIMENSIONS.get(model, 1536)
    if not isinstance(asked, int) or isinstance(asked, bool) or not 1 <= asked <= 4096:
        raise VendorError(400, "dimensions must be an integer between 1 and 4096.", param="dimensions")
    return asked


def openai_embeddings(body, model: str | None) -> bytes:
    if not isinstance(body, dict) or not model:
        raise VendorError(400, "you must provide a model parameter", param="model")
    raw = body.get("input")
    if isinstance(raw, str) or (isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw)):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise VendorError(
            400, "'input' must be a string, an array of strings or an array of token arrays.", param="input"
        )
    dims = _dimensions(model, body.get("dimensions"))
    data, tokens = [], 0
    for i, item in enumerate(raw):
        if isinstance(item, str):
            text, tokens = item, tokens + max(estimate_text_tokens(item), 1)
        elif isinstance(item, list) and item and all(isinstance(t, int) for t in item):
            text, tokens = " ".join(map(str, item)), tokens + len(item)
        else:
            raise VendorError(400, f"'input[{i}]' must be a non-empty string or token array.", param="input")
        data.append({"object": "embedding", "index": i, "embedding": vector(model, text, dims)})
    return dumps(
        {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
    )


def gemini_batch_embed(body, model: str) -> bytes:
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not requests:
        raise VendorError(400, "requests: at least one request is required")
    out = []
    for i, req in enumerate(requests):
        parts = ((req.get("content") or {}).get("parts") if isinstance(req, dict) else None) or []
        text = "".join(p.get("text", "") for p in parts if isinstance(p, dict))
        if not text:
            raise VendorError(400, f"requests[{i}].content: text is required")
        dims = _dimensions(model, req.get("outputDimensionality"))
        out.append({"values": vector(model, text, dims)})
    return dumps({"embeddings": out})
