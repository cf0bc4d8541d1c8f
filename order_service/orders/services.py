"""Order commands: load the order, let it decide, append, in one transaction.

Each returns a :class:`eventkit.store.Outcome` whose ``value`` is the order as the query
API shows it: the read-model row, which the same transaction has just brought up to date.
"""

import uuid
from uuid import UUID

from eventkit import store
from eventkit.store import Outcome, Session
from orders import selectors
from orders.domain import Order, OrderCreated

# Ids of orders created under an idempotency key without an id of their own.
KEYED_ORDERS = uuid.UUID("5b0e6d8e-2c1a-4f7b-9d3e-8a4c1f2e6b90")


def _run(order_id: UUID, decide, *, command_type: str, command_id: str | None, **execute_options):
    def command(session: Session) -> dict:
        order = session.load(Order, order_id)
        decide(order)
        session.save(order)
        return selectors.order_answer(order_id=order_id)

    return store.execute(
        command, command_type=command_type, command_id=command_id, **execute_options
    )


def order_create(
    *,
    order_id: UUID,
    customer_name: str,
    product_id: UUID,
    product_name: str,
    quantity: int,
    total_price: int,
    command_id: str | None = None,
) -> Outcome:
    details = OrderCreated(
        customer_name=customer_name,
        product_id=str(product_id),
        product_name=product_name,
        quantity=quantity,
        total_price=total_price,
    )
    return _run(
        order_id,
        lambda order: order.create(details),
        command_type="CreateOrder",
        command_id=command_id,
        payload={"order_id": str(order_id), **details.to_data()},  # the id is the request too
        # Records made before 2026-12-06 fingerprinted the details alone; they are pruned
        # after COMMAND_RETENTION_DAYS, and this line can go with them.
        earlier_payloads=[details.to_data()],
    )


def order_confirm(*, order_id: UUID, command_id: str | None = None) -> Outcome:
    return _run(
        order_id,
        lambda order: order.confirm(),
        command_type="ConfirmOrder",
        command_id=command_id,
        payload={"order_id": order_id},
    )


def order_cancel(*, order_id: UUID, reason: str, command_id: str | None = None) -> Outcome:
    return _run(
        order_id,
        lambda order: order.cancel(reason),
        command_type="CancelOrder",
        command_id=command_id,
        payload={"order_id": order_id, "reason": reason},
    )
