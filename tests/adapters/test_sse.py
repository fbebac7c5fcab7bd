from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.adapters.sse import iter_sse


async def _chunks(*chunks: bytes):
    for c in chunks:
        yield c


async def parse(*chunks: bytes) -> list[tuple[str | None, str]]:
    return [ev async for ev in iter_sse(_chunks(*chunks))]


async def test_it_reads_data_only_events():
    assert await parse(b'data: {"a":1}\n\ndata: [DONE]\n\n') == [(None, '{"a":1}'), (None, "[DONE]")]


async def test_it_reads_named_events_as_anthropic_sends_them():
    stream = b'event: message_start\ndata: {"type":"message_start"}\n\nevent: ping\ndata: {"type": "ping"}\n\n'
    assert await parse(stream) == [("message_start", '{"type":"message_start"}'), ("ping", '{"type": "ping"}')]


async def test_it_reads_crlf_events_as_gemini_sends_them():
    assert await parse(b'data: {"x":1}\r\n\r\ndata: {"x":2}\r\n\r\n') == [(None, '{"x":1}'), (None, '{"x":2}')]


async def test_it_reads_cr_only_line_ends():
    assert await parse(b"event: a\rdata: 1\r\rdata: 2\r\r") == [("a", "1"), (None, "2")]


async def test_it_joins_multi_line_data_with_newlines():
    assert await parse(b"data: first\ndata: second\ndata:third\n\n") == [(None, "first\nsecond\nthird")]


async def test_it_ignores_comments_ids_retries_and_unknown_fields():
    stream = b": keep-alive\n\nid: 7\nretry: 1000\nfoo: bar\ndata: x\n: inline comment\n\n"
    assert await parse(stream) == [(None, "x")]


async def test_it_does_not_dispatch_events_without_data():
    assert await parse(b"event: ping\n\n: comment\n\ndata: y\n\n") == [(None, "y")]


async def test_it_keeps_an_empty_data_line():
    assert await parse(b"data\n\ndata:\n\n") == [(None, ""), (None, "")]


async def test_it_drops_only_one_space_after_the_colon():
    assert await parse(b"data:  two spaces\n\n") == [(None, " two spaces")]


async def test_it_yields_an_unterminated_last_event():
    assert await parse(b"data: a\n\ndata: b\n") == [(None, "a"), (None, "b")]
    assert await parse(b"data: c") == [(None, "c")]


async def test_it_skips_extra_blank_lines_and_a_byte_order_mark():
    assert await parse(b"\xef\xbb\xbfdata: a\n\n\n\ndata: b\n\n") == [(None, "a"), (None, "b")]


async def test_it_handles_a_crlf_split_across_reads():
    assert await parse(b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n") == [(None, "a"), (None, "b")]


async def test_it_decodes_utf8_split_across_reads():
    raw = "data: héllo 世界\n\n".encode()
    assert await parse(*(raw[i : i + 1] for i in range(len(raw)))) == [(None, "héllo 世界")]


STREAMS = [
    b'event: message_start\ndata: {"type":"message_start"}\n\nevent: ping\ndata: {}\n\n',
    b'data: {"candidates":[]}\r\n\r\ndata: {"candidates":[1]}\r\n\r\n',
    b": c\n\ndata: a\ndata: b\n\nevent: e\rdata: c\r\r",
]


@pytest.mark.parametrize("stream", STREAMS)
@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=8))
async def test_it_parses_the_same_however_the_bytes_are_split(stream, cuts):
    whole = await parse(stream)
    points = sorted({c % (len(stream) + 1) for c in cuts})
    pieces = [stream[a:b] for a, b in pairwise([0, *points, len(stream)])]
    assert await parse(*pieces) == whole
