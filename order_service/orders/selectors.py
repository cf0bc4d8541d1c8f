"""Reads of the order read model."""

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
    return list(orders[offset : offset + limit]), orders.count()


def order_get(*, order_id) -> OrderView | None:
    return OrderView.objects.filter(pk=order_id).first()


def order_answer(*, order_id) -> dict | None:
    """The order as ``OrderSerializer`` shows it, read as plain values: every command answers
    with it, and building a ModelSerializer's fields costs more than the query."""
    row = OrderView.objects.filter(pk=order_id).values(*ORDER_FIELDS).first()
    return None if row is None else {name: api_value(value) for name, value in row.items()}
