"""What the web UI asks for, composed from the services behind the BFF."""

import heapq
import uuid
from dataclasses import replace
from datetime import datetime
from itertools import islice

from django.conf import settings

from eventkit.errors import NotFound
from gateway.downstream import (
    Answer,
    Persistence,
    Read,
    ServiceUnavailable,
    call,
    gather,
    get,
)
from servicekit.ids import order_id_for

EVENT_SOURCES = ("order-service", "inventory-service", "saga-service")
MAX_EVENT_WINDOW = 1000  # offset + limit; the services' feeds page at most this many
RECENT_EVENTS = 10  # on the dashboard

# An Idempotency-Key names one order for good: the order id is derived from it, and the
# saga places each order id once, so a repeated request gets the first answer.
KEYED_ORDERS = uuid.UUID("2f6e1c1a-0d5b-4a8e-9c47-6b3f8e2d1a90")


# Safe to send again: the saga places an order id once, however often it is sent. Ten
# reconnects (about 6.5 s) ride over a restart of the whole saga service, even a second one
# within a minute (manage_all.py waits 2 s before it, then gunicorn starts), so an order
# placed while it comes back is answered instead of refused with a 503. Two resends after a
# 503 (its database failed under that request: a connection dropped by a restart or
# failover): sent again, the order joins its saga, or the resumer's. No send starts later
# than BFF["PLACE_ORDER_SECONDS"] after the first.
PLACE_ORDER = Persistence(reconnects=10, unavailable_resends=2)


def place_order(
    *,
    customer_name: str,
    product_id: uuid.UUID,
    quantity: int,
    idempotency_key: str | None = None,
    faults: dict | None = None,
) -> Answer:
    """Look the product up, price the order, run the saga; the saga's answer, enriched."""
    product_name, price = product_terms(product_id)
    order_id = order_id_for(idempotency_key, namespace=KEYED_ORDERS)
    body = {
        "order_id": str(order_id),
        "customer_name": customer_name,
        "product_id": str(product_id),
        "product_name": product_name,
        "quantity": quantity,
        "total_price": price * quantity,
    }
    if faults:
        body["faults"] = faults
    try:
        answer = call(
            "saga-service",
            "POST",
            "/saga/place-order",
            json=body,
            read_timeout=settings.BFF["SAGA_TIMEOUT_SECONDS"],
            persistence=replace(PLACE_ORDER, within=settings.BFF["PLACE_ORDER_SECONDS"]),
        )
    except ServiceUnavailable as exc:
        # The saga may have got far, and its resumer finishes what it started: the order id
        # lets the client look the order up instead of placing another one.
        if idempotency_key:
            advice = "look it up, or send again with the same Idempotency-Key"
        else:  # sent again, it would be another order (found from outside)
            advice = "look it up before ordering again (without an Idempotency-Key, a new order)"
        raise ServiceUnavailable(
            f"{exc.message}; order {order_id} may still be placed: {advice}",
            code=exc.code,  # a service's own, where it said more than 'unavailable'
            **exc.details,
            order_id=str(order_id),
        ) from exc
    if answer.status >= 400 or not isinstance(answer.body, dict):
        return answer
    outcome = dict(answer.body)
    outcome["message"] = _message(outcome)
    return Answer(answer.status, outcome, answer.headers)


# A product's name and price are fixed when it is registered (inventory refuses to register
# an id again with other terms), so once read they are kept: one inventory call per product
# for the life of the process instead of one per order. Bounded, in case of many products.
_terms: dict[str, tuple[str, int]] = {}
MAX_CACHED_PRODUCTS = 10_000


def product_terms(product_id: uuid.UUID) -> tuple[str, int]:
    """The product's name and unit price; NotFound (code ``not_found``, as
    inventory and the saga say it) if inventory does not know it."""
    key = str(product_id)
    if (known := _terms.get(key)) is not None:  # one read: another thread may clear it
        return known
    product = get("inventory-service", f"/queries/products/{product_id}")
    if product.status == 404:
        raise NotFound(f"no product {product_id}", product_id=key)
    terms = (product.body["product_name"], product.body["price"])
    if len(_terms) >= MAX_CACHED_PRODUCTS:
        _terms.clear()
    _terms[key] = terms
    return terms


def _message(outcome: dict) -> str:
    if outcome.get("success"):
        return f"Order confirmed: {outcome['quantity']} x {outcome['product_name']}"
    if outcome.get("status") in ("RUNNING", "COMPENSATING"):
        return "The order is still being processed; watch its status."
    if outcome.get("status") == "FAILED":  # a compensation was refused: the order may stand
        return f"The saga failed and needs an operator: {outcome.get('reason') or 'see its log'}"
    if _never_created(outcome):
        return f"Order not placed: {outcome.get('reason') or 'the order could not be created'}"
    return f"Order cancelled: {outcome.get('reason') or 'the saga compensated'}"


def _never_created(outcome: dict) -> bool:
    """The saga stopped at its first step, CreateOrder: there is no order to call cancelled
    (one that landed late was voided or cancelled by the compensation)."""
    log = outcome.get("saga_log") or []
    return bool(log) and log[0].get("action") == "CreateOrder" and log[0].get("status") == "FAILED"


def order_detail(order_id: uuid.UUID) -> tuple[dict, list[str]]:
    """The order with its events and saga log; a missing part is named in ``degraded``."""
    failures = {}
    results, degraded = gather(
        {
            "order": Read("order-service", f"/queries/orders/{order_id}"),
            "events": Read("order-service", f"/events/{order_id}"),
            "saga": Read("saga-service", f"/sagas/{order_id}"),
        },
        failures,
    )
    order = results.get("order")
    if order is None:
        raise failures.get("order") or ServiceUnavailable(
            "order-service did not answer", service="order-service"
        )
    if order.status == 404:
        raise NotFound(f"no order {order_id}", order_id=str(order_id))
    saga = results.get("saga")
    detail = {
        **order.body,
        "events": results["events"].body if "events" in results else [],
        "saga": saga.body if saga is not None and saga.status == 200 else None,
    }
    detail["saga_log"] = detail["saga"]["saga_log"] if detail["saga"] else []
    return detail, degraded


def events_timeline(
    *,
    service: str | None = None,
    event_type: str | None = None,
    aggregate_id: uuid.UUID | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict], int, list[str]]:
    """One newest-first timeline merged from the services' event logs."""
    pages, degraded = gather(
        _event_pages(
            [service] if service else list(EVENT_SOURCES),
            window=min(offset + limit, MAX_EVENT_WINDOW),
            event_type=event_type,
            aggregate_id=aggregate_id,
        )
    )
    timeline, total = _timeline(pages, offset=offset, limit=limit)
    return timeline, total, degraded


def _event_pages(
    sources: list[str],
    *,
    window: int,
    event_type: str | None = None,
    aggregate_id: uuid.UUID | None = None,
) -> dict:
    """The reads of each source's newest ``window`` events, for :func:`gather`."""
    path = f"/events/{aggregate_id}" if aggregate_id else "/events"
    params = {"limit": window, "event_type": event_type}
    if aggregate_id:
        params["ordering"] = "-version"  # a stream is oldest first unless asked
    return {s: Read(s, path, params) for s in sources}


def _timeline(pages: dict[str, Answer], *, offset: int, limit: int) -> tuple[list[dict], int]:
    streams, total = [], 0
    for source, answer in pages.items():
        events = answer.body or []
        total += answer.total or len(events)
        streams.append([{**e, "service": source} for e in events])
    # Merged, not sorted: a service's page is newest first by position, which is commit
    # order, while created_at is stamped before commit (ADR 0001), so a later stamp can sit
    # below an earlier one. Sorting by time made a page depend on its window: an event
    # stamped later but committed earlier fell outside a small window and inside a large
    # one. A merge by time of the sources, each kept in commit order, takes its first n
    # events from the first n of each source: every page is a slice of one timeline.
    merged = heapq.merge(*streams, key=_stamp, reverse=True)
    # Each source gave its newest MAX_EVENT_WINDOW, so the merge is the timeline that far
    # only: past it, one source's newer events are missing while another's older ones show.
    return list(islice(merged, offset, min(offset + limit, MAX_EVENT_WINDOW))), total


def _stamp(event: dict) -> float:
    return datetime.fromisoformat(event["created_at"]).timestamp()


def dashboard() -> tuple[dict, list[str]]:
    reads = {
        "products": Read("inventory-service", "/queries/products"),
        "marketing": Read("marketing-service", "/queries/marketing/overview"),
        "order_counts": Read("order-service", "/queries/orders/counts"),
    }
    event_pages = _event_pages(list(EVENT_SOURCES), window=RECENT_EVENTS)
    failures = {}
    results, degraded = gather(
        {**reads, **{f"events {s}": r for s, r in event_pages.items()}}, failures
    )
    pages = {s: results[f"events {s}"] for s in event_pages if f"events {s}" in results}
    return {
        "products": results["products"].body if "products" in results else [],
        "order_counts": results["order_counts"].body if "order_counts" in results else {},
        "recent_events": _timeline(pages, offset=0, limit=RECENT_EVENTS)[0],
        "marketing": results["marketing"].body if "marketing" in results else None,
        "degraded_reasons": degraded_reasons(degraded, failures),
    }, degraded


def degraded_reasons(degraded: list[str], failures: dict[str, ServiceUnavailable]) -> list[dict]:
    """Why each service in ``degraded`` is missing, in its order: the code and detail of its
    first failed read. A 503 whose code says more than that it is down (``locked``,
    ``stream_busy``, ... : ``PASSED_ON``) keeps it; a lock held there wants waiting out, a
    service down wants restarting (found from outside: the dashboard said neither)."""
    first: dict[str, ServiceUnavailable] = {}
    for failure in failures.values():
        first.setdefault(failure.details.get("service"), failure)
    return [
        {"service": service, "code": first[service].code, "detail": first[service].message}
        for service in degraded
        if service in first
    ]


def recent_orders(limit: int = 20) -> list[dict]:
    return get("order-service", "/queries/orders", limit=limit).body or []
