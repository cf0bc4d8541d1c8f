"""Ids that requests name by their idempotency key."""

import uuid


def order_id_for(key: str | None, *, namespace: uuid.UUID) -> uuid.UUID:
    """The id of an order placed without one: derived from its idempotency key if it has
    one, so that a repeat of the request names the same order and is answered as the first
    was (a fresh id would make it another order); else a new one. Each API derives its ids
    in a namespace of its own, as a key is its client's for that API only."""
    return uuid.uuid5(namespace, key) if key else uuid.uuid4()
