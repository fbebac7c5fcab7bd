"""Fixtures for the provider simulator's own tests: a fresh simulator per test, in the test's event loop.
None of these tests touches the database."""

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from simulator.server import make_app
from tests.simulator.helpers import Sim


@pytest.fixture
async def sim():
    async with (
        TestServer(make_app()) as server,
        aiohttp.ClientSession(base_url=str(server.make_url(""))) as session,
    ):
        yield Sim(server, session)


@pytest.fixture
def sim_factory():
    """sim_factory(**config) -> an async context manager serving a simulator with those defaults."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def start(**config):
        async with (
            TestServer(make_app(config)) as server,
            aiohttp.ClientSession(base_url=str(server.make_url(""))) as session,
        ):
            yield Sim(server, session)

    return start
