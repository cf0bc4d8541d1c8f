"""Reads of the order read model."""

from orders.models import OrderView


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
