"""AIPower's benchmark: the gateway's added latency, throughput on one core, streaming behaviour,
memory, failover cost and the cost of a candidate skipped for an open circuit breaker, each measured
against a baseline taken in the same run.

Run it with `make bench` (or `.venv/bin/python -m bench --quick` for a smoke run); see bench/README.md.
"""
