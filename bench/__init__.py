"""AIPower's benchmark: the gateway's added latency, throughput on one core, streaming behaviour,
memory and failover cost, each measured against a direct-to-simulator baseline in the same run.

Run it with `make bench` (or `.venv/bin/python -m bench --quick` for a smoke run); see bench/README.md.
"""
