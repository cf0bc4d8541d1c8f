"""Order events as the consumer hands them to the projection, without Redis or HTTP."""

import uuid
from datetime import UTC, datetime

from django.db import transaction

from contracts.orders import OrderCancelled, OrderConfirmed, OrderCreated
from eventkit.projections import registry
from eventkit.records import Recorded

# The sample catalog of DESIGN.md: id, name, price in yen.
LAPTOP = ("a1111111-1111-1111-1111-111111111111", "Laptop", 120000)
MOUSE = ("b2222222-2222-2222-2222-222222222222", "Wireless Mouse", 3500)
KEYBOARD = ("c3333333-3333-3333-3333-333333333333", "USB Keyboard", 5800)
MONITOR = ("d4444444-4444-4444-4444-444444444444", "4K Monitor", 65000)
HEADSET = ("e5555555-5555-5555-5555-555555555555", "Headset", 8900)


def at(text: str) -> datetime:
    """``"2025-03-01 10:00"`` as an aware UTC datetime (other offsets: pass them in)."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class OrderFeed:
    """Numbers events like the order service's feed and applies each one as it is made."""

    def __init__(self):
        self.position = 0
        self.versions: dict[uuid.UUID, int] = {}
        self.log: list[Recorded] = []

    def record(self, order_id, event, when: datetime) -> Recorded:
        order_id = uuid.UUID(str(order_id))
        self.position += 1
        self.versions[order_id] = self.versions.get(order_id, 0) + 1
        recorded = Recorded(
            position=self.position,
            event_id=uuid.uuid4(),
            stream_id=order_id,
            stream_type="Order",
            version=self.versions[order_id],
            event=event,
            recorded_at=when,
            metadata={"service": "order-service"},
        )
        apply(recorded)
        self.log.append(recorded)
        return recorded

    def create(self, customer: str, product=LAPTOP, quantity: int = 1, *, when: str | datetime):
        order_id = uuid.uuid4()
        product_id, name, price = product
        event = OrderCreated(
            customer_name=customer,
            product_id=product_id,
            product_name=name,
            quantity=quantity,
            total_price=price * quantity,
        )
        self.record(order_id, event, _moment(when))
        return order_id

    def confirm(self, order_id, *, when: str | datetime):
        return self.record(order_id, OrderConfirmed(), _moment(when))

    def cancel(self, order_id, reason: str = "out of stock", *, when: str | datetime):
        return self.record(order_id, OrderCancelled(reason=reason), _moment(when))


def apply(*recorded: Recorded) -> None:
    with transaction.atomic():
        registry.apply(recorded, source="order-service")


def _moment(when: str | datetime) -> datetime:
    return at(when) if isinstance(when, str) else when


def open_shop(feed: OrderFeed) -> dict[int, uuid.UUID]:
    """Eight orders by four customers over three days; the numbers the tests expect:

    ==  ========  ===============  ==================  ==================
    #   customer  ordered          created (UTC)       then
    ==  ========  ===============  ==================  ==================
    1   Yamada    1 Laptop         03-01 09:00         confirmed
    2   Yamada    2 Wireless Mouse 03-01 10:00         confirmed
    3   Sato      1 4K Monitor     03-01 23:50         confirmed 03-02
    4   Sato      1 Wireless Mouse 03-02 08:00         cancelled
    5   Suzuki    2 Laptop         03-02 12:00         cancelled
    6   Suzuki    3 USB Keyboard   03-03 09:00         confirmed
    7   Yamada    1 Wireless Mouse 03-03 10:00         still pending
    8   Tanaka    1 Headset        03-03 11:00         confirmed
    ==  ========  ===============  ==================  ==================
    """
    o = {}
    o[1] = feed.create("Yamada", LAPTOP, 1, when="2025-03-01 09:00")
    feed.confirm(o[1], when="2025-03-01 09:01")
    o[2] = feed.create("Yamada", MOUSE, 2, when="2025-03-01 10:00")
    feed.confirm(o[2], when="2025-03-01 10:01")
    o[3] = feed.create("Sato", MONITOR, 1, when="2025-03-01 23:50")
    o[4] = feed.create("Sato", MOUSE, 1, when="2025-03-02 08:00")
    feed.confirm(o[3], when="2025-03-02 08:00:30")
    feed.cancel(o[4], when="2025-03-02 08:01")
    o[5] = feed.create("Suzuki", LAPTOP, 2, when="2025-03-02 12:00")
    feed.cancel(o[5], when="2025-03-02 12:01")
    o[6] = feed.create("Suzuki", KEYBOARD, 3, when="2025-03-03 09:00")
    feed.confirm(o[6], when="2025-03-03 09:01")
    o[7] = feed.create("Yamada", MOUSE, 1, when="2025-03-03 10:00")
    o[8] = feed.create("Tanaka", HEADSET, 1, when="2025-03-03 11:00")
    feed.confirm(o[8], when="2025-03-03 11:01")
    return o
