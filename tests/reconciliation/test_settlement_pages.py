"""The sandbox's settlement report in pages (type, limit, starting_after), read through the gateway client."""

import uuid

import pytest
import requests
from django.conf import settings
from django.utils import timezone

from payments.gateway import get_gateway
from payments.psp_sandbox.models import SandboxCharge
from tests.reconciliation import helpers

pytestmark = pytest.mark.django_db(transaction=True)


def _get(psp, **params):
    return requests.get(
        psp + "v1/settlements", params=params, headers={"Authorization": f"Bearer {settings.PSP_API_KEY}"}, timeout=5
    )


def test_pages_walk_the_whole_day_once_in_order_even_when_times_tie(provider):
    charges = [helpers.provider_charge(key=f"payment-{uuid.uuid4()}", amount=f"{n + 1}.00") for n in range(7)]
    same_moment = timezone.now().replace(microsecond=123456)
    SandboxCharge.objects.filter(pk__in=[c.pk for c in charges[2:5]]).update(created=same_moment)
    day = timezone.now().date()
    whole = _get(provider, date=day.isoformat()).json()["charges"]

    ids, cursor, pages = [], "", 0
    while True:
        page = get_gateway().settlement_page(date=day, type="charges", cursor=cursor, limit=3)
        pages += 1
        assert len(page["data"]) <= 3 and page["type"] == "charges"
        ids += [row["id"] for row in page["data"]]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]

    assert pages == 3
    assert ids == [row["id"] for row in whole] and sorted(ids) == sorted(c.id for c in charges)


def test_refund_and_payout_lists_page_too_and_bad_parameters_are_400(provider):
    charge = helpers.provider_charge(key=f"payment-{uuid.uuid4()}")
    refund = helpers.provider_refund(charge=charge, key=f"refund-{uuid.uuid4()}")
    payout = helpers.provider_payout(key=f"payout-{uuid.uuid4()}")
    day = timezone.now().date().isoformat()

    refunds = _get(provider, date=day, type="refunds", limit=10).json()
    assert [r["id"] for r in refunds["data"]] == [refund.id] and refunds["has_more"] is False
    payouts = _get(provider, date=day, type="payouts").json()
    assert [p["id"] for p in payouts["data"]] == [payout.id]

    for params, code in (
        ({"type": "charges", "starting_after": "not-a-cursor"}, "invalid_cursor"),
        ({"type": "disputes"}, "invalid_type"),
        ({"type": "charges", "limit": "0"}, "invalid_limit"),
        ({"type": "charges", "limit": "many"}, "invalid_limit"),
    ):
        answer = _get(provider, date=day, **params)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == code, params
