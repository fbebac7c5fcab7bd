from .anthropic import AnthropicAdapter
from .base import Adapter
from .gemini import GeminiAdapter
from .openai_compat import OpenAICompatAdapter

_ADAPTERS: dict[str, Adapter] = {
    "openai": OpenAICompatAdapter(),
    "anthropic": AnthropicAdapter(),
    "gemini": GeminiAdapter(),
}


def adapter_for(wire_format: str) -> Adapter:
    try:
        return _ADAPTERS[wire_format]
    except KeyError:
        raise LookupError(f"No adapter for wire format {wire_format!r}") from None
