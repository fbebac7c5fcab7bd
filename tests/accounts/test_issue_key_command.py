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
