"""The payment provider sandbox over real HTTP: protocol, validation, idempotency, reports, webhooks."""

import json
import threading
import time
from datetime import timedelta

import pytest
import requests
from django.contrib.admin.utils import quote
from django.db import connection
from django.utils import timezone
from djmoney.money import Money

from payments.psp_sandbox import services, signing
from payments.psp_sandbox.models import SandboxCharge, SandboxEvent, SandboxPayout, SandboxRefund
from tests.payments import sandbox_fixtures

psp = sandbox_fixtures.psp
stub_server = sandbox_fixtures.stub_server
webhook_sink = sandbox_fixtures.webhook_sink

AUTH = {"Authorization": "Bearer sk_sandbox_dev"}


@pytest.fixture(autouse=True)
def _no_webhooks_unless_asked(settings):
    settings.PSP_SANDBOX_WEBHOOKS_ENABLED = False


def _post(base, path, body, key, headers=None):
    return requests.post(
        base + path, json=body, headers={**AUTH, "Idempotency-Key": key, **(headers or {})}, timeout=10
    )


def _charge_body(**overrides):
    return {"amount": "12.50", "currency": "USD", "token": "tok_ok", "reference": "ORD-1", **overrides}


def _wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


# --- authentication and input --------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_requests_without_the_api_key_are_401(psp):
    response = requests.post(
        psp + "v1/charges", json=_charge_body(), headers={"Idempotency-Key": "k1"}, timeout=5
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    wrong = requests.get(
        psp + "v1/charges?idempotency_key=k1", headers={"Authorization": "Bearer sk_nope"}, timeout=5
    )
    assert wrong.status_code == 401
    assert not SandboxCharge.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_post_without_idempotency_key_is_refused(psp):
    response = requests.post(psp + "v1/charges", json=_charge_body(), headers=AUTH, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_required"
    assert not SandboxCharge.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("override", "code"),
    [
        ({"amount": 12.5}, "invalid_amount"),  # a JSON number, not a decimal string
        ({"amount": "12.505"}, "invalid_amount"),  # finer than the currency's minor unit
        ({"amount": "0"}, "invalid_amount"),
        ({"amount": "-5.00"}, "invalid_amount"),
        ({"amount": "NaN"}, "invalid_amount"),
        ({"amount": "ten"}, "invalid_amount"),
        ({"currency": "XYZ"}, "invalid_currency"),
        ({"currency": "usd"}, "invalid_currency"),
        ({"token": "4242424242424242"}, "invalid_token"),  # card numbers never enter
        ({"token": "tok_unknown"}, "invalid_token"),
        ({"token": ""}, "invalid_token"),
    ],
)
def test_invalid_input_is_a_400_and_charges_nothing(psp, override, code):
    response = _post(psp, "v1/charges", _charge_body(**override), "k-invalid")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert not SandboxCharge.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_malformed_json_is_a_400(psp):
    response = requests.post(
        psp + "v1/charges",
        data=b"{not json",
        headers={**AUTH, "Idempotency-Key": "k", "Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


@pytest.mark.django_db(transaction=True)
def test_currency_minor_units_are_respected(psp):
    yen = _post(psp, "v1/charges", _charge_body(amount="1500", currency="JPY"), "k-jpy")
    assert yen.status_code == 201
    assert yen.json()["amount"] == "1500"
    yen_cents = _post(psp, "v1/charges", _charge_body(amount="1500.50", currency="JPY"), "k-jpy-2")
    assert yen_cents.status_code == 400


# --- charges -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_charge_answers_with_the_protocol_shape(psp):
    response = _post(psp, "v1/charges", _charge_body(description="Order ORD-1"), "pay-1")
    assert response.status_code == 201
    charge = response.json()
    assert charge["id"].startswith("ch_")
    assert charge["object"] == "charge"
    assert charge["status"] == "succeeded"
    assert (charge["amount"], charge["currency"]) == ("12.50", "USD")
    assert (charge["idempotency_key"], charge["reference"]) == ("pay-1", "ORD-1")
    assert charge["failure_code"] == ""
    assert isinstance(charge["created"], int)
    fetched = requests.get(psp + "v1/charges", params={"idempotency_key": "pay-1"}, headers=AUTH, timeout=5)
    assert fetched.status_code == 200
    assert fetched.json()["id"] == charge["id"]
    by_id = requests.get(psp + f"v1/charges/{charge['id']}", headers=AUTH, timeout=5)
    assert by_id.json()["idempotency_key"] == "pay-1"


@pytest.mark.django_db(transaction=True)
def test_a_decline_is_402_with_the_failed_charge(psp):
    response = _post(psp, "v1/charges", _charge_body(token="tok_insufficient"), "pay-2")
    assert response.status_code == 402
    body = response.json()
    assert body["error"]["code"] == "insufficient_funds"
    assert body["charge"]["status"] == "failed"
    assert body["charge"]["failure_code"] == "insufficient_funds"
    replay = _post(psp, "v1/charges", _charge_body(token="tok_insufficient"), "pay-2")
    assert replay.status_code == 402
    assert replay.json()["charge"]["id"] == body["charge"]["id"]
    assert replay.headers["Idempotent-Replayed"] == "true"


@pytest.mark.django_db(transaction=True)
def test_get_of_an_unknown_key_is_404_not_found(psp):
    response = requests.get(psp + "v1/charges", params={"idempotency_key": "nope"}, headers=AUTH, timeout=5)
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "No such object."}}


@pytest.mark.django_db(transaction=True)
def test_same_key_replays_the_same_charge_and_another_body_is_409(psp):
    first = _post(psp, "v1/charges", _charge_body(), "pay-3")
    second = _post(psp, "v1/charges", _charge_body(), "pay-3")
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    other = _post(psp, "v1/charges", _charge_body(token="tok_declined"), "pay-3")
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert SandboxCharge.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_tok_error_answers_503_processing_error_every_time(psp):
    for _ in range(3):
        response = _post(psp, "v1/charges", _charge_body(token="tok_error"), "pay-4")
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "processing_error"
    assert not SandboxCharge.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_tok_timeout_commits_the_charge_before_answering_late(psp, settings):
    started = time.monotonic()
    result = {}

    def call():
        result["response"] = _post(psp, "v1/charges", _charge_body(token="tok_timeout"), "pay-5")

    thread = threading.Thread(target=call)
    thread.start()
    # The charge is visible while the answer is still on its way.
    assert _wait_until(lambda: SandboxCharge.objects.filter(idempotency_key="pay-5").exists(), timeout=1.5)
    assert thread.is_alive()
    thread.join(10)
    assert time.monotonic() - started >= settings.PAYMENT_READ_TIMEOUT + 1
    assert result["response"].status_code == 201


# --- refunds and payouts -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_refunds_are_checked_against_the_charge(psp):
    charge = _post(psp, "v1/charges", _charge_body(amount="10.00"), "pay-6").json()
    refund_body = {"charge": charge["id"], "amount": "4.00", "currency": "USD", "reference": "RET-1"}
    first = _post(psp, "v1/refunds", refund_body, "ref-1")
    assert first.status_code == 201
    assert first.json()["object"] == "refund"
    assert first.json()["charge"] == charge["id"]
    assert _post(psp, "v1/refunds", refund_body, "ref-1").json()["id"] == first.json()["id"]
    wrong_currency = _post(psp, "v1/refunds", {**refund_body, "currency": "EUR"}, "ref-2")
    assert wrong_currency.json()["error"]["code"] == "currency_mismatch"
    too_much = _post(psp, "v1/refunds", {**refund_body, "amount": "6.01"}, "ref-3")
    assert too_much.status_code == 400
    assert too_much.json()["error"]["code"] == "refund_exceeds_charge"
    missing = _post(psp, "v1/refunds", {**refund_body, "charge": "ch_missing"}, "ref-4")
    assert missing.status_code == 404
    assert SandboxRefund.objects.count() == 1
    looked_up = requests.get(psp + "v1/refunds", params={"idempotency_key": "ref-1"}, headers=AUTH, timeout=5)
    assert looked_up.json()["id"] == first.json()["id"]


@pytest.mark.django_db(transaction=True)
def test_payouts_follow_the_token_and_are_idempotent(psp):
    body = {"amount": "7.00", "currency": "EUR", "token": "tok_ok", "reference": "W-1"}
    first = _post(psp, "v1/payouts", body, "po-1")
    assert first.status_code == 201
    assert first.json()["object"] == "payout"
    assert first.json()["status"] == "succeeded"
    assert _post(psp, "v1/payouts", body, "po-1").json()["id"] == first.json()["id"]
    declined = _post(psp, "v1/payouts", {**body, "token": "tok_declined"}, "po-2")
    assert declined.status_code == 402
    assert declined.json()["payout"]["status"] == "failed"
    flaky = [_post(psp, "v1/payouts", {**body, "token": "tok_flaky"}, "po-3").status_code for _ in range(3)]
    assert flaky == [503, 503, 201]
    assert SandboxPayout.objects.count() == 3


# --- settlement report ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_settlement_report_lists_the_days_objects(psp):
    charge = _post(psp, "v1/charges", _charge_body(amount="20.00"), "pay-7").json()
    declined = _post(psp, "v1/charges", _charge_body(token="tok_declined"), "pay-8").json()["charge"]
    refund = _post(
        psp,
        "v1/refunds",
        {"charge": charge["id"], "amount": "5.00", "currency": "USD", "reference": "R"},
        "ref-7",
    ).json()
    payout = _post(psp, "v1/payouts", {"amount": "3.00", "currency": "GBP", "token": "tok_ok"}, "po-7").json()
    # Yesterday's charge stays out of today's report.
    old = _post(psp, "v1/charges", _charge_body(), "pay-old").json()
    SandboxCharge.objects.filter(pk=old["id"]).update(created=timezone.now() - timedelta(days=1))

    today = timezone.now().date()
    report = requests.get(psp + "v1/settlements", params={"date": today.isoformat()}, headers=AUTH, timeout=5)
    assert report.status_code == 200
    body = report.json()
    assert body["date"] == today.isoformat()
    assert {(c["id"], c["status"], c["amount"]) for c in body["charges"]} == {
        (charge["id"], "succeeded", "20.00"),
        (declined["id"], "failed", "12.50"),
    }
    assert [(r["id"], r["amount"], r["charge"]) for r in body["refunds"]] == [
        (refund["id"], "5.00", charge["id"])
    ]
    assert [(p["id"], p["currency"]) for p in body["payouts"]] == [(payout["id"], "GBP")]
    assert {"id", "idempotency_key", "reference", "amount", "currency", "status"} <= set(body["charges"][0])
    refunded = {c["id"]: c["amount_refunded"] for c in body["charges"]}
    assert refunded == {charge["id"]: "5.00", declined["id"]: "0.00"}
    yesterday = requests.get(
        psp + "v1/settlements",
        params={"date": (today - timedelta(days=1)).isoformat()},
        headers=AUTH,
        timeout=5,
    ).json()
    assert [c["id"] for c in yesterday["charges"]] == [old["id"]]
    bad = requests.get(psp + "v1/settlements", params={"date": "yesterday"}, headers=AUTH, timeout=5)
    assert bad.status_code == 400


# --- webhooks ------------------------------------------------------------------------------


def test_sign_and_verify_round_trip():
    payload = b'{"id":"evt_1"}'
    header = signing.sign(payload, "whsec_test", 1_700_000_000)
    timestamp, digest = header.split(",")
    assert timestamp == "t=1700000000"
    assert len(digest.removeprefix("v1=")) == 64
    assert signing.verify(payload, header, "whsec_test", now=1_700_000_100)
    assert not signing.verify(payload + b" ", header, "whsec_test", now=1_700_000_100)
    assert not signing.verify(payload, header, "whsec_other", now=1_700_000_100)
    assert not signing.verify(payload, header, "whsec_test", now=1_700_000_000 + 301)  # too old
    assert not signing.verify(payload, "garbage", "whsec_test")


@pytest.mark.django_db
def test_event_build_records_a_signable_event(settings):
    settings.PSP_SANDBOX_WEBHOOKS_ENABLED = False
    event = services.event_build(
        type="charge.succeeded", obj={"id": "ch_x", "object": "charge"}, target_url="http://127.0.0.1:1/hook"
    )
    payload = json.loads(event.body)
    assert payload["id"] == event.id
    assert payload["type"] == "charge.succeeded"
    assert payload["data"] == {"id": "ch_x", "object": "charge"}
    assert isinstance(payload["created"], int)
    body, headers = services.event_signed_request(event)
    assert body == event.body.encode()
    assert signing.verify(body, headers["PSP-Signature"], settings.PAYMENT_WEBHOOK_SECRET)


@pytest.mark.django_db(transaction=True)
def test_a_final_charge_sends_a_signed_webhook_after_commit(psp, webhook_sink, settings):
    charge = _post(psp, "v1/charges", _charge_body(), "pay-9").json()
    received = webhook_sink.wait_for(1)[0]
    assert received["path"] == "/webhooks/psp/"
    assert signing.verify(
        received["body"], received["headers"]["PSP-Signature"], settings.PAYMENT_WEBHOOK_SECRET
    )
    event = json.loads(received["body"])
    assert event["type"] == "charge.succeeded"
    assert event["data"]["id"] == charge["id"]
    assert event["data"]["idempotency_key"] == "pay-9"
    assert _wait_until(lambda: SandboxEvent.objects.get(pk=event["id"]).delivered_at is not None)
    attempts = SandboxEvent.objects.get(pk=event["id"]).attempts
    assert [a["status_code"] for a in attempts] == [200]
    # A replay of the same request sends no second event.
    _post(psp, "v1/charges", _charge_body(), "pay-9")
    time.sleep(0.5)
    assert len(webhook_sink.requests) == 1


@pytest.mark.django_db(transaction=True)
def test_declines_refunds_and_payouts_send_their_events(psp, webhook_sink):
    charge = _post(psp, "v1/charges", _charge_body(amount="9.00"), "pay-10").json()
    _post(psp, "v1/charges", _charge_body(token="tok_declined"), "pay-11")
    _post(psp, "v1/refunds", {"charge": charge["id"], "amount": "9.00", "currency": "USD"}, "ref-10")
    _post(psp, "v1/payouts", {"amount": "1.00", "currency": "USD", "token": "tok_ok"}, "po-10")
    types = sorted(json.loads(r["body"])["type"] for r in webhook_sink.wait_for(4))
    assert types == ["charge.failed", "charge.succeeded", "payout.succeeded", "refund.succeeded"]


@pytest.mark.django_db(transaction=True)
def test_webhook_delivery_is_retried_and_every_attempt_recorded(psp, stub_server, settings):
    sink = stub_server([(500, {"error": "down"}), (503, {"error": "down"}), (200, {"received": True})])
    settings.PSP_SANDBOX_WEBHOOK_URL = sink.url
    settings.PSP_SANDBOX_WEBHOOKS_ENABLED = True
    _post(psp, "v1/charges", _charge_body(), "pay-12")
    received = sink.wait_for(3)
    assert len({r["body"] for r in received}) == 1  # the same event each time
    event = SandboxEvent.objects.get()
    assert _wait_until(lambda: SandboxEvent.objects.get().delivered_at is not None)
    event.refresh_from_db()
    assert [a["status_code"] for a in event.attempts] == [500, 503, 200]
    detail = requests.get(psp + f"v1/events/{event.id}", headers=AUTH, timeout=5).json()
    assert detail["delivered"] is True
    assert len(detail["attempts"]) == 3


@pytest.mark.django_db(transaction=True)
def test_an_event_can_be_resent(psp, stub_server, settings):
    sink = stub_server()
    charge = _post(psp, "v1/charges", _charge_body(), "pay-13").json()  # webhooks off: recorded only
    event = SandboxEvent.objects.get(object_id=charge["id"])
    assert event.attempts == []
    SandboxEvent.objects.filter(pk=event.pk).update(target_url=sink.url)
    response = _post(psp, f"v1/events/{event.id}/resend", {}, "resend-1")
    assert response.status_code == 202
    assert json.loads(sink.wait_for(1)[0]["body"])["id"] == event.id
    assert _wait_until(lambda: SandboxEvent.objects.get(pk=event.pk).delivered_at is not None)


def test_webhook_default_target_is_the_calling_host(rf, settings):
    from payments.psp_sandbox.views import _webhook_url

    settings.PSP_SANDBOX_WEBHOOK_URL = ""
    assert _webhook_url(rf.post("/psp-sandbox/v1/charges")) == "http://testserver/payments/webhooks/psp/"
    settings.PSP_SANDBOX_WEBHOOK_URL = "http://hooks.example/psp"
    assert _webhook_url(rf.post("/psp-sandbox/v1/charges")) == "http://hooks.example/psp"


# --- concurrency (PostgreSQL) -------------------------------------------------------------


def _concurrently(count, target):
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(index):
        try:
            barrier.wait(5)
            results[index] = target(index)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_charges_create_one_charge(psp):
    responses = _concurrently(8, lambda i: _post(psp, "v1/charges", _charge_body(), "pay-race"))
    assert [r.status_code for r in responses] == [201] * 8
    assert len({r.json()["id"] for r in responses}) == 1
    assert SandboxCharge.objects.filter(idempotency_key="pay-race").count() == 1
    assert SandboxEvent.objects.filter(type="charge.succeeded").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_refunds_never_exceed_the_charge(psp):
    charge = _post(psp, "v1/charges", _charge_body(amount="100.00"), "pay-refund-race").json()
    body = {"charge": charge["id"], "amount": "30.00", "currency": "USD"}
    responses = _concurrently(6, lambda i: _post(psp, "v1/refunds", body, f"ref-race-{i}"))
    assert sorted(r.status_code for r in responses) == [201, 201, 201, 400, 400, 400]
    assert SandboxRefund.objects.count() == 3


@pytest.mark.django_db
def test_services_refuse_a_refund_above_the_charge():
    charge, created = services.charge_create(
        idempotency_key="svc-1", amount=Money("10.00", "USD"), token="tok_ok"
    )
    assert created
    services.refund_create(idempotency_key="svc-r1", charge_id=charge.id, amount=Money("10.00", "USD"))
    with pytest.raises(services.RefundExceedsCharge):
        services.refund_create(idempotency_key="svc-r2", charge_id=charge.id, amount=Money("0.01", "USD"))


@pytest.mark.django_db(transaction=True)
def test_webhooks_reach_the_shops_receiver_by_default_and_are_accepted(psp, settings):
    """With no PSP_SANDBOX_WEBHOOK_URL the event goes to /payments/webhooks/psp/ on the calling host."""
    settings.PSP_SANDBOX_WEBHOOK_URL = ""
    settings.PSP_SANDBOX_WEBHOOKS_ENABLED = True
    charge = _post(psp, "v1/charges", _charge_body(), "pay-receiver").json()
    event = SandboxEvent.objects.get(object_id=charge["id"])
    assert event.target_url == psp.removesuffix("psp-sandbox/") + "payments/webhooks/psp/"
    assert _wait_until(lambda: SandboxEvent.objects.get(pk=event.pk).delivered_at is not None)
    assert [a["status_code"] for a in SandboxEvent.objects.get(pk=event.pk).attempts] == [200]


@pytest.mark.django_db
def test_admin_lists_the_sandbox_records_read_only(admin_client):
    charge, _ = services.charge_create(idempotency_key="adm-1", amount=Money("3.00", "USD"), token="tok_ok")
    services.refund_create(idempotency_key="adm-r1", charge_id=charge.id, amount=Money("1.00", "USD"))
    services.payout_create(idempotency_key="adm-p1", amount=Money("2.00", "USD"), token="tok_ok")
    for model in ("sandboxcharge", "sandboxrefund", "sandboxpayout", "sandboxevent"):
        response = admin_client.get(f"/admin/psp_sandbox/{model}/")
        assert response.status_code == 200
    assert charge.id in admin_client.get("/admin/psp_sandbox/sandboxcharge/").content.decode()
    # quote(): admin URLs escape "_XX" in keys, so a charge id with "_22" in it must be quoted as admin does.
    assert admin_client.get(f"/admin/psp_sandbox/sandboxcharge/{quote(charge.id)}/change/").status_code == 200
    assert admin_client.get("/admin/psp_sandbox/sandboxcharge/add/").status_code == 403


@pytest.mark.django_db
def test_refunds_never_exceed_the_charge_whatever_the_sequence():
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hsettings
    from hypothesis import strategies as st

    charge, _ = services.charge_create(
        idempotency_key="hyp-charge", amount=Money("50.00", "USD"), token="tok_ok"
    )
    counter = iter(range(10**6))

    @hsettings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.integers(min_value=1, max_value=3000), max_size=8))
    def run(cents_list):
        SandboxRefund.objects.all().delete()
        accepted = 0
        for cents in cents_list:
            amount = Money(cents, "USD") / 100
            try:
                services.refund_create(
                    idempotency_key=f"hyp-{next(counter)}", charge_id=charge.id, amount=amount
                )
                accepted += cents
            except services.RefundExceedsCharge:
                assert accepted + cents > 5000
        assert accepted <= 5000
        assert sum(r.amount.amount for r in SandboxRefund.objects.all()) * 100 == accepted

    run()
