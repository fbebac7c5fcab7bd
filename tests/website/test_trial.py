"""/try: two free calls per visitor, enforced per browser (signed cookie), per IP address and by a
global daily cap, shared by every gateway process; then a clear refusal. Real gateway processes,
the provider simulator, Redis (or the database without it)."""

import threading
import uuid

import httpx
import orjson
import pytest

from tests.servers import start_gateway

WEB = {"SECURE_COOKIES": "0"}  # plain http in tests: cookies without the Secure flag


class Visitor:
    """A browser: its own cookie jar, the CSRF token from the /try page."""

    def __init__(self, gw):
        self.http = httpx.Client(timeout=30)
        self.gw = gw
        page = self.http.get(gw.url + "/try/")
        assert page.status_code == 200
        self.page = page.text
        self.token = self.http.cookies["csrftoken"]

    def ask(self, route="auto", prompt="hi", gw=None, stream=True, **headers):
        gw = gw or self.gw
        h = {"X-CSRFToken": self.token, **headers}
        if stream:
            h["Accept"] = "text/event-stream"
        return self.http.post(gw.url + "/try/chat", data={"route": route, "prompt": prompt}, headers=h)

    def forget_cookies(self):
        """Drops the trial cookie (keeps the CSRF one, as a visitor clearing one cookie would)."""
        self.http.cookies.delete("aip_trial")


def events(response) -> list[dict]:
    return [orjson.loads(line[6:]) for line in response.text.split("\n\n") if line.startswith("data: ")]


def answered(response) -> bool:
    return response.status_code == 200 and events(response)[-1]["type"] == "done"


@pytest.fixture
def gw(own_gateways):
    return own_gateways(**WEB)


def test_it_streams_the_answer_with_model_tokens_cost_and_latency(gw):
    v = Visitor(gw)
    assert "sk-aip-" not in v.page and "2 of 2 free calls left" in v.page
    r = v.ask("auto-code", "Refactor this function")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert "sk-aip-" not in r.text
    got = events(r)
    deltas = [e["text"] for e in got if e["type"] == "delta"]
    done = got[-1]
    assert deltas and done["type"] == "done"
    assert done["model"] == "anthropic/claude-sonnet-4" and done["model_name"] == "Claude Sonnet 4"
    assert done["prompt_tokens"] > 0 and 0 < done["completion_tokens"] <= 300
    assert done["cost"].startswith("$") and done["cost_nusd"] > 0 and done["latency_ms"] >= 0
    assert "1 of 2 free calls left" in v.http.get(gw.url + "/try/").text


def test_two_calls_then_a_clear_refusal_also_when_cookies_are_dropped(gw):
    v = Visitor(gw)
    assert answered(v.ask("auto")) and answered(v.ask("auto-cheap"))
    third = v.ask("auto")
    assert third.status_code == 429
    assert third.json()["error"]["code"] == "trial_limit_reached"
    assert "Sign up to keep going" in third.json()["error"]["message"]
    # A new trial cookie from the same address: the address's count refuses it.
    v.forget_cookies()
    again = v.ask("auto")
    assert again.status_code == 429 and "from your network" in again.json()["error"]["message"]
    # Without JavaScript, the refusal is on the page, with the way to sign up.
    page = v.ask("auto", stream=False)
    assert page.status_code == 429 and "Sign up free" in page.text and "from your network" in page.text


def test_the_limits_hold_across_two_gateway_processes(own_gateways):
    a, b = own_gateways(**WEB), own_gateways(**WEB)
    v = Visitor(a)
    assert answered(v.ask(gw=a)) and answered(v.ask(gw=b))
    assert v.ask(gw=a).status_code == 429 and v.ask(gw=b).status_code == 429


def test_many_calls_at_once_get_two_answers(own_gateways):
    a, b = own_gateways(AIPOWER_TRIAL_CALLS_PER_IP=1000, **WEB), own_gateways(AIPOWER_TRIAL_CALLS_PER_IP=1000, **WEB)
    v = Visitor(a)
    v.http.get(a.url + "/try/")  # the trial cookie is set
    results, barrier = [], threading.Barrier(12)

    def fire(i):
        client = httpx.Client(timeout=30, cookies=v.http.cookies)
        barrier.wait()
        gw = a if i % 2 else b
        results.append(
            client.post(
                gw.url + "/try/chat",
                data={"route": "auto-free", "prompt": "hi"},
                headers={"X-CSRFToken": v.token, "Accept": "text/event-stream"},
            )
        )

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outcomes = sorted((r.status_code, r.text[-300:]) for r in results if r.status_code != 429)
    assert sum(answered(r) for r in results) == 2, outcomes
    assert sum(r.status_code == 429 for r in results) == 10, outcomes


def test_the_global_daily_cap(own_gateways):
    a = own_gateways(AIPOWER_TRIAL_CALLS_PER_IP=1000, AIPOWER_TRIAL_DAILY_CAP=3, **WEB)
    b = own_gateways(AIPOWER_TRIAL_CALLS_PER_IP=1000, AIPOWER_TRIAL_DAILY_CAP=3, **WEB)
    replies = [Visitor(gw).ask("auto-free") for gw in (a, b, a, b, a)]
    assert [answered(r) for r in replies] == [True, True, True, False, False]
    assert "Today's free trial calls are all used up" in replies[3].json()["error"]["message"]


def test_a_failed_call_does_not_count(gw):
    v = Visitor(gw)
    failed = v.ask("auto", **{"x-sim-fault": "status:503"})
    assert failed.status_code == 502 and "was not counted" in failed.json()["error"]["message"]
    assert answered(v.ask("auto")) and answered(v.ask("auto"))
    assert v.ask("auto").status_code == 429


def test_it_needs_the_csrf_token_and_a_valid_route_and_prompt(gw):
    v = Visitor(gw)
    assert v.http.post(gw.url + "/try/chat", data={"route": "auto", "prompt": "hi"}).status_code == 403
    bad = v.ask("openai/gpt-5.4", "hi")
    assert bad.status_code == 400 and "routing modes" in bad.json()["error"]["message"]
    assert v.ask("auto", "   ").status_code == 400
    assert v.ask("auto", "x" * 2001).status_code == 400
    # Nothing was counted.
    assert answered(v.ask("auto")) and answered(v.ask("auto"))


def test_without_javascript_the_answer_is_on_the_page(own_gateways):
    # "auto": the page's banner asks the database whether provider keys are set, as `make run` does.
    gw = own_gateways(AIPOWER_SIMULATE_PROVIDERS="auto", **WEB)
    v = Visitor(gw)
    page = v.ask("auto-fast", "hi", stream=False)
    assert page.status_code == 200
    assert "Qwen Turbo" in page.text and "qwen/qwen-turbo" in page.text and " ms</dd>" in page.text
    assert "1 of 2 free calls left" in page.text and "sk-aip-" not in page.text
    assert "served by the local provider simulator" in page.text


def test_the_limits_hold_on_the_database_without_redis(test_database_url, simulator):
    env = {"AIPOWER_TRIAL_KEY_PREFIX": f"t-{uuid.uuid4().hex[:8]}", "REDIS_URL": "", **WEB}
    a = start_gateway(database_url=test_database_url, simulator_url=simulator.url, **env)
    b = start_gateway(database_url=test_database_url, simulator_url=simulator.url, **env)
    try:
        v = Visitor(a)
        assert answered(v.ask(gw=a)) and answered(v.ask(gw=b))
        assert v.ask(gw=b).status_code == 429
        v.forget_cookies()
        assert v.ask(gw=a).status_code == 429
    finally:
        a.stop()
        b.stop()


def test_behind_a_proxy_each_visitor_is_counted_by_their_own_address(own_gateways):
    gw = own_gateways(TRUSTED_PROXY_COUNT=1, **WEB)
    first, second = Visitor(gw), Visitor(gw)
    for v, address in ((first, "203.0.113.7"), (second, "198.51.100.9")):
        assert answered(v.ask(**{"X-Forwarded-For": address}))
        assert answered(v.ask(**{"X-Forwarded-For": address}))
    # A third visitor from the first address, with a fresh cookie: that address is used up.
    third = Visitor(gw)
    assert third.ask(**{"X-Forwarded-For": "203.0.113.7"}).status_code == 429


def test_a_customer_organization_named_like_the_trial_is_left_alone(own_gateways, live_db):
    """The trial's house organization is found by its key and a slug no customer can hold, never
    by name: a customer who names their organization after it keeps their credit and usage."""
    from accounts.keys import apikey_create, hash_key
    from accounts.models import ApiKey, Organization
    from accounts.orgs import unique_slug
    from analytics.models import UsageRecord
    from billing.models import CreditAccount, LedgerEntry
    from billing.services import ledger_post
    from website.trial import ORG_NAME, ORG_SLUG, _trial_raw_key

    with live_db.unblock():
        customer = Organization.objects.create(name=ORG_NAME, slug=unique_slug(ORG_NAME))
        apikey_create(organization=customer, name="theirs")
        ledger_post(organization_id=customer.pk, kind="grant", amount_nusd=7 * 10**9, grant_key=f"t:{customer.pk}")
        before = UsageRecord.objects.filter(organization__slug=ORG_SLUG).count()
    v = Visitor(own_gateways(**WEB))
    assert answered(v.ask("auto")) and answered(v.ask("auto"))
    with live_db.unblock():
        house = ApiKey.objects.get(secret_hash=hash_key(_trial_raw_key())).organization
        assert house.slug == ORG_SLUG and house.pk != customer.pk
        assert customer.slug != ORG_SLUG
        assert UsageRecord.objects.filter(organization=house).count() == before + 2
        assert not UsageRecord.objects.filter(organization=customer).exists()
        assert list(LedgerEntry.objects.filter(organization=customer).values_list("amount_nusd", flat=True)) == [
            7 * 10**9
        ]
        assert CreditAccount.objects.get(organization=customer).balance_nusd == 7 * 10**9
        assert ApiKey.objects.filter(organization=customer).count() == 1


def test_a_fresh_site_tops_up_the_house_credit_once_however_many_processes_start_at_once(live_db):
    """Threads stand in for web processes racing to set the trial up on a fresh site: one
    organization, one key, one top-up."""
    from accounts.keys import hash_key
    from accounts.models import ApiKey, Organization
    from billing.models import LedgerEntry
    from website import trial

    with live_db.unblock():
        ApiKey.objects.filter(secret_hash=hash_key(trial._trial_raw_key())).delete()
        Organization.objects.filter(slug=trial.ORG_SLUG).delete()
    barrier, got, errors = threading.Barrier(8), [], []

    def setup():
        from django.db import connection

        try:
            barrier.wait()
            with live_db.unblock():
                trial._ensured["until"] = 0.0
                got.append(trial.ensure_trial_key()[1])
        except Exception as e:  # noqa: BLE001 -- the test reports what a racing process hit
            errors.append(repr(e))
        finally:
            connection.close()

    threads = [threading.Thread(target=setup) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(got) == 8 and len(set(got)) == 1
    with live_db.unblock():
        assert Organization.objects.filter(slug=trial.ORG_SLUG).count() == 1
        grants = LedgerEntry.objects.filter(organization_id=got[0], kind="grant")
        assert grants.count() == 1 and grants.get().amount_nusd == trial.HOUSE_TOP_UP_NUSD


@pytest.fixture
def private_redis(tmp_path):
    from tests.servers import PrivateRedis

    server = PrivateRedis(tmp_path)
    yield server
    server.stop()


def trial_gateways(private_redis, test_database_url, simulator, prefix="trial"):
    env = {"REDIS_URL": private_redis.url, "AIPOWER_TRIAL_KEY_PREFIX": prefix, **WEB}
    return [start_gateway(database_url=test_database_url, simulator_url=simulator.url, **env) for _ in range(2)]


def test_a_redis_slower_than_the_request_paths_bound_still_counts_the_calls(
    private_redis, test_database_url, simulator
):
    """Redis stalls for half a second (five times the API's 100 ms bound) as a visitor asks: the
    trial waits for it rather than failing or losing the count."""
    a, b = trial_gateways(private_redis, test_database_url, simulator)
    try:
        v = Visitor(a)
        redis = private_redis.client()
        private_redis.pause()
        threading.Timer(0.5, private_redis.resume).start()
        first = v.ask(gw=a)
        assert answered(first), first.text[-300:]
        # Counted in Redis: this browser's counter, its address's and the day's.
        assert sorted(redis.mget(sorted(redis.keys("trial:*")))) == [b"1", b"1", b"1"]
        assert answered(v.ask(gw=b))
        assert v.ask(gw=a).status_code == 429
    finally:
        a.stop()
        b.stop()


def test_with_redis_dead_the_limits_hold_in_the_database(private_redis, test_database_url, simulator):
    a, b = trial_gateways(private_redis, test_database_url, simulator, prefix=f"t-{uuid.uuid4().hex[:8]}")
    try:
        private_redis.kill()
        v = Visitor(a)
        assert answered(v.ask(gw=a)) and answered(v.ask(gw=b))
        refused = v.ask(gw=a)
        assert refused.status_code == 429 and "free calls" in refused.json()["error"]["message"]
        cookie = v.http.cookies["aip_trial"]
        v.forget_cookies()
        assert v.ask(gw=b).status_code == 429  # the address's count is shared too
        v.http.cookies.set("aip_trial", cookie)
        assert "0 of 2 free calls left" in v.http.get(a.url + "/try/").text
    finally:
        a.stop()
        b.stop()
