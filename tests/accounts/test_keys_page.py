"""The API keys page: the secret once, limits, roles, revoke, rotate."""

import re
from datetime import timedelta

from django.utils import timezone

from accounts.keys import apikey_create, hash_key
from accounts.models import ApiKey

SECRET = re.compile(r"sk-aip-[0-9A-Za-z]{38}")


def create_key(web, **fields):
    data = {"name": "ci", **fields}
    response = web.post("/keys/", data)
    assert response.status_code == 200, response.content
    [secret] = set(SECRET.findall(response.content.decode()))
    return ApiKey.objects.get(secret_hash=hash_key(secret)), secret, response


def test_it_shows_the_secret_once_then_only_the_prefix(org):
    web = org.client_for(org.member)
    key, secret, response = create_key(web, name="deploy")
    assert response["Cache-Control"] == "no-store"
    assert key.organization == org.organization and key.created_by == org.member
    assert key.prefix == secret[: len(key.prefix)]
    listing = web.get("/keys/").content.decode()
    assert secret not in listing and not SECRET.search(listing)
    assert f"{key.prefix}…" in listing
    assert secret not in web.get(f"/keys/{key.pk}/").content.decode()


def test_it_creates_a_key_with_expiry_limits_and_allow_list(org):
    web = org.client_for(org.owner)
    day = (timezone.now() + timedelta(days=3)).date()
    key, _, _ = create_key(
        web,
        expires_on=day.isoformat(),
        rpm_limit="60",
        tpm_limit="100000",
        allowed_models=["auto-code", "deepseek/deepseek-chat"],
    )
    assert (key.rpm_limit, key.tpm_limit) == (60, 100000)
    assert key.allowed_models == ["auto-code", "deepseek/deepseek-chat"]
    assert key.expires_at.date() == day
    listing = web.get("/keys/").content.decode()
    assert "60 rpm" in listing and "100000 tpm" in listing and "2 models" in listing


def test_it_refuses_unknown_models_and_past_expiry(org):
    web = org.client_for(org.owner)
    response = web.post("/keys/", {"name": "x", "allowed_models": ["gpt-nonexistent"], "expires_on": "2001-01-01"})
    body = response.content.decode()
    assert "Not a model or route: gpt-nonexistent" in body and "Pick a day in the future" in body
    assert not ApiKey.objects.filter(organization=org.organization, name="x").exists()


def test_it_renames_and_changes_limits(org):
    key, _ = apikey_create(organization=org.organization, name="old", created_by=org.member)
    web = org.client_for(org.member)
    response = web.post(
        f"/keys/{key.pk}/", {"name": "new", "rpm_limit": "10", "tpm_limit": "", "allowed_models": ["auto"]}
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert (key.name, key.rpm_limit, key.tpm_limit, key.allowed_models) == ("new", 10, None, ["auto"])


def test_it_lists_last_used_and_creator_for_owners(org):
    key, _ = apikey_create(organization=org.organization, name="used", created_by=org.member)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    listing = org.client_for(org.owner).get("/keys/").content.decode()
    row = listing[listing.index(f'data-key-id="{key.pk}"') :]
    row = row[: row.index("</tr>")]
    assert org.member.email in row and "never" not in row


def test_it_revokes(org):
    key, _ = apikey_create(organization=org.organization, name="k", created_by=org.member)
    response = org.client_for(org.member).post(f"/keys/{key.pk}/revoke/")
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None and key.status == "revoked"


def test_it_rotates_with_a_grace_period(org):
    key, old_secret = apikey_create(
        organization=org.organization, name="prod", created_by=org.member, rpm_limit=5, allowed_models=["auto"]
    )
    web = org.client_for(org.member)
    before = timezone.now()
    response = web.post(f"/keys/{key.pk}/rotate/", {"grace": "3600"})
    assert response.status_code == 200
    [new_secret] = set(SECRET.findall(response.content.decode()))
    assert new_secret != old_secret
    new = ApiKey.objects.get(secret_hash=hash_key(new_secret))
    assert (new.name, new.created_by, new.rpm_limit, new.allowed_models) == ("prod", org.member, 5, ["auto"])
    key.refresh_from_db()
    assert key.revoked_at is None
    assert before + timedelta(minutes=59) < key.expires_at <= timezone.now() + timedelta(hours=1)
    assert "keeps working until" in response.content.decode()


def test_it_rotates_with_no_grace_by_revoking(org):
    key, _ = apikey_create(organization=org.organization, name="prod", created_by=org.owner)
    org.client_for(org.owner).post(f"/keys/{key.pk}/rotate/", {"grace": "0"})
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_it_does_not_rotate_a_revoked_key(org):
    key, _ = apikey_create(organization=org.organization, name="prod", created_by=org.owner)
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
    response = org.client_for(org.owner).post(f"/keys/{key.pk}/rotate/", {"grace": "3600"})
    assert response.status_code == 302
    assert ApiKey.objects.filter(organization=org.organization, name="prod").count() == 1


def test_it_lets_a_member_see_and_manage_only_their_own_keys(org):
    mine, _ = apikey_create(organization=org.organization, name="mine", created_by=org.member)
    theirs, _ = apikey_create(organization=org.organization, name="theirs", created_by=org.admin)
    web = org.client_for(org.member)
    listing = web.get("/keys/").content.decode()
    assert "mine" in listing and "theirs" not in listing
    assert web.post(f"/keys/{theirs.pk}/revoke/").status_code == 404
    assert web.post(f"/keys/{theirs.pk}/rotate/", {"grace": "0"}).status_code == 404
    assert web.post(f"/keys/{theirs.pk}/", {"name": "pwned"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None and theirs.name == "theirs"


def test_it_lets_owners_and_admins_manage_every_key(org):
    for manager in (org.owner, org.admin):
        key, _ = apikey_create(organization=org.organization, name="member's", created_by=org.member)
        web = org.client_for(manager)
        assert "member&#x27;s" in web.get("/keys/").content.decode()
        assert web.post(f"/keys/{key.pk}/revoke/").status_code == 302
        key.refresh_from_db()
        assert key.revoked_at is not None


def test_it_refuses_keys_to_viewers(org):
    key, _ = apikey_create(organization=org.organization, name="k", created_by=org.owner)
    web = org.client_for(org.viewer)
    response = web.get("/keys/")
    assert response.status_code == 403 and "viewer" in response.content.decode()
    assert web.post("/keys/", {"name": "nope"}).status_code == 403
    assert not ApiKey.objects.filter(name="nope").exists()
    assert web.post(f"/keys/{key.pk}/revoke/").status_code == 403
    assert web.get(f"/keys/{key.pk}/").status_code == 403


def test_it_sends_anonymous_visitors_to_sign_in(db):
    from django.test import Client

    response = Client().get("/keys/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=/keys/")
