"""Inventory commands: each loads the product, lets it decide, appends, in one transaction.

Every function returns a :class:`eventkit.store.Outcome` whose ``value`` is the JSON the
API answers with: the product's new levels, plus the reservation where there is one.
"""

from uuid import UUID

from eventkit import store
from eventkit.store import Outcome, Session
from inventory import selectors
from inventory.domain import Product, Reservation


def levels(product: Product) -> dict:
    return {
        "id": str(product.id),
        "product_name": product.product_name,
        "price": product.price,
        "quantity": product.quantity,
        "reserved": product.reserved,
        "available": product.available,
    }


def _with_reservation(product: Product, reservation: Reservation) -> dict:
    return {
        **levels(product),
        "reservation": {
            "order_id": reservation.order_id,
            "quantity": reservation.quantity,
            "status": reservation.status,
        },
    }


def product_register(
    *,
    product_id: UUID,
    product_name: str,
    price: int,
    initial_stock: int = 0,
) -> Outcome:
    """Register a product. It needs no idempotency key: registering a product again on the
    same terms changes nothing, and on other terms is refused (``Product.register``)."""

    def command(session: Session) -> dict:
        product = session.load(Product, product_id)
        product.register(product_name, price, initial_stock)
        session.save(product)
        return levels(product)

    return store.execute(command, command_type="RegisterProduct")


def stock_add(*, product_id: UUID, quantity: int, command_id: str | None = None) -> Outcome:
    def command(session: Session) -> dict:
        product = session.load(Product, product_id)
        product.restock(quantity)
        session.save(product)
        return levels(product)

    return store.execute(
        command,
        command_type="Restock",
        command_id=command_id,
        payload={"product_id": product_id, "quantity": quantity},
    )


def stock_reserve(
    *, product_id: UUID, order_id: UUID, quantity: int, command_id: str | None = None
) -> Outcome:
    def command(session: Session) -> dict:
        product = session.load(Product, product_id)
        prior = selectors.reservation_of(product_id=product_id, order_id=order_id)
        reservation = product.reserve(str(order_id), quantity, prior)
        session.save(product)
        return _with_reservation(product, reservation)

    return store.execute(
        command,
        command_type="ReserveStock",
        command_id=command_id,
        payload={"product_id": product_id, "order_id": order_id, "quantity": quantity},
    )


def stock_release(*, product_id: UUID, order_id: UUID, command_id: str | None = None) -> Outcome:
    def command(session: Session) -> dict:
        product = session.load(Product, product_id)
        prior = selectors.reservation_of(product_id=product_id, order_id=order_id)
        reservation = product.release(str(order_id), prior)
        session.save(product)
        return _with_reservation(product, reservation)

    return store.execute(
        command,
        command_type="ReleaseStock",
        command_id=command_id,
        payload={"product_id": product_id, "order_id": order_id},
    )
