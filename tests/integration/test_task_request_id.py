"""A Celery task run by a real worker logs the request id of the request that queued it."""

import json
import uuid

import pytest
from rest_framework.test import APIClient

from shop.orders.models import OutboxEmail
from tests.orders.factories import cart_fill, make_product, shopper_new
from tests.shipping.factories import shipping_method_everywhere

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def json_worker_env(celery_env):
    celery_env["LOG_FORMAT"] = "json"
    return celery_env


def _json_lines(text: str) -> list[dict]:
    lines = []
    for raw in text.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue  # the worker's start-up banner is plain text
        if isinstance(line, dict):
            lines.append(line)
    return lines


def test_the_order_email_task_logs_the_checkout_request_id(json_worker_env, celery_worker, wait_until):
    shopper = shopper_new(funds="50.00")
    cart_fill(shopper, (make_product(price="5.00", on_hand=3), 1))
    client = APIClient()
    client.force_authenticate(shopper)
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    response = client.post(
        "/api/v1/orders/",
        {"payment_method": "wallet", "shipping_method": shipping_method_everywhere(), "shipping_address": shopper.addresses.first().pk},
        format="json",
        headers={"Idempotency-Key": str(uuid.uuid4()), "X-Request-ID": request_id},
    )
    assert response.status_code == 201, response.content
    assert response["X-Request-ID"] == request_id

    wait_until(
        lambda: not OutboxEmail.objects.filter(sent_at__isnull=True).exists(),
        timeout=60,
        what="the worker to send the order e-mails\n" + celery_worker.log(),
    )
    task_lines = [
        line for line in _json_lines(celery_worker.log()) if line.get("task") == "shop.orders.tasks.send_order_email"
    ]
    assert task_lines, celery_worker.log()
    assert {line.get("request_id") for line in task_lines} == {request_id}, task_lines
    assert all(line.get("task_id") for line in task_lines)
    # Lines the worker logs outside any task carry no request id.
    assert any("request_id" not in line for line in _json_lines(celery_worker.log()))
