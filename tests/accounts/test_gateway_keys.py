"""Keys made on the keys page work against the real gateway; revoked and rotated ones stop."""

import re
import time

import openai

from accounts.keys import hash_key
from accounts.models import ApiKey

HELLO = [{"role": "user", "content": "Say hello."}]
SECRET = re.compile(r"sk-aip-[0-9A-Za-z]{38}")


def sdk(gateway, key):
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30)


def create_on_page(live_org, user, **fields):
    web = live_org.client_for(user)
    response = web.post("/keys/", {"name": "from the page", **fields})
    [secret] = set(SECRET.findall(response.content.decode()))
    return web, secret


def works(gateway, key) -> bool:
    try:
        sdk(gateway, key).chat.completions.create(model="auto", messages=HELLO)
        return True
    except openai.AuthenticationError:
        return False


def eventually(predicate, timeout=6.0):
    """The gateway trusts its in-memory copy of a key for AIPOWER_KEY_CACHE_SECONDS (2 s)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)
    return True


def test_it_issues_a_key_that_the_gateway_accepts_and_marks_used(gateway, live_org, live_db):
    web, secret = create_on_page(live_org, live_org.member)
    reply = sdk(gateway, secret).chat.completions.create(model="auto", messages=HELLO)
    assert reply.choices[0].message.content
    with live_db.unblock():
        key = ApiKey.objects.get(secret_hash=hash_key(secret))
        assert eventually(lambda: ApiKey.objects.filter(pk=key.pk, last_used_at__isnull=False).exists())
        row = web.get("/keys/").content.decode().split(f'data-key-id="{key.pk}"')[1].split("</tr>")[0]
    assert "never" not in row


def test_a_revoked_key_stops_working_within_seconds(gateway, live_org, live_db):
    web, secret = create_on_page(live_org, live_org.owner)
    assert works(gateway, secret)
    with live_db.unblock():
        key = ApiKey.objects.get(secret_hash=hash_key(secret))
        web.post(f"/keys/{key.pk}/revoke/")
    assert eventually(lambda: not works(gateway, secret))


def test_a_rotated_key_keeps_working_for_the_grace_period_only(gateway, live_org, live_db):
    web, old_secret = create_on_page(live_org, live_org.member)
    with live_db.unblock():
        old = ApiKey.objects.get(secret_hash=hash_key(old_secret))
        response = web.post(f"/keys/{old.pk}/rotate/", {"grace": "3600"})
    [new_secret] = set(SECRET.findall(response.content.decode()))
    assert works(gateway, new_secret) and works(gateway, old_secret)
    # The grace period ends (as if an hour had passed).
    with live_db.unblock():
        from django.utils import timezone

        ApiKey.objects.filter(pk=old.pk).update(expires_at=timezone.now())
    assert eventually(lambda: not works(gateway, old_secret))
    assert works(gateway, new_secret)


def test_a_rotation_without_grace_cuts_the_old_key_off(gateway, live_org, live_db):
    web, old_secret = create_on_page(live_org, live_org.owner)
    assert works(gateway, old_secret)
    with live_db.unblock():
        old = ApiKey.objects.get(secret_hash=hash_key(old_secret))
        response = web.post(f"/keys/{old.pk}/rotate/", {"grace": "0"})
    [new_secret] = set(SECRET.findall(response.content.decode()))
    assert eventually(lambda: not works(gateway, old_secret))
    assert works(gateway, new_secret)
