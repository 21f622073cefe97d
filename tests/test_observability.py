"""Metrics (/metrics, Prometheus) and structured logs (JSON lines with the request id)."""

import io
import json
import logging
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from djmoney.money import Money
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from catalog.models import Stock, StockReservation
from payments import breaker
from payments.models import Payment, ReconciliationItem, ReconciliationRun
from payments.tasks import prune_idempotency_keys
from shop.celery import app
from shop.core.logs import logging_config
from shop.orders.models import OutboxEmail
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.payments.fixtures import psp, wallet_with_balance  # noqa: F401
from tests.reliability.helpers import database_url
from tests.shipping.factories import shipping_method_everywhere

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "metrics-test-token"


@app.task(name="tests.observability.fails")
def _failing_task():
    raise RuntimeError("this task always fails")


@pytest.fixture
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(client=None) -> dict:
    """{(name, frozenset(labels)): value} of one authorised scrape."""
    response = (client or Client()).get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


# --- /metrics ------------------------------------------------------------------------------------


def test_metrics_is_a_404_without_a_token_configured(db, settings):
    settings.METRICS_TOKEN = ""
    assert Client().get("/metrics", headers={"Authorization": "Bearer anything"}).status_code == 404


def test_metrics_needs_the_bearer_token(db, metrics_token):
    client = Client()
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_requests_are_counted_by_route_name_and_status_never_by_raw_path(db, metrics_token):
    user = shopper_new(funds=None)
    api = APIClient()
    api.force_authenticate(user)
    before = scrape()
    for payment_id in (9001, 9002, 9003):
        assert api.get(f"/api/v1/payments/{payment_id}/").status_code == 404
    assert Client().get("/healthz").status_code == 200
    after = scrape()
    route = "payments_api:payment_detail"
    assert value(after, "shop_http_requests_total", method="GET", route=route, status="404") - value(
        before, "shop_http_requests_total", method="GET", route=route, status="404"
    ) == 3
    assert value(after, "shop_http_requests_total", method="GET", route="healthz", status="200") > value(
        before, "shop_http_requests_total", method="GET", route="healthz", status="200"
    )
    assert value(after, "shop_http_request_duration_seconds_count", method="GET", route=route) - value(
        before, "shop_http_request_duration_seconds_count", method="GET", route=route
    ) == 3
    labels = {dict(key[1]).get("route", "") for key in after}
    assert not any("9001" in label or label.startswith("/") for label in labels), labels


def test_database_queries_per_request_are_the_queries_the_request_made(db, metrics_token):
    shopper = shopper_new(funds="50.00")
    api = APIClient()
    api.force_authenticate(shopper)
    route = "payments_api:wallet_list"
    before = scrape()
    queries = []  # Django's own hook, independent of the middleware (the test client resets connection.queries)

    def record(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        assert api.get("/api/v1/wallets/").status_code == 200
    after = scrape()
    assert len(queries) > 0
    assert value(after, "shop_http_db_queries_sum", route=route) - value(before, "shop_http_db_queries_sum", route=route) == len(queries)
    assert value(after, "shop_http_db_queries_count", route=route) - value(before, "shop_http_db_queries_count", route=route) == 1


def test_celery_task_runs_failures_and_durations_are_counted(db, metrics_token):
    before = scrape()
    prune_idempotency_keys.delay()
    # As a worker runs it: the error is recorded, not raised into the caller (eager propagation skips signals).
    assert _failing_task.apply(throw=False).failed()
    after = scrape()
    prune = "payments.tasks.prune_idempotency_keys"
    assert value(after, "shop_celery_task_runs_total", task=prune, outcome="succeeded") - value(
        before, "shop_celery_task_runs_total", task=prune, outcome="succeeded"
    ) == 1
    failing = "tests.observability.fails"
    assert value(after, "shop_celery_task_runs_total", task=failing, outcome="failed") - value(
        before, "shop_celery_task_runs_total", task=failing, outcome="failed"
    ) == 1
    assert value(after, "shop_celery_task_duration_seconds_count", task=prune) - value(
        before, "shop_celery_task_duration_seconds_count", task=prune
    ) == 1


def test_shop_gauges_are_computed_at_scrape_time(db, metrics_token, settings):
    empty = scrape()
    assert value(empty, "shop_payments", status="unknown") == 0
    assert value(empty, "shop_payment_unknown_oldest_age_seconds") == 0
    assert value(empty, "shop_provider_breaker_open") == 0
    shopper = shopper_new(funds="100.00")
    product = make_product(price="5.00", on_hand=10)
    cart_fill(shopper, (product, 2))
    from shop.orders.services.checkout import order_place

    order_place(shipping_method=shipping_method_everywhere(), user=shopper, payment_method="wallet", shipping_address=shopper.addresses.first().pk, currency="USD")
    Payment.objects.create(
        user=shopper, purpose=Payment.Purpose.ORDER, reference="SO-X", method=Payment.Method.CARD,
        amount=Money(Decimal("4.00"), "USD"), status=Payment.Status.UNKNOWN, provider_key="payment-metrics-1",
    )
    Payment.objects.filter(provider_key="payment-metrics-1").update(created_at=Payment.objects.get(
        provider_key="payment-metrics-1").created_at.replace(year=2025))
    stock = Stock.objects.get(product=product)
    StockReservation.objects.create(
        product=product, variant_id=stock.variant_id, warehouse_id=stock.warehouse_id,
        quantity=1, reference="SO-Y", expires_at=product.created_at,
    )
    run = ReconciliationRun.objects.create(day=product.created_at.date())
    ReconciliationItem.objects.create(run=run, kind=ReconciliationItem.Kind.LEDGER_TOTALS, suggested_action=ReconciliationItem.Action.REVIEW)
    settings.PROVIDER_BREAKER_THRESHOLD = 3
    for _ in range(3):
        breaker.breaker_call_end(ticket=breaker.BreakerTicket.CALL, failed=True)
    samples = scrape()
    assert value(samples, "shop_payments", status="unknown") == 1
    assert value(samples, "shop_payments", status="succeeded") == Payment.objects.filter(status="succeeded").count() == 1
    assert value(samples, "shop_payment_unknown_oldest_age_seconds") > 86400
    assert value(samples, "shop_reservations_active") == StockReservation.objects.filter(status="open").count() == 1
    assert value(samples, "shop_outbox_backlog") == OutboxEmail.objects.filter(sent_at__isnull=True).count() >= 1
    assert value(samples, "shop_reconciliation_findings_open") == 1
    assert value(samples, "shop_provider_breaker_open") == 1


def test_multiprocess_mode_adds_up_every_process(db, tmp_path, settings):
    """Two processes count requests into PROMETHEUS_MULTIPROC_DIR; a third one's scrape shows both."""
    env = {
        "DJANGO_SETTINGS_MODULE": "shop.settings",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "METRICS_TOKEN": TOKEN,
        "DATABASE_URL": database_url() if settings.IS_POSTGRES else f"sqlite:///{connection.settings_dict['NAME']}",
        "PATH": "/usr/bin:/bin",
        "LOG_LEVEL": "WARNING",
    }
    requests_code = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "for _ in range(3): assert Client().get('/metrics').status_code == 401\n"
    )
    for _process in range(2):
        subprocess.run([sys.executable, "-c", requests_code], cwd=ROOT, env=env, check=True, timeout=120)  # noqa: S603
    scrape_code = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        f"print(Client().get('/metrics', headers={{'Authorization': 'Bearer {TOKEN}'}}).content.decode())\n"
    )
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", scrape_code], cwd=ROOT, env=env, check=True, timeout=120, capture_output=True, text=True
    ).stdout
    samples = {}
    for family in text_string_to_metric_families(out):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    assert value(samples, "shop_http_requests_total", method="GET", route="metrics", status="401") == 6
    assert len(list(tmp_path.glob("*.db"))) >= 2  # one file per process: they did not share memory


# --- logs ------------------------------------------------------------------------------------------


@pytest.fixture
def json_log():
    """The root logger also writes JSON lines (the production format) to a buffer; returns a reader."""
    spec = dict(logging_config(level="INFO", fmt="json")["formatters"]["structured"])
    formatter = spec.pop("()")(**spec)
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)

    def lines() -> list[dict]:
        return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]

    yield lines
    root.removeHandler(handler)
    root.setLevel(previous)


def test_the_request_id_is_taken_from_the_header_returned_and_on_every_log_line(db, json_log):
    response = Client().get("/healthz", headers={"X-Request-ID": "req-abc-123"})
    assert response["X-Request-ID"] == "req-abc-123"
    access = [line for line in json_log() if line["event"] == "request"]
    assert access[-1]["request_id"] == "req-abc-123"
    assert access[-1]["route"] == "healthz" and access[-1]["status"] == 200
    assert access[-1]["db_queries"] >= 1 and access[-1]["level"] == "info" and "timestamp" in access[-1]


def test_a_request_without_a_usable_id_gets_a_new_one(db, json_log):
    made = Client().get("/healthz")["X-Request-ID"]
    refused = Client().get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})["X-Request-ID"]
    assert len(made) == 32 and len(refused) == 32 and made != refused
    assert {line["request_id"] for line in json_log() if line["event"] == "request"} == {made, refused}


def test_payment_log_lines_name_the_payment_the_user_and_the_idempotency_keys(psp, json_log):  # noqa: F811
    user = shopper_new(funds=None)
    wallet = wallet_with_balance(user)
    api = APIClient()
    api.force_authenticate(user)
    response = api.post(
        f"/api/v1/wallets/{wallet.pk}/deposits/",
        {"amount": {"amount": "12.00", "currency": "USD"}, "card_token": "tok_ok"},
        format="json",
        headers={"Idempotency-Key": "client-key-1", "X-Request-ID": "req-deposit-1"},
    )
    assert response.status_code == 201, response.content
    payment = Payment.objects.get()
    lines = [line for line in json_log() if line.get("payment_id") == payment.pk]
    assert {line["event"] for line in lines} >= {"payment charge sent", "payment settled"}
    for line in lines:
        assert line["user_id"] == user.pk
        assert line["idempotency_key"] == payment.provider_key
        assert line["api_idempotency_key"] == "client-key-1"
        assert line["request_id"] == "req-deposit-1"
        assert line["logger"] == "payments.services.charges"
    access = [line for line in json_log() if line["event"] == "request" and line["request_id"] == "req-deposit-1"]
    assert access and access[0]["user_id"] == user.pk and access[0]["status"] == 201


def test_a_standard_library_log_record_with_an_exception_is_one_json_line(json_log):
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("shop.test").exception("it failed: %s", "why")
    line = json_log()[-1]
    assert line["event"] == "it failed: why"
    assert line["logger"] == "shop.test" and line["level"] == "error"
    assert "ValueError: boom" in line["exception"]
