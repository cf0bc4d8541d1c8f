"""Placing an order through the saga, and resuming sagas whose driver died."""

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests
from django.conf import settings
from django.db import connection

from eventkit.errors import DomainError, NotFound, Unavailable
from eventkit.rows import MissingRow
from sagas import selectors
from sagas.admission import driving_turn, give_back_connection
from sagas.domain import ORDER_KEYS, DetailsMismatch, SagaStarted
from sagas.models import SagaView
from sagas.orchestrator import Driver, RetryPolicy
from sagas.participants import Participants, lookup_product
from sagas.repository import BUSY, FINISHED, LeaseLost, SagaRepository, new_owner
from servicekit import context
from servicekit.context import current_correlation_id

logger = logging.getLogger(__name__)


class FaultsDisabled(DomainError):  # a 400: this server does not take that input
    code = "faults_disabled"


class InventoryUnavailable(Unavailable):
    code = "inventory_unavailable"


# Orders placed with an Idempotency-Key and no order id get their id from the key. The
# namespace is the saga's own, apart from the BFF's and the order service's.
KEYED_ORDERS = uuid.UUID("0c6a3f1e-9b27-4d58-a1e4-7f2d8c5b3e61")


def _config(name: str):
    return settings.SAGA[name]


def _driver(repository: SagaRepository) -> Driver:
    return Driver(
        repository=repository,
        participants=Participants(),
        policy=RetryPolicy(compensation_seconds=_config("COMPENSATION_SECONDS")),
        faults_enabled=_config("FAULTS_ENABLED"),
        correlation_id=current_correlation_id(),
        # a success may wait for the next write while the lease has most of its time left
        unsaved_seconds=_config("LEASE_SECONDS") / 3,
    )


def _repository() -> SagaRepository:
    return SagaRepository(owner=new_owner(), lease_seconds=_config("LEASE_SECONDS"))


def place_order(
    *,
    order_id: uuid.UUID,
    customer_name: str,
    product_id: uuid.UUID,
    quantity: int,
    product_name: str | None = None,
    total_price: int | None = None,
    faults: dict | None = None,
    wait_seconds: float = 30.0,
) -> tuple[dict, bool]:
    """Run the place-order saga for this order, or answer for the one already run.

    Returns the saga's outcome and whether it has finished (it has not when a duplicate
    request gave up waiting, or a compensation is waiting for a participant to return).
    """
    if faults and not _config("FAULTS_ENABLED"):
        raise FaultsDisabled("fault injection is disabled on this server (set SAGA_FAULTS=1)")
    if product_name is None or total_price is None:
        product_name, total_price = _price(product_id, quantity, product_name, total_price)
    asked = {
        "order_id": str(order_id),
        "customer_name": customer_name,
        "product_id": str(product_id),
        "quantity": quantity,
    }
    repository = _repository()
    with driving_turn(product_id=product_id, unless=lambda: _finished_outcome(asked)) as finished:
        if finished is not None:
            # every driver was busy (a participant may hang), and this saga had finished:
            # a repeat needs no turn
            return finished, True
        details = SagaStarted(
            **asked,
            product_name=product_name,
            total_price=total_price,
            # From the turn, not the request: a saga let in late (every driver busy) would
            # otherwise have no time left to retry a step, and compensate at its first 503.
            deadline_at=time.time() + _config("DEADLINE_SECONDS"),
            faults=dict(faults or {}),
        )
        saga, standing = repository.begin_or_join(details)
        if standing not in (BUSY, FINISHED):
            _drive(repository, saga)
    if standing == BUSY:
        _wait_until_finished(saga.id, wait_seconds)
    outcome = selectors.saga_outcome(saga_id=saga.id)
    if outcome is None:  # its events have it: the read model lost its row (found from outside)
        raise MissingRow(f"{SagaView._meta.label} row {saga.id} is missing")
    return outcome, outcome["finished_at"] is not None


def _finished_outcome(asked: dict) -> dict | None:
    """The answer of the order's saga if it has finished, which a repeat needs no turn
    for. A request for the same order id with other details is refused here, as
    ``begin_or_join`` refuses it: answered with the saga's outcome, it would pass for placed."""
    outcome = selectors.saga_outcome(order_id=asked["order_id"])
    if outcome is None or outcome["finished_at"] is None:
        return None
    if any(outcome[key] != asked[key] for key in ORDER_KEYS):
        raise DetailsMismatch(
            f"order {asked['order_id']} was already placed with other details",
            order_id=asked["order_id"],
        )
    return outcome


def _price(product_id, quantity, product_name, total_price) -> tuple[str, int]:
    try:
        product = lookup_product(product_id)
    except requests.RequestException as exc:
        raise InventoryUnavailable(f"cannot look up the product: {exc.__class__.__name__}") from exc
    if product is None:
        raise NotFound(f"no product {product_id}", product_id=str(product_id))
    return (
        product_name if product_name is not None else product["product_name"],
        total_price if total_price is not None else product["price"] * quantity,
    )


def _drive(repository: SagaRepository, saga) -> None:
    try:
        saga = _driver(repository).run(saga)
    except LeaseLost as exc:
        logger.warning("saga %s: %s; the new owner carries on", saga.id, exc)
        return
    if not saga.finished:
        repository.release(saga.id)


def _wait_until_finished(saga_id, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if selectors.saga_finished(saga_id):
            return
        # The connection goes back to the pool between polls. A request keeps its pooled
        # connection to its end, and the process has more threads than connections (so at
        # most that many sagas run at once): when a worker dies mid-saga, its clients'
        # retries wait here until the sagas' leases lapse, and would hold every connection.
        give_back_connection()
        time.sleep(0.05)  # another process is driving it; poll its committed state


def resume_unfinished(*, workers: int = 4) -> list[str]:
    """Drive every unfinished saga whose lease has lapsed; returns the ids taken over."""
    taken = []

    def resume(saga_id):
        token = context.correlation_id.set(None)  # this pool thread's, put back when done
        try:
            # Carried on under the correlation id of the request that started it: the
            # resumption's log lines, its events and its calls to the participants are found
            # with the order's. A saga that kept none gets one, so its resumption hangs
            # together (its events keep it for the next pass).
            context.correlation_id.set(
                selectors.saga_correlation_id(saga_id) or context.new_correlation_id()
            )
            repository = _repository()
            saga = repository.take_over(saga_id)
            if saga is None:
                return None
            at = saga.current.action if saga.current else "-"
            logger.info("resuming saga %s at %s", saga_id, at)
            _drive(repository, saga)
            return str(saga_id)
        except Exception:
            # One saga's failure must not end the pass for the others (nor the process):
            # its lease lapses and a later pass tries it again.
            logger.exception("saga %s could not be resumed; trying again later", saga_id)
            return None
        finally:
            context.correlation_id.reset(token)
            connection.close()  # each pool thread has its own connection

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for result in pool.map(resume, selectors.abandoned_saga_ids()):
            if result:
                taken.append(result)
    return taken
