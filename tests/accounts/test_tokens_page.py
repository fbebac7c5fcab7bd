"""The management tokens page: a token is shown once, belongs to its user, and can be revoked."""

import re
import subprocess
import sys
from pathlib import Path

from accounts.models import ManagementToken
from accounts.tokens import management_token_create

TOKEN = re.compile(r"aip-mt-[0-9A-Za-z]{40}")


def test_it_creates_a_token_shown_once_that_works_on_the_api(org):
    web = org.client_for(org.admin)
    response = web.post("/tokens/", {"name": "deploy script"})
    [raw] = set(TOKEN.findall(response.content.decode()))
    assert response["Cache-Control"] == "no-store"
    token = ManagementToken.objects.get(user=org.admin, organization=org.organization)
    assert token.name == "deploy script" and raw.startswith(token.prefix)
    assert raw not in web.get("/tokens/").content.decode()
    from django.test import Client

    assert Client(headers={"Authorization": f"Token {raw}"}).get("/api/members/").status_code == 200


def test_it_shows_and_revokes_only_ones_own_tokens(org):
    mine, _ = management_token_create(membership=org.membership(org.member), name="mine")
    theirs, _ = management_token_create(membership=org.membership(org.owner), name="owner's")
    web = org.client_for(org.member)
    page = web.get("/tokens/").content.decode()
    assert mine.prefix in page and theirs.prefix not in page
    assert web.post(f"/tokens/{theirs.pk}/revoke/").status_code == 404
    assert web.post(f"/tokens/{mine.pk}/revoke/").status_code == 302
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_at is not None and theirs.revoked_at is None


def test_social_sign_in_is_off_by_default_and_on_with_a_client_id():
    """Settings are read at start-up: ask a fresh process."""
    probe = (
        "from django.conf import settings; import sys; "
        "print('allauth.socialaccount.providers.github' in settings.INSTALLED_APPS, "
        "'allauth.socialaccount.providers.google' in settings.INSTALLED_APPS)"
    )
    root = Path(__file__).resolve().parents[2]

    def run(**env):
        import os

        environ = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GOOGLE_"))}
        out = subprocess.run(
            [sys.executable, "manage.py", "shell", "-v", "0", "-c", probe],
            cwd=root,
            env={**environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        return out.stdout.strip() or out.stderr

    assert run() == "False False"
    assert run(GITHUB_OAUTH_CLIENT_ID="id", GITHUB_OAUTH_SECRET="s") == "True False"
    assert "Set both GOOGLE_OAUTH_CLIENT_ID and GOOGLE_OAUTH_SECRET" in run(GOOGLE_OAUTH_CLIENT_ID="id")
