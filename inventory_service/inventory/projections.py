"""How inventory events change the read models (applied in the appending transaction).

Every reserve and release runs these, so they write in plain SQL (``insert_row``,
``update_row``) rather than through querysets, whose building costs more than the statement.
"""

from eventkit.batching import command_cursor
from eventkit.projections import projection
from eventkit.rows import insert_row, update_row
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


def _move_stock(recorded, *, quantity=0, reserved=0):
    with command_cursor() as cursor:
        update_row(
            cursor,
            ProductView,
            recorded.stream_id,
            {"updated_at": recorded.recorded_at},
            {"quantity": quantity, "reserved": reserved, "available": quantity - reserved},
            must_exist=True,
        )


@products.on(ProductRegistered)
def product_registered(event, recorded):
    ProductView.objects.create(
        id=recorded.stream_id,
        product_name=event.product_name,
        price=event.price,
        created_at=recorded.recorded_at,
        updated_at=recorded.recorded_at,
    )


@products.on(StockAdded)
def stock_added(event, recorded):
    _move_stock(recorded, quantity=event.quantity)


@products.on(StockReserved)
def stock_reserved(event, recorded):
    _move_stock(recorded, reserved=event.quantity)


@products.on(StockReleased)
def stock_released(event, recorded):
    _move_stock(recorded, reserved=-event.quantity)


def _open_reservation(recorded, order_id, quantity, status):
    row = {
        "id": reservation_id(recorded.stream_id, order_id),
        "product_id": recorded.stream_id,
        "order_id": order_id,
        "quantity": quantity,
        "status": status,
        "created_at": recorded.recorded_at,
        "updated_at": recorded.recorded_at,
    }
    with command_cursor() as cursor:
        insert_row(cursor, Reservation, row)


@reservations.on(StockReserved)
def reservation_made(event, recorded):
    _open_reservation(recorded, event.order_id, event.quantity, Reservation.Status.RESERVED)


@reservations.on(ReservationVoided)
def reservation_voided(event, recorded):
    _open_reservation(recorded, event.order_id, 0, Reservation.Status.VOIDED)


@reservations.on(StockReleased)
def reservation_released(event, recorded):
    changes = {"status": Reservation.Status.RELEASED, "updated_at": recorded.recorded_at}
    row_id = reservation_id(recorded.stream_id, event.order_id)
    with command_cursor() as cursor:
        update_row(cursor, Reservation, row_id, changes, must_exist=True)
