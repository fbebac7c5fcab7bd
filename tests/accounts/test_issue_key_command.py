import io

import openai
from django.core.management import call_command


def test_it_creates_the_org_and_prints_a_working_key_last(gateway, live_db):
    out = io.StringIO()
    with live_db.unblock():
        call_command("issue_key", "--org", "Command Co", "--credit-usd", "0.5", stdout=out)
        call_command("issue_key", "--org", "Command Co", stdout=io.StringIO())
        from accounts.models import Organization

        assert Organization.objects.filter(name="Command Co").count() == 1
        assert Organization.objects.get(name="Command Co").api_keys.count() == 2
    key = out.getvalue().strip().splitlines()[-1]
    assert key.startswith("sk-aip-")
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0) as client:
        assert client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}]).model


def test_a_name_several_organizations_share_is_refused_and_a_slug_picks_one(live_db):
    import uuid

    import pytest
    from django.core.management.base import CommandError

    from accounts.models import Organization
    from accounts.orgs import organization_row_create

    name = f"Alex's organization {uuid.uuid4().hex[:6]}"
    with live_db.unblock():
        first, second = organization_row_create(name), organization_row_create(name)
        with pytest.raises(CommandError, match=f"slugs: {first.slug}, {second.slug}"):
            call_command("issue_key", "--org", name, "--credit-usd", "5", stdout=io.StringIO())
        # Nothing was issued or granted to either.
        assert not first.api_keys.exists() and not second.api_keys.exists()
        out = io.StringIO()
        call_command("issue_key", "--org", second.slug, stdout=out)
        assert f"Organization: {name} (id {second.pk})" in out.getvalue()
        assert second.api_keys.count() == 1 and not first.api_keys.exists()
        assert Organization.objects.filter(name=name).count() == 2
