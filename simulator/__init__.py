"""The provider simulator: a standalone asyncio (aiohttp) server that speaks the OpenAI, Anthropic and
Gemini wire formats, with configurable latency, streaming pace and injected faults. It needs no Django.

Start it with `python -m simulator --port 8001` or `python manage.py simulate_providers`
(options: --host, --port (0: a free one, printed), --latency-ms, --ttft-ms, --tokens-per-second,
--output-tokens, --chunks, --stream-ms); embed it with `simulator.server.make_app(config)`.

Endpoints (any model id is accepted and echoed back):
  POST /p/{provider}/<prefix>/chat/completions                       OpenAI format (Authorization: Bearer)
  POST /p/{provider}/<prefix>/messages                               Anthropic (x-api-key, anthropic-version)
  POST /p/{provider}/<prefix>/models/{model}:generateContent         Gemini (x-goog-api-key or ?key=)
  POST /p/{provider}/<prefix>/models/{model}:streamGenerateContent   ?alt=sse: SSE; otherwise a JSON array
  GET /health
  POST /_sim/faults {"target", "fault", "count": N|null, "probability": 0..1}; GET lists; DELETE clears;
  DELETE /_sim/faults/{id}; GET /_sim/stats, DELETE /_sim/stats; POST /_sim/reset (faults, stats, cache)

Request headers (the server's options are the defaults):
  x-sim-latency-ms        delay before the response starts (streams: before the headers)
  x-sim-ttft-ms           streams: delay between the headers and the first content chunk
  x-sim-chunks            streams: how many chunks the reply text is cut into (default: one a word)
  x-sim-stream-ms         streams: time over which the content chunks are spread evenly
  x-sim-tokens-per-second streams: pace by tokens instead
  x-sim-output-tokens     completion tokens of a text reply (default: 20 to 40)
  x-sim-finish            stop | length | tool_calls | content_filter, in each vendor's own words
  x-sim-no-usage: 1       report no usage at all
  x-sim-cached-tokens     prompt tokens reported as cached (OpenAI, Gemini; Anthropic without cache_control)
  x-sim-prompt-tokens     the prompt tokens to report (all formats), instead of the count of the request's own
  x-sim-reasoning-tokens  reasoning tokens (default 24 for models whose id has "reasoner" or "r1")
  x-sim-parallel-tools: 1 call the first two tools at once (when the request allows parallel calls)
  x-sim-stop-field        OpenAI format: name the matched stop sequence in the choice as vLLM
                          (stop_reason) or SGLang (matched_stop) do
  x-sim-fault             a fault spec, or rules `target=spec;target=spec` (see faults.py)
"""
