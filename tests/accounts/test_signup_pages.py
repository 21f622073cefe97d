"""Browser sign-up, verification by code, log-in, the case-insensitive e-mail rule and Argon2."""

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import User
from accounts.selectors import user_has_verified_email
from tests.accounts.factories import UserFactory

SIGNUP = "/accounts/signup/"
LOGIN = "/accounts/login/"


def _signup(client, email, password="a-Strong-passw0rd"):
    return client.post(SIGNUP, {"email": email, "password1": password, "password2": password})


@pytest.mark.django_db
def test_signup_sends_a_code_and_verifying_it_logs_the_user_in(client, last_code):
    response = _signup(client, "Carol@Example.com")
    assert response.status_code == 302
    user = User.objects.get()
    assert user.email == "carol@example.com"
    assert not user_has_verified_email(user)
    assert EmailAddress.objects.get(user=user).verified is False
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["carol@example.com"]

    confirm_page = client.get(response["Location"])
    assert confirm_page.status_code == 200
    response = client.post(response["Location"], {"code": last_code()})
    assert response.status_code == 302, response.context["form"].errors
    assert response["Location"] == reverse("accounts:profile")
    assert user_has_verified_email(user)
    profile = client.get(reverse("accounts:profile"))
    assert profile.status_code == 200
    assert "carol@example.com" in profile.content.decode()


@pytest.mark.django_db
def test_a_wrong_code_does_not_verify(client):
    response = _signup(client, "dan@example.com")
    response = client.post(response["Location"], {"code": "WRONG1"})
    assert response.status_code == 200
    assert not EmailAddress.objects.get(email="dan@example.com").verified
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
@pytest.mark.parametrize("second", ["ANN@x.com", "ann@X.COM", " Ann@x.com "])
def test_signup_with_an_existing_email_in_another_case_is_refused(client, second):
    UserFactory(email="ann@x.com")
    response = _signup(client, second)
    assert response.status_code == 200
    assert "A user is already registered with this email address." in response.content.decode()
    assert User.objects.filter(email__iexact="ann@x.com").count() == 1


@pytest.mark.django_db
def test_signup_is_refused_for_a_mixed_case_user_made_outside_allauth(client):
    # A user stored before the lower-casing rule, or by raw SQL, without an EmailAddress row.
    User.objects.bulk_create([User(email="Eve@Example.com", password="!")])
    response = _signup(client, "eve@example.com")
    assert response.status_code == 200
    assert "already registered" in response.content.decode()
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_database_refuses_a_second_row_in_another_case():
    from django.db import IntegrityError, transaction

    User.objects.create_user("frank@example.com", "pw-123456789")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.bulk_create([User(email="FRANK@example.com", password="!")])
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_unverified_user_cannot_log_in_before_verifying(client, password, last_code):
    UserFactory(email="gina@example.com", verified=False)
    mail.outbox.clear()
    response = client.post(LOGIN, {"login": "gina@example.com", "password": password})
    assert "_auth_user_id" not in client.session
    # allauth sends a fresh code and asks for it instead of logging in.
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert client.get(reverse("accounts:profile")).status_code == 302
    response = client.post(response["Location"], {"code": last_code()})
    assert response.status_code == 302
    assert "_auth_user_id" in client.session


@pytest.mark.django_db
def test_login_is_case_insensitive(client, password):
    user = UserFactory(email="hal@example.com")
    response = client.post(LOGIN, {"login": "HAL@Example.COM", "password": password})
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:profile")
    assert client.session["_auth_user_id"] == str(user.pk)


@pytest.mark.django_db
def test_wrong_password_does_not_log_in(client):
    UserFactory(email="ida@example.com")
    response = client.post(LOGIN, {"login": "ida@example.com", "password": "not-it"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_passwords_are_stored_with_argon2(client, last_code):
    _signup(client, "jo@example.com")
    assert User.objects.get(email="jo@example.com").password.startswith("argon2")
    assert User.objects.create_user("kim@example.com", "pw-abcdefgh1").password.startswith("argon2")


@pytest.mark.django_db
def test_manager_lookups_ignore_case():
    user = User.objects.create_user("  Leo@Example.COM ", "pw-abcdefgh1")
    assert user.email == "leo@example.com"
    assert User.objects.get_by_natural_key("LEO@example.com") == user
    from django.contrib.auth import authenticate

    assert authenticate(username="Leo@EXAMPLE.com", password="pw-abcdefgh1") == user


@pytest.mark.django_db
def test_logout_ends_the_session(user_client):
    response = user_client.post("/accounts/logout/")
    assert response.status_code == 302
    assert "_auth_user_id" not in user_client.session


@pytest.mark.django_db
def test_password_change_and_reset(client, user, password):
    client.force_login(user)
    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": password, "password1": "n3w-Secret-pass", "password2": "n3w-Secret-pass"},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("n3w-Secret-pass")
    assert user.password.startswith("argon2")

    client.logout()
    mail.outbox.clear()
    response = client.post(reverse("account_reset_password"), {"email": "ANN@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ann@example.com"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [SIGNUP, LOGIN, "/accounts/password/reset/", "/accounts/logout/", "/accounts/password/change/", "/accounts/email/"],
)
def test_allauth_pages_use_the_shop_layout(user, url):
    used = Client()
    if "change" in url or "logout" in url or "email" in url:
        used.force_login(user)
    response = used.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'class="site-header"' in html
    assert "css/shop.css" in html
    assert '<form method="post" class="card"' in html


@pytest.mark.django_db
def test_login_switches_to_the_preferred_language(client, password):
    UserFactory(email="vera@example.com", preferred_language="de")
    response = client.post(LOGIN, {"login": "vera@example.com", "password": password})
    assert response.status_code == 302
    assert response.cookies["django_language"].value == "de"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_signups_in_different_case_make_one_account_and_no_server_error():
    import threading

    from django.db import connection

    emails = ["race@example.com", "RACE@example.com", "Race@Example.com", "race@EXAMPLE.COM"]
    barrier = threading.Barrier(len(emails))
    statuses = []

    def sign_up(email):
        try:
            client = Client(raise_request_exception=False)
            barrier.wait(timeout=10)
            statuses.append(_signup(client, email).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=sign_up, args=(email,)) for email in emails]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(statuses) == len(emails), statuses
    assert 500 not in statuses  # the losers get the "already registered" error
    assert statuses.count(302) == len(emails)  # the winner to verification, the others back to sign-up
    assert User.objects.filter(email__iexact="race@example.com").count() == 1
    assert EmailAddress.objects.filter(email__iexact="race@example.com").count() == 1
