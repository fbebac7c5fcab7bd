"""The provider health page in Django admin: each provider's and model's breaker, and recent error rates.

The breakers are driven by a gateway of the test's own (its own Redis database); the page is read
with Django's test client, pointed at that gateway's Redis.
"""

import os
import time
import uuid

import openai
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client, override_settings
from django.utils import timezone

from routing.health import Counters, health
from routing.health_admin import recent_attempts

PAGE = "/admin/routing/provider/health/"
COOLDOWN = 2.0
FAST_BREAKERS = {
    "AIPOWER_BREAKER_CONSECUTIVE_FAILURES": 3,
    "AIPOWER_BREAKER_COOLDOWN_SECONDS": COOLDOWN,
    "AIPOWER_BREAKER_MIN_REQUESTS": 1000,
    "AIPOWER_BREAKER_SYNC_SECONDS": 0.1,
}
HELLO = [{"role": "user", "content": "hi"}]

needs_redis = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="without Redis the breakers live only inside the gateway's process"
)


@pytest.fixture
def web_user(live_db):
    """make(staff=..., perms=[...]) -> a signed-in test client (users are committed, then deleted)."""
    users = []

    def make(*, staff: bool, perms: tuple[str, ...] = ()) -> Client:
        with live_db.unblock():
            user = get_user_model().objects.create_user(f"ops-{uuid.uuid4().hex[:10]}", is_staff=staff)
            for codename in perms:
                user.user_permissions.add(Permission.objects.get(codename=codename))
            users.append(user)
            web = Client()
            web.force_login(user)
        return web

    yield make
    with live_db.unblock():
        for user in users:
            user.delete()


@pytest.fixture
def operator(web_user):
    return web_user(staff=True, perms=("view_provider",))


def read(live_db, web, redis_url):
    with live_db.unblock(), override_settings(REDIS_URL=redis_url):
        return web.get(PAGE)


def row(response, label):
    rows = response.context["providers"] + response.context["models"]
    return next(r for r in rows if r.label == label)


def ask(client, **kw):
    raw = client.chat.completions.with_raw_response.create(model="deepseek/deepseek-chat", messages=HELLO, **kw)
    return raw.parse(), raw.headers


@needs_redis
def test_it_shows_an_open_breaker_with_its_error_rate_then_half_open_then_closed(
    own_gateways, tenant, sim, usage, live_db, operator
):
    gw = own_gateways(**FAST_BREAKERS)
    redis_url = gw.env["REDIS_URL"]
    started = timezone.now()

    with openai.OpenAI(base_url=gw.url + "/v1", api_key=tenant.key, max_retries=0, timeout=10) as client:
        sim.fault("deepseek", "status:503")
        ids = []
        for _ in range(3):  # three failures in a row open deepseek's breakers
            reply, headers = ask(client)
            assert reply.model == "qwen/qwen-plus"
            ids.append(headers["x-request-id"])
        reply, headers = ask(client)  # deepseek skipped: its breaker is open
        assert headers["x-aipower-attempts"] == "1"
        ids.append(headers["x-request-id"])
        for request_id in ids:
            assert usage(request_id)

        response = read(live_db, operator, redis_url)
        assert response.status_code == 200
        page = response.content.decode()
        for label in ("deepseek", "deepseek/deepseek-chat"):
            r = row(response, label)
            assert r.breaker.state == "open" and r.state_text.startswith("open until ")
            assert (r.breaker.window_total, r.breaker.window_failures, r.window_rate) == (3, 3, "100%")
            assert f'data-key="{r.key}" data-state="open"' in page
        assert "Not closed: <strong>deepseek</strong>: open until " in page
        # The last 15 minutes hold other tests' attempts too: exact counts since this test began.
        with live_db.unblock():
            attempts = recent_attempts(since=started)
        provider, deepseek = attempts["deepseek/deepseek-chat"]
        assert (provider, deepseek.ok, deepseek.errors, deepseek.skipped) == ("deepseek", 0, 3, 1)
        assert deepseek.error_rate == 1.0 and deepseek.error_classes == {"status:503": 3}
        assert attempts["qwen/qwen-plus"][1].ok == 4
        recent = row(response, "deepseek").recent
        assert recent.errors >= 3 and recent.skipped >= 1 and "status:503 ×" in page
        assert row(response, "qwen").breaker.state == "closed"

        sim.clear()
        time.sleep(COOLDOWN + 0.2)
        response = read(live_db, operator, redis_url)
        assert row(response, "deepseek").breaker.state == "half_open"
        assert "half-open" in row(response, "deepseek").state_text

        reply, _ = ask(client)  # the probe succeeds and closes the breakers
        assert reply.model == "deepseek/deepseek-chat"
        deadline = time.monotonic() + 3
        while True:
            response = read(live_db, operator, redis_url)
            states = {row(response, label).breaker.state for label in ("deepseek", "deepseek/deepseek-chat")}
            if states == {"closed"} or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert states == {"closed"}
        assert row(response, "deepseek").breaker.consecutive == 0
        assert "Every breaker is closed." in response.content.decode()


def test_only_staff_with_the_provider_view_permission_see_it(live_db, web_user, operator):
    anonymous = Client()
    for web in (anonymous, web_user(staff=False, perms=("view_provider",))):
        with live_db.unblock():
            response = web.get(PAGE)
        assert response.status_code == 302 and response["location"].startswith("/admin/login/")
    with live_db.unblock():
        assert web_user(staff=True).get(PAGE).status_code == 403
        assert operator.get(PAGE).status_code == 200
        assert PAGE in operator.get("/admin/routing/provider/").content.decode()


def test_without_redis_it_shows_this_processs_breakers_and_says_so(live_db, operator, monkeypatch):
    now = time.time()
    monkeypatch.setitem(health.open_until, "p:qwen", now + 60)
    monkeypatch.setitem(
        health.local, "p:qwen", Counters(consecutive=0, window_start=now, window_total=4, window_failures=3)
    )
    response = read(live_db, operator, "")
    page = response.content.decode()
    assert "No Redis (the embedded default): each gateway process keeps its own breakers." in page
    qwen = row(response, "qwen")
    assert qwen.breaker.state == "open" and qwen.window_rate == "75%"
    assert row(response, "deepseek").breaker.state == "closed"


def test_it_still_answers_when_redis_cannot_be_read(live_db, operator):
    response = read(live_db, operator, "redis://127.0.0.1:1/0")
    assert response.status_code == 200
    assert "Could not read the breakers from Redis" in response.content.decode()
