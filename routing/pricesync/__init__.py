"""Price and model sync from public price lists (LiteLLM's price map, OpenRouter's model list).

`formats` parses a payload into entries (exact Decimal to integer micro-USD per 1M tokens),
`guardrails` decides what a sync may apply on its own, `sync` runs it against the catalog and
records the run, `sources` fetches payloads. `manage.py sync_prices` and the Celery beat task
`routing.tasks.sync_prices` call `sync.run_configured` / `sync.run_source`.
"""
