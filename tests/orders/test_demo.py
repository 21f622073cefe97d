import io

import pytest

from shop.orders.models import Order


@pytest.mark.django_db
def test_demo_data_makes_one_paid_order_and_is_idempotent():
    from accounts import demo as accounts_demo
    from catalog import demo as catalog_demo
    from payments import demo as payments_demo
    from shop.orders import demo

    out = io.StringIO()
    for module in (accounts_demo, catalog_demo, payments_demo, demo):
        module.load(stdout=out)
    assert Order.objects.filter(status=Order.Status.PAID).count() == 1
    demo.load(stdout=out)
    assert Order.objects.count() == 1
