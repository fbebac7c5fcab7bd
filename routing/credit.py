"""Credit holds on the request path, as the gateway places them.

The hold covers the candidate about to be called, not the dearest one a failover might reach: a
request its first choice can afford is never refused because a fallback is dearer. Before a
failover to a dearer model the hold is topped up; a fallback that cannot be afforded is skipped.
The hold always covers the model being called, so a prepaid balance never goes below zero.

Overlapped holds. The hold is a database round trip; when this process last saw the organization
(and key) with room for many times this request's worst case (AIPOWER_HOLD_OVERLAP_MARGIN, seen
within AIPOWER_HOLD_OVERLAP_FRESH_SECONDS, less what this process has held since), the hold is
placed while the upstream call is under way instead of before it. Nothing reaches the caller before
the hold is placed (confirm(): before the answer, a stream's first bytes, a failover, the usage
row), so what is charged is still always held first. Should the hold be refused after all (others
spent the room meanwhile), the caller gets the same 402 as without overlap and is charged nothing;
the upstream call is abandoned, and its cost, if any, is the gateway's.

When the caller set no max_tokens and the balance cannot cover the model's maximum output, this
request's output is capped at what the balance affords (never below OUTPUT_FLOOR tokens; below it
the answer is 402), and the response says so in `x-aipower-max-tokens-capped`.
"""

import asyncio
import time
from collections.abc import Mapping

from django.conf import settings

from aipower import background
from billing import holds, reservations
from billing.pricing import BP, PICO_PER_NANO, dearest_prompt_price, format_usd, tiers_up_to, worst_case_nusd

from .catalog import ModelInfo, prices_of
from .errors import GatewayError
from .request import Features

CAPPED_HEADER = "x-aipower-max-tokens-capped"


def output_floor() -> int:
    return settings.AIPOWER_MIN_CAPPED_OUTPUT_TOKENS


def prompt_bound(features: Features, model: ModelInfo) -> int:
    """Prompt tokens to hold for on `model`: a bound never below the upstream's count
    (routing/request.py). A document or audio part has none short of the model's context window
    (the upstream counts a PDF's extracted text and page images, an audio clip by its length;
    neither follows from the request's bytes), so such a request is held for the whole window:
    the upstream refuses a longer prompt."""
    if features.unbounded:
        return model.context_window
    return max(features.prompt_tokens_bound, features.prompt_tokens)


def worst_case(model: ModelInfo, features: Features, markup_bp: int) -> int:
    """What to hold for a request on `model`: the worst case at the dearest prices its prompt may
    be billed at (the long-prompt ones too when the prompt bound is above the model's threshold)."""
    bound = prompt_bound(features, model)
    return max(
        worst_case_nusd(
            prompt_tokens=bound,
            max_tokens=features.max_tokens,
            model_max_output=model.max_output_tokens,
            input_price_usd_micro_per_mtok=tier["input_price_usd_micro_per_mtok"],
            output_price_usd_micro_per_mtok=tier["output_price_usd_micro_per_mtok"],
            markup_bp=markup_bp,
            n=features.n,
            **write_prices(tier, features.cache_marks),
        )
        for tier in tiers_up_to(bound, prices_of(model))
    )


def write_prices(prices: Mapping, cache_marks: int) -> dict:
    """The cache-write prices a request's prompt may be charged at `prices` (a model's, or one
    tier of them): none without a mark (no vendor charges a write above the input price unasked:
    Anthropic writes only at marks, the others cache implicitly at the input price), the
    five-minute one with marks, and the one-hour one when a mark asks for an hour."""
    return {
        "cache_write_price_usd_micro_per_mtok": prices["cache_write_price_usd_micro_per_mtok"] if cache_marks else None,
        "cache_write_1h_price_usd_micro_per_mtok": (
            prices["cache_write_1h_price_usd_micro_per_mtok"] if cache_marks > 1 else None
        ),
    }


def affordable_output(
    room_nusd: int, model: ModelInfo, prompt_tokens: int, markup_bp: int, n: int = 1, cache_marks: int = 0
) -> int:
    """The most output tokens of `model` per choice (n choices) whose worst case (as worst_case
    computes it, at each price tier a prompt of `prompt_tokens` may be billed at) fits in
    `room_nusd`, at most the model's max output; negative when not even the prompt fits."""
    return min(
        _affordable_at(room_nusd, tier, model.max_output_tokens, prompt_tokens, markup_bp, n, cache_marks)
        for tier in tiers_up_to(prompt_tokens, prices_of(model))
    )


def _affordable_at(
    room_nusd: int, prices: Mapping, max_output: int, prompt_tokens: int, markup_bp: int, n: int, cache_marks: int
) -> int:
    scale = BP + markup_bp
    # worst case = ceil(pico * scale / (PICO_PER_NANO * BP)) <= room  <=>  pico * scale <= room * PICO_PER_NANO * BP
    # pico-USD × basis points: what the room leaves for output once the prompt is paid for (each
    # prompt token at the dearest price it can cost, as the worst case has it)
    prompt_price = dearest_prompt_price(
        input_price_usd_micro_per_mtok=prices["input_price_usd_micro_per_mtok"], **write_prices(prices, cache_marks)
    )
    spare_pico_bp = room_nusd * PICO_PER_NANO * BP - prompt_tokens * prompt_price * scale
    if spare_pico_bp < 0:
        return -1
    output_price = prices["output_price_usd_micro_per_mtok"]
    if output_price == 0:
        return max_output
    return min(spare_pico_bp // (output_price * scale * max(n, 1)), max_output)


def _refusal(limit: str, room_nusd: int | None, tail: str) -> GatewayError:
    text = reservations.LIMITS[limit].rstrip(".")
    if limit == "balance":
        text = "Insufficient credit: your organization's balance"
    if room_nusd is not None:
        text += f" ({format_usd(room_nusd)} available)"
    return GatewayError(402, f"{text} {tail}", "insufficient_quota", code="insufficient_quota")


def _taken_meanwhile(limit: str, room_nusd: int | None, model: ModelInfo) -> GatewayError:
    """The room was there when this request was looked at, and others took it before its hold."""
    return _refusal(limit, room_nusd, f"does not cover this request on {model.public_id}. Top up on the billing page.")


# (organization id, key id) -> reservations.Room: what was left to hold, as last seen.
_rooms: dict[tuple[int, int | None], reservations.Room] = {}


def _overlappable(call, amount_nusd: int) -> bool:
    """Whether the room last seen leaves AIPOWER_HOLD_OVERLAP_MARGIN times `amount_nusd`; if so,
    that amount is taken off the room as this process sees it."""
    margin = settings.AIPOWER_HOLD_OVERLAP_MARGIN
    room = _rooms.get((call.key.organization_id, call.key.key_id))
    if not margin or room is None:
        return False
    if time.monotonic() - room.monotonic > settings.AIPOWER_HOLD_OVERLAP_FRESH_SECONDS:
        return False
    if room.nusd is None:
        return True
    if room.nusd < amount_nusd * margin:
        return False
    room.nusd -= amount_nusd
    return True


async def hold_first(call, first: ModelInfo, features: Features, body: dict, *, overlap: bool = False) -> None:
    """Holds the worst case of `first` (the first candidate to be called), capping the output when the caller set no
    max_tokens and the balance covers less than the model's maximum. Raises 402 naming what is
    affordable. With `overlap` and room to spare, the hold is only started (call.hold_task): the
    caller must confirm() it before anything reaches the client."""
    call.markup_bp = markup = await reservations.markup_bp_for(call.key.organization_id)
    amount_nusd = worst_case(first, features, markup)
    if overlap and _overlappable(call, amount_nusd):
        call.held_nusd = amount_nusd  # what will be held
        call.hold_task = asyncio.ensure_future(_hold(call, amount_nusd))
        return
    try:
        await _hold(call, amount_nusd)
    except reservations.InsufficientCredit as exc:
        await _cap_or_refuse(call, first, features, body, exc.limit)


async def _cap_or_refuse(call, first: ModelInfo, features: Features, body: dict, limit: str) -> None:
    org, key_id, markup = call.key.organization_id, call.key.key_id, call.markup_bp
    room_nusd = await holds.headroom_nusd(organization_id=org, api_key_id=key_id)
    fits = affordable_output(
        room_nusd or 0, first, prompt_bound(features, first), markup, features.n, features.cache_marks
    )
    if fits < 0:
        what = f"this request's prompt (~{features.prompt_tokens} tokens) on {first.public_id}"
        if features.unbounded:
            what = (
                f"this request's prompt on {first.public_id}: a request with a document or audio is held for the "
                f"model's whole context window ({first.context_window} tokens), as only the upstream can count it"
            )
        raise _refusal(limit, room_nusd, f"does not cover {what}. Top up on the billing page.")
    if features.max_tokens is not None:
        fits = min(fits, features.max_tokens - 1)
        raise _refusal(
            limit,
            room_nusd,
            f"does not cover max_tokens={features.max_tokens} on {first.public_id}. "
            f"The largest max_tokens it covers for this request is {fits}: lower "
            f"max_tokens or top up on the billing page.",
        )
    if fits < output_floor():
        raise _refusal(
            limit,
            room_nusd,
            f"covers only {fits} output tokens on {first.public_id}, fewer than the "
            f"{output_floor()} a request needs. Top up on the billing page.",
        )
    call.output_cap = features.max_tokens = fits
    body["max_tokens"] = fits
    try:
        await _hold(call, worst_case(first, features, markup))
    except reservations.InsufficientCredit as exc:  # another request took the room meanwhile
        raise _taken_meanwhile(exc.limit, None, first) from None


async def confirm(call) -> None:
    """Waits for an overlapped hold (hold_first). When it was refused, raises a 402 (and nothing
    of the upstream's answer may reach the caller)."""
    task = call.hold_task
    if task is None:
        return
    try:
        await asyncio.shield(task)
    except reservations.InsufficientCredit as exc:
        call.hold_task = None
        room_nusd = await holds.headroom_nusd(organization_id=call.key.organization_id, api_key_id=call.key.key_id)
        raise _taken_meanwhile(exc.limit, room_nusd, call.first_choice) from None
    except BaseException:
        if task.done():  # the hold failed (the database); when only this wait was cancelled, it goes on
            call.hold_task = None
        raise
    call.hold_task = None


def release_unconfirmed(call) -> None:
    """A request that ends before its overlapped hold was confirmed (an upstream error, a caller
    who hung up, a refusal) is charged nothing: its hold, once placed, is released."""
    task, call.hold_task = call.hold_task, None
    if task is not None:
        task.add_done_callback(lambda t: _release_after(t, call.request_id))


def _release_after(task: asyncio.Future, request_id: str) -> None:
    if task.cancelled() or task.exception() is not None:
        return  # no hold was placed
    background.start(reservations.release(request_id=request_id))


async def _hold(call, amount_nusd: int) -> None:
    where = (call.key.organization_id, call.key.key_id)
    try:
        room = await reservations.reserve(
            organization_id=where[0], api_key_id=where[1], request_id=call.request_id, amount_nusd=amount_nusd
        )
    except reservations.InsufficientCredit:
        _rooms.pop(where, None)
        raise
    if room is None:
        _rooms.pop(where, None)
    else:
        _rooms[where] = room
    call.reserved, call.held_nusd = True, amount_nusd


async def covers(call, model: ModelInfo) -> bool:
    """Whether the hold covers a call to `model`, topping it up first when the model is dearer.
    False (and `model` noted as skipped) when the credit cannot cover it."""
    if not call.reserved and call.hold_task is None:
        return True
    needed_nusd = worst_case(model, call.features, call.markup_bp)
    if needed_nusd <= call.held_nusd:
        return True  # an overlapped hold of held_nusd may still be under way: confirm() waits for it
    await confirm(call)  # a top-up needs the hold in place
    try:
        await holds.top_up(request_id=call.request_id, delta_nusd=needed_nusd - call.held_nusd)
    except (reservations.InsufficientCredit, holds.HoldGone):
        call.unaffordable.append(model.public_id)
        return False
    call.held_nusd = needed_nusd
    return True


def unaffordable_error(call) -> GatewayError:
    """Nothing was tried: every candidate left was dearer than the credit covers."""
    return GatewayError(
        402,
        "Insufficient credit: the models that could serve this request right now ("
        + ", ".join(call.unaffordable)
        + ") cost more than your organization's balance covers. "
        "Top up on the billing page.",
        "insufficient_quota",
        code="insufficient_quota",
    )
