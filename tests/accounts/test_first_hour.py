"""A new operator's and a new customer's first hour: where the verification email went, a
superuser who can sign into the admin, the whole key in the key-created snippet, issue_key
saying when an organization has no credit."""

import io
import re
import uuid

from django.core.management import call_command

from .conftest import PASSWORD
from .test_keys_page import SECRET, create_key
from .test_signup import browser, unique_email


def sign_up(web, email):
    response = web.post("/accounts/signup/", {"email": email, "password1": PASSWORD, "password2": PASSWORD})
    assert response["Location"] == "/accounts/confirm-email/"
    return web.get("/accounts/confirm-email/").content.decode()


def test_in_embedded_mode_the_verify_page_says_where_the_email_went_and_shows_the_link(db, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    web, email = browser(), unique_email()
    page = sign_up(web, email)
    assert f"We sent a verification link to <strong>{email}</strong>" in page
    assert "printed on the console of the server process" in page
    link = re.search(r"data-verification-link>http://testserver(/accounts/confirm-email/[^<]+)<", page).group(1)
    assert web.post(link)["Location"] == "/keys/"
    assert web.get("/keys/").status_code == 200


def test_with_a_mail_server_the_verify_page_shows_no_link(db, mailoutbox):
    web, email = browser(), unique_email()
    page = sign_up(web, email)
    assert f"<strong>{email}</strong>" in page and "/accounts/confirm-email/" not in page.split("<main>")[1]
    assert len(mailoutbox) == 1


def test_a_createsuperuser_superuser_signs_into_the_admin_without_verifying(db, monkeypatch):
    email = f"ops-{uuid.uuid4().hex[:8]}@example.com"
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    call_command("createsuperuser", "--noinput", "--username", email, "--email", email, stdout=io.StringIO())
    web = browser()
    response = web.post("/accounts/login/?next=/admin/", {"login": email, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert "Site administration" in web.get("/admin/").content.decode()


def test_the_key_created_page_puts_the_whole_key_in_its_snippet(org):
    web = org.client_for(org.owner)
    key, secret, response = create_key(web, name="first")
    page = response.content.decode()
    assert f'api_key="{secret}"' in page
    assert not SECRET.search(web.get(f"/keys/{key.pk}/").content.decode())
    assert not SECRET.search(web.get("/keys/").content.decode())


def test_issue_key_without_credit_says_the_organization_has_none_and_how_to_grant_it(db):
    out = io.StringIO()
    name = f"No Credit {uuid.uuid4().hex[:6]}"
    call_command("issue_key", "--org", name, stdout=out)
    text = out.getvalue()
    assert "The organization has no credit" in text and "402" in text
    assert f'manage.py issue_key --org "{name}" --credit-usd 5' in text
    assert text.strip().splitlines()[-1].startswith("sk-aip-")  # the key stays the last line
    out = io.StringIO()
    call_command("issue_key", "--org", name, "--credit-usd", "2.5", stdout=out)
    assert "balance $2.50" in out.getvalue() and "no credit" not in out.getvalue()
