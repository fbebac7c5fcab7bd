"""A key's default quality trade-off for prompt-aware routes, on the keys page and in the
management API (a request's x-aipower-quality header overrides it; see tests/routing)."""

from accounts.keys import apikey_create
from accounts.models import ApiKey
from tests.accounts.test_api import api_as, call


def test_the_keys_page_sets_and_clears_a_keys_quality(org):
    key, _ = apikey_create(organization=org.organization, name="k", created_by=org.member)
    web = org.client_for(org.member)
    assert b"Quality trade-off" in web.get(f"/keys/{key.pk}/").content
    assert web.post(f"/keys/{key.pk}/", {"name": "k", "route_quality": "0.8"}).status_code == 302
    key.refresh_from_db()
    assert key.route_quality == 0.8
    assert b"quality 0.8" in web.get("/keys/").content
    assert web.post(f"/keys/{key.pk}/", {"name": "k", "route_quality": ""}).status_code == 302
    key.refresh_from_db()
    assert key.route_quality is None


def test_the_keys_page_refuses_a_quality_out_of_range(org):
    key, _ = apikey_create(organization=org.organization, name="k", created_by=org.member)
    response = org.client_for(org.member).post(f"/keys/{key.pk}/", {"name": "k", "route_quality": "1.5"})
    assert response.status_code == 400 and b"less than or equal to 1" in response.content
    key.refresh_from_db()
    assert key.route_quality is None


def test_the_management_api_reads_and_writes_a_keys_quality(org, other_org):
    api = api_as(org, org.member)
    created = call(api, "post", "/api/keys/", {"name": "svc", "route_quality": 0.2})
    assert created.status_code == 201 and created.json()["route_quality"] == 0.2
    pk = created.json()["id"]
    assert call(api, "patch", f"/api/keys/{pk}/", {"route_quality": 0.9}).json()["route_quality"] == 0.9
    bad = call(api, "patch", f"/api/keys/{pk}/", {"route_quality": -0.1})
    assert bad.status_code == 400 and set(bad.json()) == {"route_quality"}
    assert ApiKey.objects.get(pk=pk).route_quality == 0.9
    foreign, _ = apikey_create(organization=other_org.organization, name="theirs", created_by=other_org.owner)
    assert call(api, "patch", f"/api/keys/{foreign.pk}/", {"route_quality": 1}).status_code == 404
    assert ApiKey.objects.get(pk=foreign.pk).route_quality is None
