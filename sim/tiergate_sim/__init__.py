"""`tiergate sim`: an OpenAI-compatible upstream for tests, the demo, benchmarks and kind.

It answers like vLLM's OpenAI server (chat and text completions, streaming, /v1/models,
/health, /metrics) with fake text, tool calls, schema-shaped JSON and placeholder logprobs,
schedules like vLLM under load (`--max-num-seqs`, a FIFO queue, a KV cache of blocks with
prefix caching and a prefill time), and misbehaves on request: latency (`ttft_ms`,
`tokens_per_second`), 500s, 429s with Retry-After, hangs and cut streams, drawn from seeded
rates or forced per request by headers. An admin API changes the knobs at run time and
reports what arrived, so tests can check what a gateway forwarded.

Modules, from the bottom up:
- `knobs`: `SimConfig` (identity, `EngineConfig`) and `Knobs` (run-time settings) with their validation;
- `_errors`: the refusal exception; `_textgen`: fake tokens and prompt sizes;
- `_schema`: a bounded placeholder instance of a JSON schema; `_logprobs`: placeholder logprobs;
- `_shape`: tools, response_format and logprobs -> `Shape`; `_requests`: request body -> `Plan`;
- `_wire`: OpenAI's JSON and SSE shapes (plain answers, byte templates); `_shaped_wire`: the
  same for answers with a `Shape`; `_faults`: fault draws; `_stats`: what was seen;
- `_kvcache`: KV-cache blocks, prefix hashes and eviction (pure); `_engine`: the scheduler
  (slots, FIFO queue, admission); `_metrics`: the `/metrics` exposition with vLLM's names;
- `app`: the ASGI app (`create_app`); `server`: uvicorn wiring; `cli`: flags and `run`;
- `process`: start a simulator as a subprocess (tests, demo, benchmarks).

Nothing is imported here, so `tiergate --help` does not pay for the server.
"""
