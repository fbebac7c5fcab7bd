"""Provider adapters: one small contract per wire format (see base.py)."""

from .base import Adapter, Completion, Target, Usage  # noqa: F401
from .registry import adapter_for  # noqa: F401
