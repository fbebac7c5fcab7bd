from .base import Adapter
from .openai_compat import OpenAICompatAdapter

_ADAPTERS: dict[str, Adapter] = {"openai": OpenAICompatAdapter()}


def register(wire_format: str, adapter: Adapter) -> None:
    _ADAPTERS[wire_format] = adapter


def adapter_for(wire_format: str) -> Adapter:
    try:
        return _ADAPTERS[wire_format]
    except KeyError:
        raise LookupError(f"No adapter for wire format {wire_format!r}") from None
