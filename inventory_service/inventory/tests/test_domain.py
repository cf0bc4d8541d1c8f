"""Product rules, driven without a database."""

import uuid

import pytest

from eventkit.errors import Conflict, NotFound
from inventory.domain import (
    RELEASED,
    RESERVED,
    VOIDED,
    InsufficientStock,
    Product,
    ProductRegistered,
    Reservation,
    ReservationClosed,
    ReservationMismatch,
    ReservationVoided,
    StockAdded,
    StockReleased,
    StockReserved,
)

ORDER = str(uuid.uuid4())


def product(stock=10, reserved=0):
    history = [ProductRegistered("Laptop", 120_000), StockAdded(stock)]
    if reserved:
        history.append(StockReserved(str(uuid.uuid4()), reserved))
    return Product.replay(uuid.uuid4(), history)


def test_register_records_name_price_and_initial_stock():
    p = Product(uuid.uuid4())
    p.register("Mouse", 3500, initial_stock=20)
    assert p.pending_events() == [ProductRegistered("Mouse", 3500), StockAdded(20)]
    assert (p.quantity, p.available) == (20, 20)


def test_registering_again_is_a_no_op_but_a_different_product_is_a_conflict():
    p = product()
    p.register("Laptop", 120_000, initial_stock=10)
    assert p.pending_events() == []
    with pytest.raises(Conflict):
        p.register("Tablet", 1, initial_stock=1)


def test_reserve_holds_stock_up_to_what_is_available():
    p = product(stock=5)
    reservation = p.reserve(ORDER, 5, prior=None)
    assert reservation == Reservation(ORDER, 5, RESERVED)
    assert (p.reserved, p.available) == (5, 0)
    with pytest.raises(InsufficientStock) as short:
        p.reserve(str(uuid.uuid4()), 1, prior=None)
    assert short.value.details == {"available": 0, "requested": 1}


def test_reserving_again_for_the_same_order_changes_nothing():
    p = product()
    held = Reservation(ORDER, 3, RESERVED)
    assert p.reserve(ORDER, 3, prior=held) == held
    assert p.pending_events() == []
    with pytest.raises(ReservationMismatch):
        p.reserve(ORDER, 4, prior=held)


@pytest.mark.parametrize("status", [RELEASED, VOIDED])
def test_a_closed_reservation_cannot_be_reopened(status):
    with pytest.raises(ReservationClosed):
        product().reserve(ORDER, 1, prior=Reservation(ORDER, 1, status))


def test_release_gives_back_exactly_what_the_order_holds():
    p = product(stock=10)
    p.reserve(ORDER, 4, prior=None)
    p.mark_saved()
    released = p.release(ORDER, prior=Reservation(ORDER, 4, RESERVED))
    assert released == Reservation(ORDER, 4, RELEASED)
    assert p.pending_events() == [StockReleased(ORDER, 4)]
    assert p.available == 10


def test_release_twice_is_a_no_op():
    p = product()
    assert p.release(ORDER, prior=Reservation(ORDER, 4, RELEASED)).status == RELEASED
    assert p.pending_events() == []


def test_release_without_reservation_voids_it():
    p = product()
    assert p.release(ORDER, prior=None) == Reservation(ORDER, 0, VOIDED)
    assert p.pending_events() == [ReservationVoided(ORDER)]
    assert p.available == 10


def test_commands_on_an_unknown_product_are_not_found():
    p = Product(uuid.uuid4())
    for attempt in (
        lambda: p.reserve(ORDER, 1, None),
        lambda: p.release(ORDER, None),
        lambda: p.restock(1),
    ):
        with pytest.raises(NotFound):
            attempt()


def test_snapshot_round_trip_keeps_levels():
    p = product(stock=10, reserved=3)
    copy = Product(p.id)
    copy.restore_snapshot(p.to_snapshot())
    assert (copy.product_name, copy.price, copy.quantity, copy.reserved) == (
        "Laptop",
        120_000,
        10,
        3,
    )
