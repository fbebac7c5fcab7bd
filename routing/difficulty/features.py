"""What the difficulty estimator reads of a request: the text of its last user turn, cut to a
fixed size, turned into a handful of lexical features. The same code serves the live gateway,
`manage.py score_prompts` and the training script, so what is trained is what runs.

The cost is bounded whatever the prompt's size: at most HEAD_CHARS from the start of the turn and
TAIL_CHARS from its end are read (the length itself is a feature, counted without reading).
"""

import math
import re

HEAD_CHARS = 1500
TAIL_CHARS = 500
MAX_TOKENS = 400  # words featurized, at most
_WORD = re.compile(r"\w+", re.UNICODE)
_CODE = re.compile(r"```|\bdef |\bclass |\bfunction\b|\bimport |#include|\breturn\b|=>|\{\s*$|;\s*$|</?\w+>",
                   re.MULTILINE)
_CODE_WORDS = frozenset({"code", "python", "javascript", "typescript", "java", "sql", "regex", "function",
                         "bug", "compile", "script", "html", "css", "api", "json", "bash", "rust", "golang",
                         "c++", "debug", "refactor", "algorithm", "implement", "program"})
_MATH = re.compile(r"[=+\-*/^√∑∫<>]|\d")


class Unassessable(Exception):
    """The request has no text the estimator can read (its reason is said to the caller)."""


def last_user_text(messages) -> tuple[str, int]:
    """(a bounded sample of the last user turn's text, the turn's full length in characters).

    Raises Unassessable when there is no user turn or it holds no text (image-only, tool-only,
    empty)."""
    if not isinstance(messages, list):
        raise Unassessable("no messages")
    for msg in reversed(messages):
        if not isinstance(msg, dict) or msg.get("role") != "user":
            continue
        content = msg.get("content")
        if isinstance(content, str):
            parts = [content]
        elif isinstance(content, list):
            parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"
                     and isinstance(p.get("text"), str)]
            if not parts:
                raise Unassessable("the last user turn has no text (image-only)")
        else:
            raise Unassessable("the last user turn has no text")
        total = sum(len(p) for p in parts)
        if total == 0 or not any(p.strip() for p in parts):
            raise Unassessable("the last user turn is empty")
        if total <= HEAD_CHARS + TAIL_CHARS:
            return (parts[0] if len(parts) == 1 else "\n".join(parts)), total
        head, tail = [], []
        need = HEAD_CHARS
        for p in parts:
            if need <= 0:
                break
            head.append(p[:need])
            need -= len(head[-1])
        need = TAIL_CHARS
        for p in reversed(parts):
            if need <= 0:
                break
            tail.append(p[-need:])
            need -= len(tail[-1])
        return "".join(head) + "\n" + "".join(reversed(tail)), total
    raise Unassessable("no user turn (tool-only)")


def looks_like_code(sample: str) -> bool:
    if _CODE.search(sample):
        return True
    lowered = sample[:HEAD_CHARS].lower()
    return any(w in _CODE_WORDS for w in _WORD.findall(lowered)[:MAX_TOKENS])


def featurize(sample: str, total_chars: int) -> dict[str, float]:
    """Sparse features of a sample: words, word pairs, and a few shape measures."""
    lowered = sample.lower()
    words = _WORD.findall(lowered)[:MAX_TOKENS]
    feats: dict[str, float] = {}
    for w in words:
        w = w[:24]
        feats["w:" + w] = 1.0
    for a, b in zip(words, words[1:]):
        feats["b:" + a[:24] + "_" + b[:24]] = 1.0
    n = len(words)
    scale = 1.0 / math.sqrt(max(len(feats), 1))
    feats = {k: v * scale for k, v in feats.items()}
    feats["len"] = math.log1p(total_chars) / 8.0
    feats["words"] = math.log1p(n) / 6.0
    lines = sample.count("\n")
    feats["lines"] = math.log1p(lines) / 4.0
    feats["questions"] = min(sample.count("?"), 5) / 5.0
    math_chars = len(_MATH.findall(sample))
    feats["math"] = min(math_chars / max(len(sample), 1) * 10, 1.0)
    feats["code"] = 1.0 if looks_like_code(sample) else 0.0
    feats["nonascii"] = min(sum(1 for c in sample[:500] if ord(c) > 127) / max(min(len(sample), 500), 1) * 4, 1.0)
    feats["bias"] = 1.0
    return feats
