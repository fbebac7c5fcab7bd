"""Scores prompts offline exactly as the gateway would route them: JSON lines in, JSON lines out.

    python manage.py score_prompts --route auto < prompts.jsonl > scores.jsonl

Each input line is {"id": ..., "messages": [...]} (optionally "max_tokens", "tools", ...: any
chat-completions field). Each output line is {"id", "model" (the public id it would call first),
"difficulty" (0-1, higher = a stronger model is more needed; null when the route does not
estimate it or the prompt has nothing to assess), "tier", "reason"}. A line that cannot be scored
gets {"id", "error"} and the command exits 1 at the end. No upstream call, no charge.
"""

import sys

import orjson
from django.core.management.base import BaseCommand, CommandError

from routing.catalog import load_snapshot
from routing.errors import GatewayError
from routing.explain import explain_body
from routing.smart import QUALITY_HEADER


class Command(BaseCommand):
    help = "Scores JSON-lines prompts from stdin as a route would (model, difficulty, tier, reason)."

    def add_arguments(self, parser):
        parser.add_argument("--route", default="auto", help="the route (or model) to plan for; default auto")
        parser.add_argument(
            "--quality",
            type=float,
            default=None,
            help="the quality trade-off, 0 (cheapest) to 1 (best); default: the route's",
        )

    def handle(self, *args, route="auto", quality=None, **options):
        snapshot = load_snapshot()
        if route not in snapshot.routes and snapshot.resolve_model(route) is None:
            raise CommandError(f"No route or model named {route!r}. Routes: {', '.join(sorted(snapshot.routes))}.")
        headers = {QUALITY_HEADER: str(quality)} if quality is not None else {}
        stdin = options.get("stdin") or sys.stdin.buffer
        out = self.stdout
        failed = 0
        for n, line in enumerate(stdin, start=1):
            if not line.strip():
                continue
            row_id = None
            try:
                row = orjson.loads(line)
                if not isinstance(row, dict):
                    raise GatewayError(400, "each line must be a JSON object", "invalid_request_error")
                row_id = row.get("id", n)
                body = {k: v for k, v in row.items() if k != "id"}
                body["model"] = route
                report = explain_body(body, snapshot, headers=headers)
                result = {
                    "id": row_id,
                    "model": report["model"],
                    "difficulty": report["difficulty"],
                    "tier": report["tier"],
                    "reason": report["reason"],
                }
            except orjson.JSONDecodeError as exc:
                failed += 1
                result = {"id": row_id, "error": f"line {n} is not valid JSON: {exc}"}
            except GatewayError as exc:
                failed += 1
                result = {"id": row_id, "error": exc.message}
            out.write(orjson.dumps(result).decode())
        if failed:
            raise CommandError(f"{failed} line(s) could not be scored (see their 'error').", returncode=1)
