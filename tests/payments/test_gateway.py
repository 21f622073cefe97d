"""The gateway client against the sandbox over real HTTP: every outcome classification."""

import socket
import threading
import time
from datetime import date
from decimal import Decimal

import pytest
from djmoney.money import Money

from payments.exceptions import GatewayError
from payments.gateway import GatewayResult, Outcome, get_gateway
from payments.psp_sandbox.models import SandboxCharge, SandboxPayout, SandboxRefund
from tests.payments import sandbox_fixtures

pytestmark = pytest.mark.django_db(transaction=True)

psp = sandbox_fixtures.psp
stub_server = sandbox_fixtures.stub_server


@pytest.fixture(autouse=True)
def _no_webhooks(settings):
    settings.PSP_SANDBOX_WEBHOOKS_ENABLED = False


def _charge(token, key, amount="12.50", currency="USD", reference="ORD-1") -> GatewayResult:
    return get_gateway().charge(
        idempotency_key=key, amount=Money(Decimal(amount), currency), token=token, reference=reference
    )


def test_tok_ok_succeeds_and_records_request_without_secrets(psp):
    result = _charge("tok_ok", "pay-1-a1")
    assert result.outcome == Outcome.SUCCEEDED
    assert result.status_code == 201
    assert result.provider_id.startswith("ch_")
    assert result.response["amount"] == "12.50"
    assert result.response["currency"] == "USD"
    assert result.request["body"]["token"] == "tok_ok"
    assert result.request["idempotency_key"] == "pay-1-a1"
    assert "sk_sandbox_dev" not in repr(result.request)
    assert result.latency_ms >= 0
    charge = SandboxCharge.objects.get(idempotency_key="pay-1-a1")
    assert charge.id == result.provider_id
    assert charge.amount == Money("12.50", "USD")


@pytest.mark.parametrize(
    ("token", "code"), [("tok_declined", "card_declined"), ("tok_insufficient", "insufficient_funds")]
)
def test_declines_are_final_with_the_provider_code(psp, token, code):
    result = _charge(token, f"pay-{token}")
    assert result.outcome == Outcome.DECLINED
    assert result.status_code == 402
    assert result.error_code == code
    assert result.provider_id.startswith("ch_")
    assert SandboxCharge.objects.get(idempotency_key=f"pay-{token}").status == "failed"


def test_same_idempotency_key_returns_the_same_charge_and_charges_once(psp):
    first = _charge("tok_ok", "pay-2-a1")
    second = _charge("tok_ok", "pay-2-a1")
    assert first.outcome == second.outcome == Outcome.SUCCEEDED
    assert first.provider_id == second.provider_id
    assert SandboxCharge.objects.filter(idempotency_key="pay-2-a1").count() == 1


def test_same_key_with_another_amount_is_refused_as_our_error(psp):
    _charge("tok_ok", "pay-3-a1", amount="10.00")
    result = _charge("tok_ok", "pay-3-a1", amount="11.00")
    assert result.outcome == Outcome.DECLINED
    assert result.status_code == 409
    assert result.error_code == "idempotency_key_reused"
    assert SandboxCharge.objects.get(idempotency_key="pay-3-a1").amount == Money("10.00", "USD")


def test_tok_error_is_retryable_and_charges_nothing(psp):
    for _ in range(3):
        result = _charge("tok_error", "pay-4-a1")
        assert result.outcome == Outcome.RETRYABLE
        assert result.status_code == 503
        assert result.error_code == "processing_error"
    assert not SandboxCharge.objects.filter(idempotency_key="pay-4-a1").exists()
    assert get_gateway().get_charge(idempotency_key="pay-4-a1").outcome == Outcome.NOT_FOUND


def test_tok_flaky_fails_twice_then_succeeds_once(psp):
    outcomes = [_charge("tok_flaky", "pay-5-a1").outcome for _ in range(4)]
    assert outcomes == [Outcome.RETRYABLE, Outcome.RETRYABLE, Outcome.SUCCEEDED, Outcome.SUCCEEDED]
    assert SandboxCharge.objects.filter(idempotency_key="pay-5-a1").count() == 1
    # The count is per idempotency key: another key starts again.
    assert _charge("tok_flaky", "pay-5-a2").outcome == Outcome.RETRYABLE


def test_tok_timeout_is_unknown_then_get_charge_finds_it_succeeded(psp, settings):
    started = time.monotonic()
    result = _charge("tok_timeout", "pay-6-a1")
    assert result.outcome == Outcome.UNKNOWN
    assert result.status_code is None
    assert result.error_code == "timeout"
    assert result.latency_ms >= 900
    found = get_gateway().get_charge(idempotency_key="pay-6-a1")
    assert found.outcome == Outcome.SUCCEEDED
    assert found.provider_id == SandboxCharge.objects.get(idempotency_key="pay-6-a1").id
    # Charging again with the same key replays the charge, it never charges twice.
    again = _charge("tok_timeout", "pay-6-a1")
    assert again.outcome == Outcome.SUCCEEDED
    assert again.provider_id == found.provider_id
    assert SandboxCharge.objects.filter(idempotency_key="pay-6-a1").count() == 1
    # Let the sandbox finish its late answer so its request thread does not outlive the test.
    time.sleep(max(0.0, started + settings.PAYMENT_READ_TIMEOUT + 1.2 - time.monotonic()))


def test_tok_slow_succeeds_just_under_the_timeout(psp):
    result = _charge("tok_slow", "pay-7-a1")
    assert result.outcome == Outcome.SUCCEEDED
    assert result.latency_ms >= 450


def test_get_charge_reports_declined_and_not_found(psp):
    _charge("tok_declined", "pay-8-a1")
    declined = get_gateway().get_charge(idempotency_key="pay-8-a1")
    assert declined.outcome == Outcome.DECLINED
    assert declined.error_code == "card_declined"
    missing = get_gateway().get_charge(idempotency_key="never-used")
    assert missing.outcome == Outcome.NOT_FOUND
    assert missing.status_code == 404


@pytest.mark.django_db(transaction=False)
@pytest.mark.parametrize(
    ("status", "code", "outcome"),
    [
        (400, "invalid_amount", Outcome.DECLINED),
        (402, "card_declined", Outcome.DECLINED),
        (404, "not_found", Outcome.DECLINED),
        (409, "idempotency_key_reused", Outcome.DECLINED),
        (422, "unprocessable", Outcome.DECLINED),
        (401, "authentication_failed", Outcome.RETRYABLE),
        (403, "forbidden", Outcome.RETRYABLE),
        (408, "request_timeout", Outcome.RETRYABLE),
        (429, "rate_limited", Outcome.RETRYABLE),
        (409, "idempotency_key_in_use", Outcome.RETRYABLE),
    ],
)
def test_only_real_refusals_are_final_and_transient_4xx_are_retryable(settings, stub_server, status, code, outcome):
    stub = stub_server([(status, {"error": {"code": code, "message": "refused"}})])
    settings.PAYMENT_GATEWAY_URL = stub.url
    result = _charge("tok_ok", "pay-9-a1")
    assert result.outcome == outcome
    assert result.status_code == status
    assert result.error_code == code
    assert result.error == "refused"
    payout = get_gateway().payout(idempotency_key="po-9", amount=Money("1.00", "USD"), token="tok_ok", reference="W")
    assert payout.outcome == outcome


def test_a_wrong_api_key_is_retryable_logged_and_charges_once_when_fixed(psp, settings, caplog):
    settings.PSP_SANDBOX_API_KEY = "sk_sandbox_dev"  # what the provider expects
    settings.PSP_API_KEY = "sk_misconfigured"  # what the shop sends
    with caplog.at_level("ERROR", logger="payments.gateway"):
        result = _charge("tok_ok", "pay-auth-a1")
        payout = get_gateway().payout(
            idempotency_key="po-auth", amount=Money("5.00", "USD"), token="tok_ok", reference="W-auth"
        )
    assert result.status_code == payout.status_code == 401
    assert result.error_code == "authentication_failed"
    assert result.outcome == payout.outcome == Outcome.RETRYABLE
    assert "PSP_API_KEY" in caplog.text
    assert [r.levelname for r in caplog.records if r.name == "payments.gateway"] == ["ERROR", "ERROR"]
    assert not SandboxCharge.objects.exists()
    assert not SandboxPayout.objects.exists()
    # Fixed configuration: the same key goes through, once.
    settings.PSP_API_KEY = "sk_sandbox_dev"
    assert _charge("tok_ok", "pay-auth-a1").outcome == Outcome.SUCCEEDED
    assert SandboxCharge.objects.filter(idempotency_key="pay-auth-a1").count() == 1


def test_unknown_token_is_refused_by_the_provider(psp):
    result = _charge("tok_unknown", "pay-10-a1")
    assert result.outcome == Outcome.DECLINED
    assert result.status_code == 400
    assert result.error_code == "invalid_token"
    assert not SandboxCharge.objects.exists()


@pytest.mark.django_db(transaction=False)
def test_a_card_number_is_never_sent(settings, stub_server):
    stub = stub_server()
    settings.PAYMENT_GATEWAY_URL = stub.url
    result = _charge("4242424242424242", "pay-10-a2")
    payout = get_gateway().payout(
        idempotency_key="po-10", amount=Money("1.00", "USD"), token="4000 0000 0000 0002", reference="W"
    )
    assert result.outcome == payout.outcome == Outcome.DECLINED
    assert result.error_code == payout.error_code == "invalid_token"
    assert "4242" not in repr(result.as_dict())
    assert stub.requests == []


def test_refunds_up_to_the_charged_amount_idempotently(psp):
    charge = _charge("tok_ok", "pay-11-a1", amount="30.00")
    gateway = get_gateway()
    first = gateway.refund(
        idempotency_key="ref-1", charge_id=charge.provider_id, amount=Money("20.00", "USD"), reference="R1"
    )
    assert first.outcome == Outcome.SUCCEEDED
    assert first.provider_id.startswith("re_")
    replay = gateway.refund(
        idempotency_key="ref-1", charge_id=charge.provider_id, amount=Money("20.00", "USD"), reference="R1"
    )
    assert replay.provider_id == first.provider_id
    too_much = gateway.refund(
        idempotency_key="ref-2", charge_id=charge.provider_id, amount=Money("10.01", "USD"), reference="R2"
    )
    assert too_much.outcome == Outcome.DECLINED
    assert too_much.error_code == "refund_exceeds_charge"
    rest = gateway.refund(
        idempotency_key="ref-3", charge_id=charge.provider_id, amount=Money("10.00", "USD"), reference="R3"
    )
    assert rest.outcome == Outcome.SUCCEEDED
    assert SandboxRefund.objects.count() == 2
    assert gateway.get_charge(idempotency_key="pay-11-a1").response["amount_refunded"] == "30.00"


def test_refund_of_a_failed_charge_is_refused(psp):
    charge = _charge("tok_declined", "pay-12-a1")
    result = get_gateway().refund(
        idempotency_key="ref-12", charge_id=charge.provider_id, amount=Money("1.00", "USD"), reference="R"
    )
    assert result.outcome == Outcome.DECLINED
    assert result.error_code == "charge_not_refundable"
    assert not SandboxRefund.objects.exists()


@pytest.mark.parametrize(
    ("token", "outcome", "code"),
    [
        ("tok_ok", Outcome.SUCCEEDED, ""),
        ("tok_declined", Outcome.DECLINED, "card_declined"),
        ("tok_error", Outcome.RETRYABLE, "processing_error"),
    ],
)
def test_payouts_follow_the_token_script(psp, token, outcome, code):
    result = get_gateway().payout(
        idempotency_key=f"po-{token}", amount=Money("5.00", "EUR"), token=token, reference="W-1"
    )
    assert result.outcome == outcome
    assert result.error_code == code
    assert SandboxPayout.objects.filter(idempotency_key=f"po-{token}").count() == (
        0 if token == "tok_error" else 1
    )


def test_get_payout_finds_a_timed_out_payout_and_reports_declined_not_found_and_unreachable(psp, settings):
    gateway = get_gateway()
    started = time.monotonic()
    sent = gateway.payout(idempotency_key="po-late", amount=Money("5.00", "EUR"), token="tok_timeout", reference="W-2")
    assert sent.outcome == Outcome.UNKNOWN  # paid out, but the answer came after the read timeout
    found = gateway.get_payout(idempotency_key="po-late")
    assert found.outcome == Outcome.SUCCEEDED
    assert found.provider_id == SandboxPayout.objects.get(idempotency_key="po-late").id
    gateway.payout(idempotency_key="po-no", amount=Money("5.00", "EUR"), token="tok_declined", reference="W-3")
    declined = gateway.get_payout(idempotency_key="po-no")
    assert (declined.outcome, declined.error_code) == (Outcome.DECLINED, "card_declined")
    assert gateway.get_payout(idempotency_key="po-never").outcome == Outcome.NOT_FOUND
    # A charge with that key is not a payout.
    _charge("tok_ok", "pay-po-1")
    assert gateway.get_payout(idempotency_key="pay-po-1").outcome == Outcome.NOT_FOUND
    settings.PAYMENT_GATEWAY_URL = f"http://127.0.0.1:{_closed_port()}/psp-sandbox/"
    assert gateway.get_payout(idempotency_key="po-late").outcome == Outcome.UNKNOWN  # no answer is never "none"
    # Let tok_timeout's late answer finish in its live-server thread before teardown.
    time.sleep(max(0.0, started + sandbox_fixtures.READ_TIMEOUT + 1.3 - time.monotonic()))


def test_settlement_report_through_the_client(psp):
    charge = _charge("tok_ok", "pay-13-a1")
    report = get_gateway().settlement_report(date=SandboxCharge.objects.get().created.date())
    assert [c["id"] for c in report["charges"]] == [charge.provider_id]


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


@pytest.mark.django_db(transaction=False)
def test_connection_refused_is_retryable(settings):
    settings.PAYMENT_GATEWAY_URL = f"http://127.0.0.1:{_closed_port()}/psp-sandbox/"
    result = _charge("tok_ok", "pay-14-a1")
    assert result.outcome == Outcome.RETRYABLE
    assert result.error_code == "connection_failed"
    assert get_gateway().get_charge(idempotency_key="pay-14-a1").outcome == Outcome.UNKNOWN
    with pytest.raises(GatewayError):
        get_gateway().settlement_report(date=date(2026, 1, 1))


@pytest.mark.django_db(transaction=False)
def test_connection_dropped_after_sending_is_unknown(settings):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    received = []

    def accept_read_and_hang_up():
        conn, _ = listener.accept()
        received.append(conn.recv(65536))
        conn.close()

    thread = threading.Thread(target=accept_read_and_hang_up, daemon=True)
    thread.start()
    settings.PAYMENT_GATEWAY_URL = f"http://127.0.0.1:{listener.getsockname()[1]}/psp-sandbox/"
    try:
        result = _charge("tok_ok", "pay-15-a1")
    finally:
        thread.join(5)
        listener.close()
    assert received and received[0].startswith(b"POST /psp-sandbox/v1/charges")
    assert result.outcome == Outcome.UNKNOWN
    assert result.error_code == "connection_lost"


@pytest.mark.django_db(transaction=False)
def test_a_5xx_without_processing_error_is_unknown(settings, stub_server):
    stub = stub_server([(500, {"error": {"code": "internal_error", "message": "boom"}})])
    settings.PAYMENT_GATEWAY_URL = stub.url
    result = _charge("tok_ok", "pay-16-a1")
    assert result.outcome == Outcome.UNKNOWN
    assert result.status_code == 500
    assert result.error_code == "internal_error"
    assert stub.requests[0]["headers"]["Authorization"] == "Bearer sk_sandbox_dev"
    assert stub.requests[0]["headers"]["Idempotency-Key"] == "pay-16-a1"


@pytest.mark.django_db(transaction=False)
def test_a_2xx_that_is_not_a_charge_is_unknown_never_succeeded(settings, stub_server):
    stub = stub_server([(200, {"hello": "a proxy page"})])
    settings.PAYMENT_GATEWAY_URL = stub.url
    assert _charge("tok_ok", "pay-17-a1").outcome == Outcome.UNKNOWN
    lookup = get_gateway().get_charge(idempotency_key="pay-17-a1")
    assert lookup.outcome == Outcome.UNKNOWN
    assert lookup.error_code == "invalid_response"
