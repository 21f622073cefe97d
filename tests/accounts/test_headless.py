"""Mobile auth through allauth headless (app client) and the API's X-Session-Token."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client

from accounts.models import User
from tests.accounts.factories import UserFactory

APP = "/_allauth/app/v1"


def _post(client, path, body, token=None):
    headers = {"HTTP_X_SESSION_TOKEN": token} if token else {}
    return client.post(APP + path, body, content_type="application/json", **headers)


@pytest.mark.django_db
def test_app_signup_verify_and_call_the_api_with_the_session_token(last_code):
    app = Client()
    response = _post(app, "/auth/signup", {"email": "Nia@Example.com", "password": "a-Strong-passw0rd"})
    assert response.status_code == 401
    body = response.json()
    assert body["meta"]["is_authenticated"] is False
    assert {"id": "verify_email", "is_pending": True} in body["data"]["flows"]
    pending_token = body["meta"]["session_token"]
    user = User.objects.get()
    assert user.email == "nia@example.com"
    assert EmailAddress.objects.get(user=user).verified is False
    assert user.password.startswith("argon2")

    # Not verified yet: the pending token is not an API credential.
    assert app.get("/api/v1/me/", HTTP_X_SESSION_TOKEN=pending_token).status_code in (401, 403)

    response = _post(app, "/auth/email/verify", {"key": last_code()}, token=pending_token)
    assert response.status_code == 200
    body = response.json()
    assert body["meta"]["is_authenticated"] is True
    token = body["meta"]["session_token"]
    assert EmailAddress.objects.get(user=user).verified is True

    api = Client()  # no cookies: the token alone authenticates
    response = api.get("/api/v1/me/", HTTP_X_SESSION_TOKEN=token)
    assert response.status_code == 200
    assert response.json()["email"] == "nia@example.com"
    assert response.json()["email_verified"] is True

    response = api.patch(
        "/api/v1/me/", {"full_name": "Nia Nova"}, content_type="application/json", HTTP_X_SESSION_TOKEN=token
    )
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.full_name == "Nia Nova"


@pytest.mark.django_db
def test_api_without_a_token_or_with_a_bad_one_is_refused():
    response = Client().get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert "X-Session-Token" in response["WWW-Authenticate"]
    response = Client().get("/api/v1/me/", HTTP_X_SESSION_TOKEN="not-a-real-token")
    assert response.status_code == 401


@pytest.mark.django_db
def test_app_login_with_any_case_then_logout_ends_the_token(password):
    UserFactory(email="omar@example.com")
    app = Client()
    response = _post(app, "/auth/login", {"email": "OMAR@example.com", "password": password})
    assert response.status_code == 200
    token = response.json()["meta"]["session_token"]
    api = Client()
    assert api.get("/api/v1/me/", HTTP_X_SESSION_TOKEN=token).status_code == 200

    response = app.delete(APP + "/auth/session", HTTP_X_SESSION_TOKEN=token)
    assert response.status_code == 401
    assert api.get("/api/v1/me/", HTTP_X_SESSION_TOKEN=token).status_code in (401, 403)


@pytest.mark.django_db
def test_app_login_of_an_unverified_user_asks_for_verification(password):
    UserFactory(email="pia@example.com", verified=False)
    mail.outbox.clear()
    response = _post(Client(), "/auth/login", {"email": "pia@example.com", "password": password})
    assert response.status_code == 401
    body = response.json()
    assert body["meta"]["is_authenticated"] is False
    assert {"id": "verify_email", "is_pending": True} in body["data"]["flows"]
    assert len(mail.outbox) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("second", ["QUINN@example.com", "quinn@EXAMPLE.COM"])
def test_app_signup_with_an_existing_email_in_another_case_is_a_400(second):
    UserFactory(email="quinn@example.com")
    response = _post(Client(), "/auth/signup", {"email": second, "password": "a-Strong-passw0rd"})
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == "email_taken"
    assert error["param"] == "email"
    assert error["message"] == "A user is already registered with this email address."
    assert User.objects.filter(email__iexact="quinn@example.com").count() == 1


@pytest.mark.django_db
def test_browser_session_works_for_the_api_with_csrf(user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    assert browser.get("/api/v1/me/").status_code == 200

    new_address = {
        "full_name": "Ann",
        "line1": "Main St 1",
        "city": "Berlin",
        "postal_code": "10115",
        "country": "DE",
    }
    response = browser.post("/api/v1/addresses/", new_address, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not user.addresses.exists()

    browser.get("/account/")  # a page with a form sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    response = browser.post(
        "/api/v1/addresses/", new_address, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 201
    assert response.json()["country"] == "DE"
    assert user.addresses.count() == 1


@pytest.mark.django_db
def test_session_token_requests_need_no_csrf(password):
    UserFactory(email="rita@example.com")
    response = _post(Client(), "/auth/login", {"email": "rita@example.com", "password": password})
    token = response.json()["meta"]["session_token"]
    api = Client(enforce_csrf_checks=True)
    response = api.post(
        "/api/v1/addresses/",
        {"full_name": "Rita", "line1": "1 Road", "city": "Paris", "postal_code": "75001", "country": "FR"},
        content_type="application/json",
        HTTP_X_SESSION_TOKEN=token,
    )
    assert response.status_code == 201


@pytest.mark.django_db
def test_app_errors_for_wrong_password_and_wrong_code(password):
    UserFactory(email="sol@example.com")
    response = _post(Client(), "/auth/login", {"email": "sol@example.com", "password": "nope"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "email_password_mismatch"

    response = _post(Client(), "/auth/signup", {"email": "tess@example.com", "password": "a-Strong-passw0rd"})
    token = response.json()["meta"]["session_token"]
    response = _post(Client(), "/auth/email/verify", {"key": "WRNG-CODE"}, token=token)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "incorrect_code"
    assert not EmailAddress.objects.get(email="tess@example.com").verified


@pytest.mark.django_db
def test_app_password_change_issues_a_new_token_and_reset_mails_a_key(password):
    user = UserFactory(email="uma@example.com")
    app = Client()
    token = _post(app, "/auth/login", {"email": "uma@example.com", "password": password}).json()["meta"][
        "session_token"
    ]
    response = _post(
        app, "/account/password/change", {"current_password": password, "new_password": "n3w-Secret-pass"}, token
    )
    assert response.status_code == 200
    new_token = response.json()["meta"]["session_token"]
    user.refresh_from_db()
    assert user.check_password("n3w-Secret-pass")
    assert Client().get(APP + "/auth/session", HTTP_X_SESSION_TOKEN=token).status_code == 410
    assert Client().get("/api/v1/me/", HTTP_X_SESSION_TOKEN=new_token).status_code == 200

    mail.outbox.clear()
    response = _post(Client(), "/auth/password/request", {"email": "UMA@example.com"})
    assert response.status_code == 200
    assert mail.outbox[0].to == ["uma@example.com"]
    key = re.search(r"/accounts/password/reset/key/([^/\s]+)/", mail.outbox[0].body).group(1)
    response = _post(Client(), "/auth/password/reset", {"key": key, "password": "an0ther-Secret"})
    assert response.status_code in (200, 401)  # 401: reset done, log in next
    user.refresh_from_db()
    assert user.check_password("an0ther-Secret")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_app_signups_make_one_account_and_the_others_get_email_taken():
    import threading

    from django.db import connection

    emails = ["zoe@example.com", "ZOE@example.com", "Zoe@Example.com", "zoe@EXAMPLE.com"]
    barrier = threading.Barrier(len(emails))
    answers = []

    def sign_up(email):
        try:
            client = Client(raise_request_exception=False)
            barrier.wait(timeout=10)
            response = _post(client, "/auth/signup", {"email": email, "password": "a-Strong-passw0rd"})
            answers.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=sign_up, args=(email,)) for email in emails]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(status for status, _body in answers)
    assert statuses == [400, 400, 400, 401], answers
    for status, body in answers:
        if status == 400:
            assert body["errors"][0]["code"] == "email_taken"
            assert body["errors"][0]["param"] == "email"
    assert User.objects.filter(email__iexact="zoe@example.com").count() == 1
