"""Sign-up with mandatory email verification, sign-in, sign-out, password reset and change."""

import random
import re
import uuid

from django.test import Client

from accounts.models import Membership

from .conftest import PASSWORD, make_user

CONFIRM = re.compile(r"http://testserver(/accounts/confirm-email/[^/\s]+/)")
RESET = re.compile(r"http://testserver(/accounts/password/reset/key/[^/\s]+/)")


def browser() -> Client:
    # Each test its own client IP: the per-IP sign-in limits live in a cache shared between tests.
    return Client(REMOTE_ADDR=f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}")


def unique_email() -> str:
    return f"s-{uuid.uuid4().hex[:10]}@example.com"


def test_it_signs_up_verifies_the_email_and_creates_a_personal_organization(db, mailoutbox):
    web, email = browser(), unique_email()
    response = web.post("/accounts/signup/", {"email": email, "password1": PASSWORD, "password2": PASSWORD})
    assert response["Location"] == "/accounts/confirm-email/"
    assert web.get("/keys/").status_code == 302  # not signed in until verified
    [message] = mailoutbox
    link = CONFIRM.search(message.body).group(1)
    response = web.post(link)
    assert response["Location"] == "/keys/"
    page = web.get("/keys/").content.decode()
    assert "API keys" in page and email in page
    m = Membership.objects.select_related("organization").get(user__email=email)
    assert m.role == "owner" and m.organization.name == f"{email.split('@')[0]}'s organization"


def test_it_refuses_sign_in_before_verification(db):
    web, email = browser(), unique_email()
    web.post("/accounts/signup/", {"email": email, "password1": PASSWORD, "password2": PASSWORD})
    web = browser()
    response = web.post("/accounts/login/", {"login": email, "password": PASSWORD})
    assert response["Location"] == "/accounts/confirm-email/"
    assert web.get("/keys/").status_code == 302


def test_it_signs_in_and_out_with_secure_cookie_flags(db):
    user = make_user()
    web = browser()
    response = web.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302
    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert web.get("/keys/").status_code == 200
    web.post("/accounts/logout/")
    assert web.get("/keys/").status_code == 302


def test_it_resets_a_forgotten_password(db, mailoutbox):
    user = make_user()
    web = browser()
    web.post("/accounts/password/reset/", {"email": user.email})
    link = RESET.search(mailoutbox[-1].body).group(1)
    form_url = web.get(link)["Location"]  # allauth moves the key out of the URL into the session
    new = "another long passphrase 42"
    response = web.post(form_url, {"password1": new, "password2": new})
    assert response.status_code == 302
    assert browser().post("/accounts/login/", {"login": user.email, "password": new}).status_code == 302


def test_it_changes_the_password(db):
    user = make_user()
    web = browser()
    web.force_login(user)
    new = "a brand new passphrase 7"
    response = web.post("/accounts/password/change/", {"oldpassword": PASSWORD, "password1": new, "password2": new})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(new)


def test_it_locks_sign_in_after_repeated_failures(db):
    user = make_user()
    web = browser()
    for _ in range(5):
        response = web.post("/accounts/login/", {"login": user.email, "password": "wrong password"})
        assert response.status_code == 200
        assert "not correct" in response.content.decode()
    # Now even the right password is refused, from this client and from another IP (per account).
    for client in (web, browser()):
        response = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
        assert response.status_code in (200, 429)
        assert "Too many failed login attempts" in response.content.decode()
        assert client.get("/keys/").status_code == 302


def test_it_limits_failed_sign_ins_per_ip_across_accounts(db):
    web = browser()
    users = [make_user() for _ in range(4)]
    for i in range(12):  # 3 failures per account: none is locked by the per-account limit
        web.post("/accounts/login/", {"login": users[i % 4].email, "password": "nope"})
    refused = web.post("/accounts/login/", {"login": users[0].email, "password": PASSWORD})
    assert "Too many failed login attempts" in refused.content.decode() or refused.status_code == 429


def test_the_pages_wear_the_product_look_and_social_sign_in_is_off(db):
    page = browser().get("/accounts/login/").content.decode()
    assert 'class="brand"' in page and "css/accounts.css" in page and "Sign In" in page
    assert "GitHub" not in page and "Google" not in page


def test_the_admin_signs_in_through_the_rate_limited_form(db):
    response = browser().get("/admin/")
    assert response.status_code == 302
    response = browser().get(response["Location"])
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2F"


def test_people_signing_up_at_once_under_the_same_name_each_get_an_organization(live_db):
    """Two sign-ups whose organizations share a name race for the same slug; the one that loses
    picks the next free slug instead of failing (threads stand in for web processes)."""
    import threading

    from django.contrib.auth import get_user_model
    from django.db import connection

    from accounts.models import Organization
    from accounts.orgs import organization_create

    name = f"Race {uuid.uuid4().hex[:8]}"
    with live_db.unblock():
        users = [
            get_user_model().objects.create_user(username=e, email=e, password=PASSWORD)
            for e in (unique_email() for _ in range(6))
        ]
    barrier, made, errors = threading.Barrier(len(users)), [], []

    def sign_up(user):
        try:
            with live_db.unblock():
                barrier.wait()
                made.append(organization_create(name=name, owner=user).pk)
        except Exception as e:  # noqa: BLE001 -- the test reports what a racing sign-up hit
            errors.append(repr(e))
        finally:
            connection.close()

    threads = [threading.Thread(target=sign_up, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(made) == len(users)
    with live_db.unblock():
        orgs = Organization.objects.filter(name=name)
        slugs = sorted(orgs.values_list("slug", flat=True))
        base = slugs[0]
        assert slugs == sorted([base] + [f"{base}-{n}" for n in range(2, len(users) + 1)])
        assert {m.user_id for o in orgs for m in o.memberships.all()} == {u.pk for u in users}
