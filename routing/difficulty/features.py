"""What the difficulty estimator reads of a request: the text of its last user turn, cut to a
fixed size, turned into a handful of lexical features. The same code serves the live gateway,
`manage.py score_prompts` and the training script, so what is trained is what runs.

The cost is bounded whatever the prompt's size: at most HEAD_CHARS from the start of the turn and
TAIL_CHARS from its end are read (the length itself is a feature, counted without reading).
"""

import math
import re
from itertools import pairwise

HEAD_CHARS = 1500
TAIL_CHARS = 500
MAX_TOKENS = 300  # words featurized, at most
_WORD = re.compile(r"\w+", re.UNICODE)
# Substrings that mark code (substring tests: a regex alternation over the sample costs 100x more).
_CODE_MARKS = ("```", "def ", "#include", "=>", "{\n", ";\n", "</", "/>", "()", "function(", "):\n", "== ")
_CODE_WORDS = frozenset(
    {
        "code",
        "python",
        "javascript",
        "typescript",
        "java",
        "sql",
        "regex",
        "function",
        "bug",
        "compile",
        "script",
        "html",
        "css",
        "api",
        "json",
        "bash",
        "rust",
        "golang",
        "debug",
        "refactor",
        "algorithm",
        "implement",
        "program",
    }
)
_NOT_MATH = str.maketrans("", "", "=+-*/^<>0123456789")


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
            parts = [
                p["text"]
                for p in content
                if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
            ]
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
    raise Unassessable("no user turn (only system, assistant or tool messages)")


def analyse(sample: str, total_chars: int) -> tuple[frozenset, dict[str, float], bool]:
    """(word and word-pair keys, shape measures, looks like code) of a sample. The keys weigh
    1/sqrt(their number) each, so that long and short prompts weigh alike."""
    words = _WORD.findall(sample.lower())[:MAX_TOKENS]
    words = [w[:24] for w in words]
    keys = {"w:" + w for w in words}
    keys.update(["b:" + a + "_" + b for a, b in pairwise(words)])
    code = any(mark in sample for mark in _CODE_MARKS) or not _CODE_WORDS.isdisjoint(words)
    head = sample[:500]
    dense = {
        "len": math.log1p(total_chars) / 8.0,
        "words": math.log1p(len(words)) / 6.0,
        "lines": math.log1p(sample.count("\n")) / 4.0,
        "questions": min(sample.count("?"), 5) / 5.0,
        "math": min((len(sample) - len(sample.translate(_NOT_MATH))) / max(len(sample), 1) * 10, 1.0),
        "code": 1.0 if code else 0.0,
        "nonascii": min((len(head) - len(head.encode("ascii", "ignore"))) / max(len(head), 1) * 4, 1.0),
        "bias": 1.0,
    }
    return frozenset(keys), dense, code


def featurize(sample: str, total_chars: int) -> dict[str, float]:
    """Sparse features of a sample (the training script's view of what `analyse` gives)."""
    keys, dense, _ = analyse(sample, total_chars)
    scale = 1.0 / math.sqrt(max(len(keys) + len(dense), 1))
    feats = dict.fromkeys(sorted(keys), scale)
    feats.update(dense)
    return feats
