"""A state machine over top-up, reserve, settle, release, refund, clawback and disconnect (a reserve
never settled, then the expiry sweep): the balance is the sum of the ledger at every step, the
holds are the open reservations, and a prepaid organization never has less than nothing available."""

import asyncio
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, precondition, rule

from billing.models import CreditAccount, LedgerEntry, Reservation
from billing.reservations import InsufficientCredit, close_pool, release, reserve, settle, sweep_expired
from billing.selectors import ledger_sum
from billing.services import ledger_post
from tests.conftest import make_tenant

CENT = 10_000_000
amounts = st.integers(min_value=0, max_value=500).map(lambda c: c * CENT // 10)


@pytest.fixture
def machine(db_open, live_db, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "1")
    tenant = make_tenant(live_db, credit_nusd=0)

    class Ledger(RuleBasedStateMachine):
        held = Bundle("held")

        def __init__(self):
            super().__init__()
            self.loop = asyncio.new_event_loop()
            self.org = make_tenant(live_db, credit_nusd=0).organization.pk  # a fresh organization per run
            self.key = tenant.key_id
            self.expected = 0  # the balance, as the model sees it
            self.holds: dict[str, int] = {}
            self.charged: dict[str, int] = {}
            self.topups: list[tuple[str, int]] = []

        def run(self, coro):
            return self.loop.run_until_complete(coro)

        def teardown(self):
            self.run(close_pool())
            self.loop.close()

        @rule(amount=amounts.filter(bool))
        def top_up(self, amount):
            pid = f"pi_{uuid.uuid4().hex}"
            ledger_post(
                organization_id=self.org, kind=LedgerEntry.Kind.TOPUP, amount_nusd=amount, stripe_payment_id=pid
            )
            self.topups.append((pid, amount))
            self.expected += amount

        @rule(target=held, amount=amounts)
        def reserve(self, amount):
            rid = uuid.uuid4().hex
            available = self.expected - sum(self.holds.values())
            try:
                self.run(reserve(organization_id=self.org, api_key_id=self.key, request_id=rid, amount_nusd=amount))
            except InsufficientCredit:
                assert amount > available
                return rid  # nothing held: settling it later must do nothing
            assert amount <= available
            self.holds[rid] = amount
            return rid

        @rule(rid=consumes(held), share=st.floats(min_value=0, max_value=1))
        def settle(self, rid, share):
            hold = self.holds.pop(rid, None)
            charge = int((hold or 0) * share)
            self.run(settle(request_id=rid, charged_nusd=charge))
            self.run(settle(request_id=rid, charged_nusd=charge))  # twice: charged once
            if hold is not None:
                self.expected -= charge
                if charge:
                    self.charged[rid] = charge

        @rule(rid=consumes(held))
        def release(self, rid):
            self.holds.pop(rid, None)
            self.run(release(request_id=rid))

        @rule(rid=consumes(held))
        def disconnect(self, rid):
            """The worker died holding `rid`: its expiry passes, the sweeper releases it."""
            Reservation.objects.filter(request_id=rid).update(expires_at=timezone.now() - timedelta(seconds=1))
            sweep_expired()
            self.holds.pop(rid, None)

        @precondition(lambda self: self.charged)
        @rule(data=st.data())
        def refund(self, data):
            """A request refunded (credit given back), once."""
            rid = data.draw(st.sampled_from(sorted(self.charged)))
            amount = self.charged[rid]
            first = ledger_post(
                organization_id=self.org, kind=LedgerEntry.Kind.REFUND, amount_nusd=amount, grant_key=f"refund:{rid}"
            )
            again = ledger_post(
                organization_id=self.org, kind=LedgerEntry.Kind.REFUND, amount_nusd=amount, grant_key=f"refund:{rid}"
            )
            assert first is not None and again is None
            del self.charged[rid]
            self.expected += amount

        @precondition(lambda self: self.topups)
        @rule(data=st.data())
        def claw_back(self, data):
            """A top-up refunded by Stripe, within what is available (a larger one may take a balance
            below zero: it is owed, and is not what this machine checks)."""
            pid, amount = data.draw(st.sampled_from(self.topups))
            available = self.expected - sum(self.holds.values())
            amount = min(amount, max(available, 0))
            if amount:
                ledger_post(
                    organization_id=self.org,
                    kind=LedgerEntry.Kind.CLAWBACK,
                    amount_nusd=-amount,
                    stripe_payment_id=pid,
                    stripe_object_id=f"re_{uuid.uuid4().hex}",
                )
                self.expected -= amount

        @invariant()
        def balance_is_the_sum_of_the_ledger(self):
            account = CreditAccount.objects.filter(organization_id=self.org).first()
            if account is None:
                assert self.expected == 0
                return
            assert account.balance_nusd == ledger_sum(self.org) == self.expected
            open_holds = Reservation.objects.filter(organization_id=self.org, expired=False)
            assert account.reserved_nusd == sum(r.amount_nusd for r in open_holds) == sum(self.holds.values())
            assert account.balance_nusd - account.reserved_nusd >= 0

    return Ledger


def test_balance_is_always_the_sum_of_the_ledger(machine):
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=40,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
