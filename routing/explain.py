"""`POST /v1/route/explain`: the plan a chat-completions body would get, without calling any
upstream or charging: the ordered candidates, why each is where it is or was left out, and what
each would cost (estimated prompt tokens, expected output, the organization's markup).

`plan_report` is also what `manage.py score_prompts` prints from, so offline scoring and the live
gateway take the same path."""

import orjson

from billing import reservations

from . import policy, smart
from .api_types import ApiResponse
from .catalog import Snapshot, get_snapshot
from .errors import GatewayError
from .goals import estimated_cost_nusd, expected_output_tokens
from .request import Features, parse_body, validate


def plan_report(p: policy.Plan, f: Features, *, requested: str, markup_bp: int) -> dict:
    return {
        "object": "route.plan",
        "requested_model": requested,
        "route": p.route,
        "model": p.candidates[0].public_id,
        "reason": p.reason,
        "difficulty": p.difficulty,
        "tier": p.tier,
        "prompt_tokens_estimate": f.prompt_tokens,
        "markup_bp": markup_bp,
        "candidates": [
            {
                "position": i + 1,
                "model": m.public_id,
                "provider": m.provider.slug,
                "why": why,
                "expected_output_tokens": expected_output_tokens(m, f),
                "estimated_cost_nusd": estimated_cost_nusd(m, f, markup_bp),
            }
            for i, (m, why) in enumerate(zip(p.candidates, p.why, strict=False))
        ],
        "skipped": [{"model": pid, "why": why} for pid, why in p.skipped],
    }


def explain_body(body: dict, snapshot: Snapshot, *, headers: dict | None = None, key=None, markup_bp: int = 0) -> dict:
    """The plan report of one request body (raises GatewayError for a bad one)."""
    features = validate(body)
    fallback = (headers or {}).get("x-aipower-fallback", "on").lower() not in ("off", "0", "false", "no")
    p = policy.plan(
        body["model"],
        features,
        snapshot,
        fallback=fallback,
        extra_models=body.get("models"),
        **smart.policy_inputs(headers or {}, key, snapshot, body),
    )
    if key is not None and key.allowed:
        p = policy.restrict(p, body["model"], key.allowed, snapshot)
    return plan_report(p, features, requested=body["model"], markup_bp=markup_bp)


async def route_explain(request) -> ApiResponse:
    from .gateway import authenticate, error_response

    try:
        key = await authenticate(request)
        body = parse_body(request.body)
        snapshot = await get_snapshot()
        markup = await reservations.markup_bp_for(key.organization_id)
        report = explain_body(body, snapshot, headers=request.headers, key=key, markup_bp=markup)
    except GatewayError as err:
        return error_response(err)
    return ApiResponse(orjson.dumps(report))
