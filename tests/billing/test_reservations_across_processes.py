"""Three gateway-like processes race for the same organization's credit: the row lock in the
database function, not any process's memory, decides."""

import json
import os
import subprocess
import sys

import pytest

from tests.billing.conftest import fund, state
from tests.servers import ROOT

pytestmark = pytest.mark.usefixtures("db_open")
CENT = 10_000_000

WORKER = r"""
import asyncio, json, sys, uuid
import django
django.setup()
from billing.reservations import InsufficientCredit, close_pool, reserve, settle

org, key, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])

async def one():
    r = uuid.uuid4().hex
    try:
        await reserve(organization_id=org, api_key_id=key, request_id=r, amount_nusd=10 * 10_000_000)
    except InsufficientCredit:
        return None
    await asyncio.sleep(0.02)
    await settle(request_id=r, charged_nusd=10 * 10_000_000)
    return r

async def main():
    done = await asyncio.gather(*(one() for _ in range(n)))
    await close_pool()
    print(json.dumps([r for r in done if r]))

asyncio.run(main())
"""


def test_processes_never_overspend_together(tenant, test_database_url):
    org = tenant.organization.pk
    fund(org, 70 * CENT)  # seven requests' worth
    env = dict(os.environ, DATABASE_URL=test_database_url, DJANGO_SETTINGS_MODULE="aipower.settings")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(org), str(tenant.key_id), "20"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    accepted = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
        accepted += json.loads(out.strip().splitlines()[-1])
    assert len(accepted) == 7  # every request charged its whole hold: exactly seven fit
    assert state(org) == {"balance": 0, "reserved": 0, "ledger": 0, "open": 0, "rows": 0}
