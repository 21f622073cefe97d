import pytest
from django.db.models import TextChoices
from django.test import Client

from shop.core import exceptions as core_exceptions
from shop.core.exceptions import ShopError


@pytest.mark.django_db
def test_healthz_reports_every_dependency():
    response = Client().get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "broker", "provider_breaker"}
    breaker = body["checks"].pop("provider_breaker")
    assert breaker == {"status": "closed", "failures": 0}
    assert all(check["status"] in {"ok", "eager"} for check in body["checks"].values())


@pytest.mark.django_db
def test_healthz_is_503_when_the_cache_is_down(settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }  # Django's setting_changed handler rebuilds the cache connections
    response = Client().get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["cache"]["status"] == "down"
    assert body["checks"]["database"]["status"] == "ok"


@pytest.mark.django_db
def test_healthz_is_503_when_the_broker_is_down(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["status"] == "down"


@pytest.mark.django_db
def test_unknown_page_is_a_friendly_404():
    response = Client().get("/no-such-page-here/")
    assert response.status_code == 404


@pytest.mark.django_db
def test_currency_switcher_keeps_only_supported_currencies():
    client = Client()
    client.post("/currency/", {"currency": "EUR", "next": "/"})
    assert client.session["currency"] == "EUR"
    client.post("/currency/", {"currency": "XXX", "next": "/"})
    assert client.session["currency"] == "EUR"


def test_currency_switcher_refuses_open_redirects(db):
    response = Client().post("/currency/", {"currency": "GBP", "next": "https://evil.example.com/"})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_shop_error_carries_code_and_status(monkeypatch):
    class ThingCode(TextChoices):
        THING_WRONG = "thing_wrong"

    # A code must be a member of a registered enum; this one is registered for this test only.
    monkeypatch.setattr(core_exceptions, "_registry", [*core_exceptions.error_code_enums(), ThingCode])
    error = ShopError("nope", code=ThingCode.THING_WRONG, field="amount")
    assert error.as_dict() == {"code": "thing_wrong", "detail": "nope", "field": "amount"}
    assert error.status_code == 400


@pytest.mark.django_db
def test_conversion_loads_the_rates_file_when_the_database_has_none():
    from djmoney.contrib.exchange.models import Rate
    from djmoney.money import Money

    from shop.core.money import money_convert

    Rate.objects.all().delete()
    converted = money_convert(Money("10.00", "USD"), "EUR")
    assert converted.currency.code == "EUR"
    assert converted.amount == converted.amount.quantize(converted.amount.__class__("0.01"))
    assert converted.amount > 0 and converted.amount != 10
    assert Rate.objects.filter(currency="EUR").exists()


@pytest.mark.django_db
def test_home_page_in_euro_renders_on_a_database_without_rates():
    from djmoney.contrib.exchange.models import Rate

    Rate.objects.all().delete()
    client = Client()
    client.post("/currency/", {"currency": "EUR", "next": "/"})
    assert client.get("/").status_code == 200


def test_api_docs_page_loads_swagger_ui_from_our_own_static_files(client, db):
    """No CDN: the browsable API docs reference only local static files."""
    import re

    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page)
    assert any("swagger-ui" in url for url in urls)
    assert not [url for url in urls if url.startswith(("http://", "https://", "//"))]


@pytest.mark.django_db(transaction=True)
def test_every_beat_entry_names_a_registered_task_and_is_loaded_for_admin():
    """A typo in the schedule would be a job that silently never runs."""
    from django.conf import settings
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import DatabaseScheduler

    from shop.celery import app

    app.loader.import_default_modules()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, name
    DatabaseScheduler(app=app, lazy=True).setup_schedule()
    assert set(settings.CELERY_BEAT_SCHEDULE) <= set(PeriodicTask.objects.values_list("name", flat=True))


def test_shop_error_refuses_a_code_that_is_no_registered_enum_member():
    with pytest.raises(TypeError):
        ShopError("nope", code="made_up_here")
