"""The OpenAI-format adapter keeps its upstream connections: streams and whole answers from the
provider simulator, one after the other, on one connection."""

from routing import httpclient
from routing.adapters.base import Target
from routing.adapters.openai_compat import OpenAICompatAdapter

from .conftest import catalog_model

HELLO = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


async def test_the_adapter_streams_from_the_simulator_on_one_connection(simulator_url, monkeypatch):
    opened = []
    connect = httpclient.Client._connect

    async def counting(self, origin):
        opened.append(origin)
        return await connect(self, origin)

    monkeypatch.setattr(httpclient.Client, "_connect", counting)
    base = simulator_url + "/p/deepseek/v1"
    t = Target(model=catalog_model("openai", "deepseek-chat", base), base_url=base, api_key="simulated")
    adapter = OpenAICompatAdapter()
    for _ in range(3):
        chunks = [c async for c in adapter.stream(None, t, HELLO)]
        assert chunks[-1]["usage"]["completion_tokens"] > 0
        done = await adapter.complete(None, t, HELLO)
        assert done.body["choices"][0]["message"]["content"]
    assert len(opened) == 1
