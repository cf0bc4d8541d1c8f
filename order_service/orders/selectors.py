"""Reads of the order read model."""

from django.db.models import Count

from eventkit.rows import select_row
from eventkit.snapshots import read_page
from orders.models import OrderView
from orders.serializers import ORDER_FIELDS
from servicekit.api import api_value


def order_list(
    *, status: str | None = None, customer: str | None = None, limit: int, offset: int
) -> tuple[list[OrderView], int]:
    orders = OrderView.objects.all()
    if status:
        orders = orders.filter(status=status)
    if customer:
        orders = orders.filter(customer_name=customer)
    orders = orders.order_by("-created_at", "-id")
    return read_page(orders, limit=limit, offset=offset)


def order_counts() -> dict[str, int]:
    """How many orders each status holds, and how many in all, from one statement: counts
    read one by one (the BFF's dashboard read three pages for their totals) could each see
    another moment, and not add up to their total."""
    counted = dict(OrderView.objects.order_by().values_list("status").annotate(n=Count("*")))
    counts = {status: counted.get(status, 0) for status in OrderView.Status.values}
    return {**counts, "TOTAL": sum(counts.values())}


def order_get(*, order_id) -> OrderView | None:
    return OrderView.objects.filter(pk=order_id).first()


def order_answer(*, order_id) -> dict | None:
    """The order as ``OrderSerializer`` shows it, read as plain values in plain SQL: every
    command answers with it, and a ModelSerializer or a queryset costs more than the read."""
    row = select_row(OrderView, ORDER_FIELDS, id=order_id)
    return None if row is None else {name: api_value(value) for name, value in row.items()}
