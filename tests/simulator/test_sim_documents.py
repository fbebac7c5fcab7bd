"""The simulator counts documents and audio the way each vendor says it does: a PDF page as its text
plus an image of it (Claude, OpenAI) or 258 tokens (Gemini), audio at 32 tokens a second."""

from simulator.content import (
    AUDIO_TOKENS_PER_SECOND,
    GEMINI_TOKENS_PER_PDF_PAGE,
    TOKENS_PER_PDF_PAGE,
    estimate_prompt_tokens,
)
from tests.media import audio_part, pdf, pdf_part, wav
from tests.simulator.helpers import ANTHROPIC_HEADERS

ASK = "Summarize."  # 10 characters


async def test_openai_format_counts_pdf_pages_and_audio(sim):
    content = [{"type": "text", "text": ASK}, pdf_part(4), audio_part(3)]
    status, _, body = await sim.openai({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]})
    assert status == 200
    assert "I read 4 PDF pages and 1 audio clip." in body["choices"][0]["message"]["content"]
    media = 4 * TOKENS_PER_PDF_PAGE + 3 * AUDIO_TOKENS_PER_SECOND
    assert body["usage"]["prompt_tokens"] == estimate_prompt_tokens(chars=10, messages=1, media_tokens=media)


async def test_anthropic_format_counts_document_pages_and_count_tokens_agrees(sim):
    block = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": pdf(5)}}
    content = [block, {"type": "text", "text": ASK}]
    ask = {"model": "claude-haiku-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": content}]}
    status, _, body = await sim.anthropic(ask)
    assert status == 200 and "I read 5 PDF pages." in body["content"][0]["text"]
    expected = estimate_prompt_tokens(chars=10, messages=1, media_tokens=5 * TOKENS_PER_PDF_PAGE)
    assert body["usage"]["input_tokens"] == expected
    del ask["max_tokens"]
    _, _, counted = await sim.post("/p/anthropic/v1/messages/count_tokens", ask, ANTHROPIC_HEADERS)
    assert counted == {"input_tokens": expected}


async def test_gemini_format_counts_258_a_page_and_32_a_second(sim):
    parts = [
        {"text": ASK},
        {"inlineData": {"mimeType": "application/pdf", "data": pdf(3)}},
        {"inlineData": {"mimeType": "audio/wav", "data": wav(10)}},
    ]
    _, _, out = await sim.gemini("gemini-2.5-flash", {"contents": [{"role": "user", "parts": parts}]})
    assert "I read 3 PDF pages and 1 audio clip." in out["candidates"][0]["content"]["parts"][0]["text"]
    usage = out["usageMetadata"]
    documents, audio = 3 * GEMINI_TOKENS_PER_PDF_PAGE, 10 * AUDIO_TOKENS_PER_SECOND
    assert usage["promptTokenCount"] == estimate_prompt_tokens(chars=10, messages=1, media_tokens=documents + audio)
    details = {d["modality"]: d["tokenCount"] for d in usage["promptTokensDetails"]}
    assert details == {"TEXT": usage["promptTokenCount"] - documents - audio, "DOCUMENT": documents, "AUDIO": audio}
