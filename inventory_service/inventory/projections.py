"""How inventory events change the read models (applied in the appending transaction).

Batch handlers: an append brings one or two events, a rebuild page two thousand. The events
are folded into rows in memory first and each row is written once (``RowWrites``), in plain
SQL. A rebuild therefore updates a product once per page: one UPDATE per event kept every
version of that row in the rebuild's transaction, each UPDATE slower than the one before,
and the fold of a busy product's log took minutes while writers waited for it.
"""

from eventkit.batching import command_cursor
from eventkit.projections import RowWrites, projection
from eventkit.records import Recorded
from inventory.domain import (
    ProductRegistered,
    ReservationVoided,
    StockAdded,
    StockReleased,
    StockReserved,
)
from inventory.models import ProductView, Reservation, reservation_id

products = projection("products", models=[ProductView])
reservations = projection("reservations", models=[Reservation])


@products.batch
def apply_products(batch: list[Recorded]) -> None:
    rows = RowWrites(ProductView)
    for recorded in batch:
        event, product_id = recorded.event, recorded.stream_id
        if isinstance(event, ProductRegistered):
            rows.new[product_id] = _registered(event, recorded)
            continue
        if isinstance(event, StockAdded):
            quantity, reserved = event.quantity, 0
        elif isinstance(event, StockReserved):
            quantity, reserved = 0, event.quantity
        elif isinstance(event, StockReleased):
            quantity, reserved = 0, -event.quantity
        else:
            continue
        rows.add(product_id, "quantity", quantity)
        rows.add(product_id, "reserved", reserved)
        rows.add(product_id, "available", quantity - reserved)
        rows.change(product_id, updated_at=recorded.recorded_at)
    with command_cursor() as cursor:
        rows.write(cursor)


def _registered(event: ProductRegistered, recorded: Recorded) -> dict:
    return {
        "id": recorded.stream_id,
        "product_name": event.product_name,
        "price": event.price,
        "quantity": 0,
        "reserved": 0,
        "available": 0,
        "created_at": recorded.recorded_at,
        "updated_at": recorded.recorded_at,
    }


@reservations.batch
def apply_reservations(batch: list[Recorded]) -> None:
    rows = RowWrites(Reservation)
    for recorded in batch:
        event = recorded.event
        if isinstance(event, StockReserved):
            row = _reservation(
                recorded, event.order_id, event.quantity, Reservation.Status.RESERVED
            )
            rows.new[row["id"]] = row
        elif isinstance(event, ReservationVoided):
            row = _reservation(recorded, event.order_id, 0, Reservation.Status.VOIDED)
            rows.new[row["id"]] = row
        elif isinstance(event, StockReleased):
            rows.change(
                reservation_id(recorded.stream_id, event.order_id),
                status=Reservation.Status.RELEASED,
                updated_at=recorded.recorded_at,
            )
    with command_cursor() as cursor:
        rows.write(cursor)


def _reservation(recorded: Recorded, order_id, quantity: int, status) -> dict:
    return {
        "id": reservation_id(recorded.stream_id, order_id),
        "product_id": recorded.stream_id,
        "order_id": order_id,
        "quantity": quantity,
        "status": status,
        "created_at": recorded.recorded_at,
        "updated_at": recorded.recorded_at,
    }
