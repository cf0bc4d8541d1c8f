"""Order state machine, driven without a database."""

import uuid

import pytest

from eventkit.errors import NotFound
from orders.domain import (
    CANCELLED,
    CONFIRMED,
    PENDING,
    VOIDED,
    IllegalTransition,
    Order,
    OrderCancelled,
    OrderClosed,
    OrderConfirmed,
    OrderCreated,
    OrderMismatch,
    OrderVoided,
)

DETAILS = OrderCreated("Yamada", str(uuid.uuid4()), "Laptop", 2, 240_000)


def pending():
    return Order.replay(uuid.uuid4(), [DETAILS])


def test_create_records_a_pending_order():
    order = Order(uuid.uuid4())
    order.create(DETAILS)
    assert order.status == PENDING and order.pending_events() == [DETAILS]


def test_creating_the_same_order_again_is_a_no_op_and_other_details_conflict():
    order = pending()
    order.create(DETAILS)
    assert order.pending_events() == []
    with pytest.raises(OrderMismatch):
        order.create(OrderCreated("Suzuki", DETAILS.product_id, "Laptop", 2, 240_000))


def test_confirm_and_cancel_from_pending():
    confirmed, cancelled = pending(), pending()
    confirmed.confirm()
    cancelled.cancel("out of stock")
    assert confirmed.status == CONFIRMED and confirmed.pending_events() == [OrderConfirmed()]
    assert cancelled.status == CANCELLED and cancelled.cancel_reason == "out of stock"


def test_repeating_a_transition_is_a_no_op():
    order = Order.replay(uuid.uuid4(), [DETAILS, OrderConfirmed()])
    order.confirm()
    assert order.pending_events() == []
    order = Order.replay(uuid.uuid4(), [DETAILS, OrderCancelled("x")])
    order.cancel("y")
    assert order.pending_events() == [] and order.cancel_reason == "x"


def test_transitions_that_rewrite_history_are_refused():
    with pytest.raises(IllegalTransition):
        Order.replay(uuid.uuid4(), [DETAILS, OrderConfirmed()]).cancel("late")
    with pytest.raises(IllegalTransition):
        Order.replay(uuid.uuid4(), [DETAILS, OrderCancelled("x")]).confirm()


def test_unknown_order():
    with pytest.raises(NotFound):
        Order(uuid.uuid4()).confirm()


def test_a_cancel_before_the_create_closes_the_id_for_a_create_that_lands_late():
    order = Order(uuid.uuid4())
    order.cancel("CreateOrder went unanswered")
    assert order.status == VOIDED
    assert order.pending_events() == [OrderVoided("CreateOrder went unanswered")]
    voided = Order.replay(order.id, order.pending_events())
    voided.cancel("again")
    assert voided.pending_events() == []
    with pytest.raises(OrderClosed):
        voided.create(DETAILS)
    with pytest.raises(NotFound):
        voided.confirm()
