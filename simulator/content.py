"""What the simulated models say, and how many tokens it costs. Pure functions, no I/O.

Token counts are a deterministic estimate (about four characters a token), the same one the gateway
may use to count tokens itself when an upstream reports no usage: `estimate_text_tokens` over the
reply's text gives exactly the completion tokens the simulator reports for it.
"""

import binascii
import re
import zlib
from dataclasses import dataclass, field

import orjson

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4  # role and framing overhead of each message (or system prompt)
TOKENS_PER_IMAGE = 85
TOKENS_PER_REQUEST = 3  # priming of the assistant's reply
# Documents and audio, counted the way the vendors say they count them. A PDF page on Claude and
# OpenAI: its extracted text (Claude: 1,500-3,000 tokens a page; the simulator takes the low end)
# plus an image of the page; on Gemini an image only, 258 tokens (ai.google.dev/gemini-api/docs/
# document-processing). Audio: 32 tokens a second (ai.google.dev/gemini-api/docs/audio), its
# length read from a WAV header, else taken at 128 kbit/s (MP3).
TOKENS_PER_PDF_PAGE = 1_500 + TOKENS_PER_IMAGE
GEMINI_TOKENS_PER_PDF_PAGE = 258
AUDIO_TOKENS_PER_SECOND = 32
_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")

# Four characters each (a space and three letters), so every filler word adds exactly one token.
_FILLER = (
    " owl",
    " fox",
    " map",
    " key",
    " sun",
    " oak",
    " ink",
    " jam",
    " cup",
    " bee",
    " elk",
    " fig",
    " gem",
    " hat",
    " ivy",
    " jar",
    " kit",
    " log",
    " mud",
    " net",
    " orb",
    " pen",
    " rug",
    " tea",
    " urn",
    " van",
    " web",
    " yak",
    " zip",
    " sky",
    " sea",
    " bay",
)
# After an intro of 4k+r characters, a word of 8-r characters ends the first filler token exactly.
_FIRST_WORD = {1: " indeed", 2: " hello", 3: " well"}


def estimate_text_tokens(text: str) -> int:
    """Tokens in a piece of text: one per four characters, rounded up."""
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def estimate_prompt_tokens(*, chars: int, messages: int, images: int = 0, media_tokens: int = 0) -> int:
    """Tokens of a whole prompt: `chars` characters of text over all messages, the system prompt and
    the tool definitions; `messages` messages (the system prompt counts as one); `images` images;
    `media_tokens` of documents and audio (pdf_pages, audio_tokens)."""
    return (
        (chars + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN
        + messages * TOKENS_PER_MESSAGE
        + images * TOKENS_PER_IMAGE
        + media_tokens
        + TOKENS_PER_REQUEST
    )


def _decoded(b64) -> bytes:
    if not isinstance(b64, str):
        return b""
    if b64.startswith("data:"):
        b64 = b64.partition(",")[2]
    try:
        return binascii.a2b_base64(b64)
    except (binascii.Error, ValueError):
        return b""


def pdf_pages(b64) -> int:
    """Pages of a base64 PDF (raw or a data: URL): its page objects, at least one."""
    return max(len(_PDF_PAGE.findall(_decoded(b64))), 1)


def audio_tokens(b64) -> int:
    """Tokens of a base64 audio clip at AUDIO_TOKENS_PER_SECOND (at least one)."""
    raw = _decoded(b64)
    byte_rate = 16_000  # 128 kbit/s
    if raw[:4] == b"RIFF" and raw[8:12] == b"WAVE" and len(raw) >= 44:
        byte_rate = int.from_bytes(raw[28:32], "little") or byte_rate
        raw = raw[44:]
    return max(len(raw) * AUDIO_TOKENS_PER_SECOND // byte_rate, 1)


def estimate_completion_tokens(text: str = "", reasoning: str = "", tool_calls=()) -> int:
    """Tokens of an answer: its text, its reasoning, and each tool call's name and JSON arguments."""
    n = estimate_text_tokens(text) + estimate_text_tokens(reasoning)
    for name, arguments in tool_calls:
        n += estimate_text_tokens(name) + estimate_text_tokens(arguments)
    return n


def seed_of(text: str) -> int:
    """A stable (across processes) number drawn from the prompt, to vary replies deterministically."""
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))


def filler_text(intro: str, n_tokens: int, seed: int) -> str:
    """`intro` padded with filler words (or cut) so that estimate_text_tokens(result) == n_tokens."""
    if n_tokens <= 0:
        return ""
    intro_tokens = estimate_text_tokens(intro)
    if intro_tokens >= n_tokens:
        # Cut to exactly n_tokens tokens: between 4(n-1)+1 and 4n characters.
        return intro[: n_tokens * CHARS_PER_TOKEN]
    # A first word that ends on a whole token (it takes one token), then 4-character words.
    rem = len(intro) % CHARS_PER_TOKEN
    words = [_FIRST_WORD[rem] if rem else _FILLER[seed % len(_FILLER)]]
    words += [_FILLER[(seed + i * 7) % len(_FILLER)] for i in range(1, n_tokens - intro_tokens)]
    return intro + "".join(words)


def default_reply_tokens(intro: str, seed: int) -> int:
    """A short reply: 20 to 40 tokens, and never shorter than the intro plus a few words."""
    return max(estimate_text_tokens(intro) + 4, 20 + seed % 21)


def split_words(text: str) -> list[str]:
    """Pieces of about one token each (a word with its leading space), for streaming."""
    pieces: list[str] = []
    start = 0
    n = len(text)
    for i in range(1, n):
        if text[i] == " " and i - start >= 1:
            pieces.append(text[start:i])
            start = i
    if start < n:
        pieces.append(text[start:])
    return pieces


def split_even(text: str, n: int) -> list[str]:
    """`text` cut into `n` pieces of nearly equal length (fewer if the text is shorter than n)."""
    if not text:
        return []
    n = max(1, min(n, len(text)))
    size, extra = divmod(len(text), n)
    pieces, pos = [], 0
    for i in range(n):
        step = size + (1 if i < extra else 0)
        pieces.append(text[pos : pos + step])
        pos += step
    return pieces


def split_fixed(text: str, size: int = 10) -> list[str]:
    """`text` cut into pieces of `size` characters (tool-call arguments stream this way)."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# --- JSON schema instances -------------------------------------------------------------------------


def _resolve(schema: dict, root: dict) -> dict:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node = root
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        return node if isinstance(node, dict) else {}
    return schema


def schema_instance(schema, name: str = "value", *, all_properties: bool = True, _root=None, _depth=0):
    """A value that satisfies a simple JSON schema (or Gemini's OpenAPI subset, whose type names are
    upper case): objects, arrays, strings, numbers, integers, booleans, enums, consts, $ref, anyOf.
    Objects get their required properties, and all of them when `all_properties`."""
    if not isinstance(schema, dict):
        return f"sample {name}"
    root = _root if _root is not None else schema
    schema = _resolve(schema, root)
    if _depth > 8:
        return None
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            non_null = [o for o in options if not (isinstance(o, dict) and str(o.get("type", "")).lower() == "null")]
            return schema_instance(
                (non_null or options)[0], name, all_properties=all_properties, _root=root, _depth=_depth + 1
            )
    type_ = schema.get("type")
    if isinstance(type_, list):
        type_ = next((t for t in type_ if str(t).lower() != "null"), "null")
    type_ = str(type_).lower() if type_ else ("object" if "properties" in schema else "string")
    if type_ == "object":
        props = schema.get("properties") or {}
        required = schema.get("required") or []
        keys = list(props) if all_properties else [k for k in props if k in required]
        if not keys and not all_properties and props:
            keys = [next(iter(props))]
        return {
            k: schema_instance(props[k], k, all_properties=all_properties, _root=root, _depth=_depth + 1) for k in keys
        }
    if type_ == "array":
        count = max(1, int(schema.get("minItems") or 1))
        items = schema.get("items") or {"type": "string"}
        return [
            schema_instance(items, name, all_properties=all_properties, _root=root, _depth=_depth + 1)
            for _ in range(count)
        ]
    if type_ == "integer":
        return int(schema.get("minimum", 1))
    if type_ == "number":
        return float(schema.get("minimum", 1.5))
    if type_ == "boolean":
        return True
    if type_ == "null":
        return None
    return f"sample {name}"


# --- the answer ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Ask:
    """What a request asks of the model, whatever its wire format."""

    model: str
    prompt_tokens: int
    seed: int = 0
    images: int = 0
    pages: int = 0  # of PDF documents
    audio: int = 0  # audio clips
    tools: list = field(default_factory=list)  # [(name, parameters JSON schema)]
    tool_choice: str = "auto"  # auto | none | required | the name of one tool
    parallel_tools_allowed: bool = True
    tool_result: str | None = None  # the last message's tool result, when it is one
    json_mode: object = None  # None | "object" | a JSON schema (dict)
    max_tokens: int | None = None
    stop: tuple = ()  # the caller's stop sequences


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text
    input: dict


@dataclass(slots=True)
class Reply:
    text: str
    reasoning: str
    tool_calls: list
    finish: str  # stop | length | tool_calls | content_filter
    completion_tokens: int  # all output tokens, reasoning included
    reasoning_tokens: int
    stop_sequence: str | None = None  # the caller's stop sequence the text ended at, if any


def cut_at_stop(text: str, stops) -> tuple[str, str | None]:
    """`text` up to the first of `stops` generated in it (the one whose end comes first, as a model
    writing left to right meets it), that stop sequence left out as vendors do; (text, None) when
    none occurs."""
    best: tuple[int, int, str] | None = None  # (end, start, stop)
    for stop in stops:
        start = text.find(stop) if stop else -1
        if start >= 0 and (best is None or (start + len(stop), start) < best[:2]):
            best = (start + len(stop), start, stop)
    if best is None:
        return text, None
    return text[: best[1]], best[2]


def tools_to_call(ask: Ask, parallel_header: bool) -> list:
    """[(name, schema)] of the tools the model calls now, or [] when it answers in text."""
    if not ask.tools or ask.tool_choice == "none" or ask.tool_result is not None:
        return []
    if ask.tool_choice not in ("auto", "required"):
        named = [t for t in ask.tools if t[0] == ask.tool_choice]
        return named[:1] or ask.tools[:1]
    if parallel_header and ask.parallel_tools_allowed and len(ask.tools) >= 2:
        return ask.tools[:2]
    return ask.tools[:1]


def build_reply(
    ask: Ask,
    *,
    output_tokens: int | None = None,
    reasoning_tokens: int = 0,
    finish: str | None = None,
    parallel_tools: bool = False,
    id_prefix: str = "call_",
    new_id=None,
) -> Reply:
    """The simulated model's answer to `ask`. Deterministic for the same request and controls (but
    tool-call ids, which come from `new_id`)."""
    model = ask.model
    reasoning = ""
    if reasoning_tokens > 0:
        reasoning = filler_text(f"Thinking about how {model} should answer.", reasoning_tokens, ask.seed + 1)
    calls = tools_to_call(ask, parallel_tools)
    if calls:
        tool_calls = []
        for i, (name, schema) in enumerate(calls):
            args = schema_instance(schema or {"type": "object"}, name, all_properties=False)
            if not isinstance(args, dict):
                args = {}
            tool_calls.append(
                ToolCall(
                    id=f"{id_prefix}{new_id() if new_id else i}",
                    name=name,
                    arguments=orjson.dumps(args).decode(),
                    input=args,
                )
            )
        completion = estimate_completion_tokens("", reasoning, [(t.name, t.arguments) for t in tool_calls])
        return Reply("", reasoning, tool_calls, finish or "tool_calls", completion, estimate_text_tokens(reasoning))

    if ask.json_mode is not None:
        if ask.json_mode == "object":
            obj = {"model": model, "reply": f"Simulated reply from {model}", "ok": True}
        else:
            obj = schema_instance(ask.json_mode, "value", all_properties=True)
        text = orjson.dumps(obj).decode()
        done = finish or "stop"
    else:
        if ask.tool_result is not None:
            result = ask.tool_result if len(ask.tool_result) <= 200 else ask.tool_result[:200] + "..."
            intro = f"Simulated reply from {model}: the tool returned {result}"
        elif ask.pages or ask.audio:
            heard = [plural(ask.pages, "PDF page")] if ask.pages else []
            heard += [plural(ask.audio, "audio clip")] if ask.audio else []
            intro = f"Simulated reply from {model}: I read {' and '.join(heard)}."
        elif ask.images:
            intro = f"Simulated reply from {model}: I see {plural(ask.images, 'image')}."
        else:
            intro = f"Simulated reply from {model}:"
        n = output_tokens if output_tokens is not None else default_reply_tokens(intro, ask.seed)
        done = finish or "stop"
        if ask.max_tokens is not None and ask.max_tokens >= 0 and n > ask.max_tokens:
            n = ask.max_tokens
            done = finish or "length"
        text = filler_text(intro, n, ask.seed)
    matched = None
    if finish is None and ask.stop:  # a forced finish (x-sim-finish) wins over the stop sequences
        text, matched = cut_at_stop(text, ask.stop)
        done = "stop" if matched is not None else done
    completion = estimate_completion_tokens(text, reasoning)
    return Reply(text, reasoning, [], done, completion, estimate_text_tokens(reasoning), matched)
