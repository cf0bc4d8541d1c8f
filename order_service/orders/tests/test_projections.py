"""The order read model's batch handler: the same rows whatever the batch boundaries."""

import uuid

import pytest

from eventkit.rebuild import rebuild
from orders.models import OrderView
from orders.projections import orders
from orders.services import order_cancel, order_confirm, order_create

pytestmark = pytest.mark.django_db

LAPTOP = uuid.UUID("a1111111-1111-1111-1111-111111111111")


def place(name: str) -> uuid.UUID:
    order_id = uuid.uuid4()
    order_create(
        order_id=order_id,
        customer_name=name,
        product_id=LAPTOP,
        product_name="Laptop",
        quantity=1,
        total_price=120000,
    )
    return order_id


def live_rows():
    return {r["id"]: r for r in OrderView.objects.values()}


@pytest.mark.parametrize("batch_size", [1, 2, 3, 1000])
def test_a_rebuild_folds_to_the_live_rows_at_any_batch_size(batch_size):
    confirmed, cancelled, pending = place("Ann"), place("Bob"), place("Cy")
    order_confirm(order_id=confirmed)
    order_cancel(order_id=cancelled, reason="changed my mind")
    before = live_rows()
    assert [before[o]["status"] for o in (confirmed, cancelled, pending)] == [
        "CONFIRMED",
        "CANCELLED",
        "PENDING",
    ]
    report = rebuild([orders], batch_size=batch_size)
    assert report.clean and report.events == 5
    assert live_rows() == before


def test_a_rebuild_page_large_enough_to_be_copied_folds_to_the_live_rows():
    from eventkit.rows import COPY_MIN_ROWS

    placed = [place(f"customer {i}") for i in range(COPY_MIN_ROWS + 5)]
    for order_id in placed[::3]:
        order_confirm(order_id=order_id)
    before = live_rows()
    report = rebuild([orders], batch_size=2 * COPY_MIN_ROWS)
    assert report.events == len(placed) + len(placed[::3])
    assert live_rows() == before
