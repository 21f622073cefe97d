"""allauth's login rate limits are on: per-address lock-out after failures, 429 per IP."""

import pytest
from django.test import Client

from tests.accounts.factories import UserFactory

LOGIN = "/accounts/login/"
APP_LOGIN = "/_allauth/app/v1/auth/login"


@pytest.mark.django_db
def test_repeated_failures_lock_the_address_even_for_the_right_password(password):
    UserFactory(email="mia@example.com")
    client = Client()
    for _ in range(5):
        response = client.post(LOGIN, {"login": "mia@example.com", "password": "wrong"})
        assert "are not correct" in response.content.decode()
    response = client.post(LOGIN, {"login": "MIA@example.com", "password": password})
    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session

    app = Client()
    response = app.post(
        APP_LOGIN, {"email": "mia@example.com", "password": password}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "too_many_login_attempts"


@pytest.mark.django_db
def test_login_page_answers_429_after_too_many_attempts_from_one_ip():
    client = Client()
    statuses = [
        client.post(LOGIN, {"login": f"nobody{i}@example.com", "password": "wrong"}).status_code
        for i in range(31)
    ]
    assert statuses[:10] == [200] * 10
    assert statuses[-1] == 429


@pytest.mark.django_db
def test_headless_login_answers_429_after_too_many_attempts_from_one_ip():
    client = Client()
    statuses = [
        client.post(
            APP_LOGIN, {"email": f"nobody{i}@example.com", "password": "wrong"}, content_type="application/json"
        ).status_code
        for i in range(31)
    ]
    assert statuses[0] == 400
    assert statuses[-1] == 429
