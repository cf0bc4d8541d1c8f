"""Reads of the inventory's read models."""

from eventkit.rows import select_row
from eventkit.snapshots import read_page
from inventory import domain
from inventory.models import ProductView, Reservation, reservation_id


def product_list(*, limit: int, offset: int) -> tuple[list[ProductView], int]:
    products = ProductView.objects.order_by("product_name", "id")
    return read_page(products, limit=limit, offset=offset)


def product_get(*, product_id) -> ProductView | None:
    return ProductView.objects.filter(pk=product_id).first()


def reservation_of(*, product_id, order_id) -> domain.Reservation | None:
    """The ledger entry the reserve and release commands decide on (every reserve reads it:
    plain SQL)."""
    row = select_row(
        Reservation, ["order_id", "quantity", "status"], id=reservation_id(product_id, order_id)
    )
    if row is None:
        return None
    return domain.Reservation(
        order_id=str(row["order_id"]), quantity=row["quantity"], status=row["status"]
    )
