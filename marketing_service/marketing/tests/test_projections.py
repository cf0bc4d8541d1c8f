"""Order events into read models: every counter, the favourite product, the day an order is
booked on, events that cannot be applied, and folding the same events twice."""

import uuid
from collections import defaultdict
from datetime import date

import pytest
from django.core.exceptions import ValidationError

from contracts.orders import OrderCreated
from marketing.models import (
    CustomerProduct,
    CustomerStats,
    DailySales,
    OrderFact,
    ProductStats,
    customer_product_key,
)
from marketing.projections import DuplicateOrder, InconsistentEvent, UnknownOrder, analytics
from marketing.tests.helpers import (
    HEADSET,
    KEYBOARD,
    LAPTOP,
    MONITOR,
    MOUSE,
    OrderFeed,
    apply,
    at,
    open_shop,
)

pytestmark = pytest.mark.django_db

COUNTERS = ("total_orders", "confirmed_orders", "cancelled_orders", "total_revenue")


def uid(product):
    return uuid.UUID(product[0])


def test_order_facts_follow_each_order(shop):
    assert OrderFact.objects.count() == 8
    fact = OrderFact.objects.get(pk=shop[5])
    assert (fact.customer_name, fact.product_id, fact.product_name) == (
        "Suzuki",
        uid(LAPTOP),
        "Laptop",
    )
    assert (fact.quantity, fact.total_price, fact.status) == (2, 240000, "CANCELLED")
    assert fact.cancel_reason == "out of stock" and fact.version == 2
    assert fact.created_at == at("2025-03-02 12:00") and fact.updated_at == at("2025-03-02 12:01")
    pending = OrderFact.objects.get(pk=shop[7])
    assert (pending.status, pending.version, pending.updated_at) == (
        "PENDING",
        1,
        at("2025-03-03 10:00"),
    )
    statuses = defaultdict(int)
    for status in OrderFact.objects.values_list("status", flat=True):
        statuses[status] += 1
    assert statuses == {"CONFIRMED": 5, "CANCELLED": 2, "PENDING": 1}


def test_customer_counters(shop):
    rows = {
        c.customer_name: (
            c.total_orders,
            c.confirmed_orders,
            c.cancelled_orders,
            c.total_revenue,
            c.total_units,
            c.first_order_at,
            c.last_order_at,
        )
        for c in CustomerStats.objects.all()
    }
    assert rows == {
        "Yamada": (3, 2, 0, 127000, 3, at("2025-03-01 09:00"), at("2025-03-03 10:00")),
        "Sato": (2, 1, 1, 65000, 1, at("2025-03-01 23:50"), at("2025-03-02 08:00")),
        "Suzuki": (2, 1, 1, 17400, 3, at("2025-03-02 12:00"), at("2025-03-03 09:00")),
        "Tanaka": (1, 1, 0, 8900, 1, at("2025-03-03 11:00"), at("2025-03-03 11:00")),
    }
    favourites = dict(CustomerStats.objects.values_list("customer_name", "favourite_product_name"))
    assert favourites == {
        "Yamada": "Wireless Mouse",  # 2 confirmed mice beat 1 laptop; the pending mouse waits
        "Sato": "4K Monitor",  # the cancelled mouse does not count
        "Suzuki": "USB Keyboard",
        "Tanaka": "Headset",
    }
    assert CustomerStats.objects.get(pk="Yamada").favourite_product_id == uid(MOUSE)


def test_product_counters(shop):
    rows = {
        p.product_name: (
            p.total_order_count,
            p.confirmed_orders,
            p.cancelled_orders,
            p.total_units_ordered,
            p.total_revenue,
            p.unique_customers,
        )
        for p in ProductStats.objects.all()
    }
    assert rows == {
        "Laptop": (2, 1, 1, 1, 120000, 2),
        "Wireless Mouse": (3, 1, 1, 2, 7000, 2),  # Yamada twice, Sato once (cancelled)
        "4K Monitor": (1, 1, 0, 1, 65000, 1),
        "USB Keyboard": (1, 1, 0, 3, 17400, 1),
        "Headset": (1, 1, 0, 1, 8900, 1),
    }
    assert ProductStats.objects.get(pk=uid(MONITOR)).product_name == "4K Monitor"


def test_customer_product_rows(shop):
    rows = {
        (cp.customer_name, cp.product_name): (cp.orders, cp.confirmed_orders, cp.confirmed_units)
        for cp in CustomerProduct.objects.all()
    }
    assert rows == {
        ("Yamada", "Laptop"): (1, 1, 1),
        ("Yamada", "Wireless Mouse"): (2, 1, 2),
        ("Sato", "4K Monitor"): (1, 1, 1),
        ("Sato", "Wireless Mouse"): (1, 0, 0),
        ("Suzuki", "Laptop"): (1, 0, 0),
        ("Suzuki", "USB Keyboard"): (1, 1, 3),
        ("Tanaka", "Headset"): (1, 1, 1),
    }
    row = CustomerProduct.objects.get(customer_name="Yamada", product_id=uid(MOUSE))
    assert row.pk == customer_product_key("Yamada", MOUSE[0])
    assert row.pk == customer_product_key("Yamada", uid(MOUSE))  # str or UUID: one key
    assert row.last_confirmed_at == at("2025-03-01 10:01")


def test_daily_counters_book_orders_on_their_creation_day(shop):
    rows = {d.sale_date: tuple(getattr(d, n) for n in COUNTERS) for d in DailySales.objects.all()}
    assert rows == {
        # Sato's monitor is confirmed on 03-02 but was created, so sold, on 03-01.
        date(2025, 3, 1): (3, 3, 0, 192000),
        date(2025, 3, 2): (2, 0, 2, 0),
        date(2025, 3, 3): (3, 2, 0, 26300),
    }


def test_sale_date_is_the_utc_date(feed):
    # 08:30 in Tokyo on 03-02 is 23:30 UTC on 03-01.
    order = feed.create("Ito", when="2025-03-02T08:30:00+09:00")
    assert OrderFact.objects.get(pk=order).sale_date == date(2025, 3, 1)
    assert list(DailySales.objects.values_list("sale_date", flat=True)) == [date(2025, 3, 1)]


def test_first_and_last_order_times_hold_for_events_out_of_time_order(feed):
    feed.create("Ito", when="2025-03-02 10:00")
    feed.create("Ito", when="2025-03-01 10:00")  # recorded with an earlier clock
    ito = CustomerStats.objects.get(pk="Ito")
    assert (ito.first_order_at, ito.last_order_at) == (
        at("2025-03-01 10:00"),
        at("2025-03-02 10:00"),
    )


def test_favourite_is_most_units_then_latest_confirmed_then_lowest_id(feed):
    def favourite():
        c = CustomerStats.objects.get(pk="Ito")
        return c.favourite_product_id, c.favourite_product_name

    laptop = feed.create("Ito", LAPTOP, when="2025-03-01 09:00")
    mouse = feed.create("Ito", MOUSE, when="2025-03-01 09:00")
    assert favourite() == (None, "")  # nothing confirmed yet
    feed.confirm(laptop, when="2025-03-01 10:00")
    assert favourite() == (uid(LAPTOP), "Laptop")
    feed.confirm(mouse, when="2025-03-01 11:00")
    assert favourite() == (uid(MOUSE), "Wireless Mouse")  # 1 unit each: the latest confirmed
    feed.confirm(feed.create("Ito", LAPTOP, when="2025-03-02 09:00"), when="2025-03-02 09:01")
    assert favourite() == (uid(LAPTOP), "Laptop")  # 2 units beat 1

    same_moment = "2025-03-05 12:00"
    headset = feed.create("Kato", HEADSET, 2, when="2025-03-05 11:00")
    keyboard = feed.create("Kato", KEYBOARD, 2, when="2025-03-05 11:00")
    feed.confirm(headset, when=same_moment)
    feed.confirm(keyboard, when=same_moment)
    kato = CustomerStats.objects.get(pk="Kato")
    assert kato.favourite_product_id == uid(KEYBOARD)  # c333... sorts before e555...


def test_a_new_product_name_reaches_the_favourite_as_a_fold_of_all_events_would(feed):
    """The favourite's name is its pair's latest name whether the events came one by one
    or in one batch (a rebuild): a pending order that renames it changes no units."""
    feed.confirm(feed.create("Ito", LAPTOP, when="2025-03-01 09:00"), when="2025-03-01 09:01")
    feed.create("Ito", (LAPTOP[0], "Laptop Pro", LAPTOP[2]), when="2025-03-02 09:00")
    assert CustomerStats.objects.get(pk="Ito").favourite_product_name == "Laptop Pro"


def test_cancelled_and_pending_units_never_make_a_favourite(feed):
    feed.cancel(feed.create("Ito", LAPTOP, 5, when="2025-03-01 09:00"), when="2025-03-01 09:01")
    feed.create("Ito", MONITOR, 3, when="2025-03-01 09:02")
    feed.confirm(feed.create("Ito", MOUSE, 1, when="2025-03-01 09:03"), when="2025-03-01 09:04")
    assert CustomerStats.objects.get(pk="Ito").favourite_product_name == "Wireless Mouse"


def test_the_latest_product_name_wins(feed):
    feed.create("Ito", LAPTOP, when="2025-03-01 09:00")
    renamed = (LAPTOP[0], "Laptop Pro", LAPTOP[2])
    feed.confirm(feed.create("Ito", renamed, when="2025-03-02 09:00"), when="2025-03-02 09:01")
    assert ProductStats.objects.get(pk=uid(LAPTOP)).product_name == "Laptop Pro"
    assert CustomerStats.objects.get(pk="Ito").favourite_product_name == "Laptop Pro"
    assert ProductStats.objects.get(pk=uid(LAPTOP)).unique_customers == 1


@pytest.mark.parametrize("move", ["confirm", "cancel"])
def test_an_event_for_an_unknown_order_raises_and_changes_nothing(feed, shop, move):
    before = analytics.rows()
    with pytest.raises(UnknownOrder, match="was never created"):
        getattr(feed, move)(uuid.uuid4(), when="2025-03-04 09:00")
    assert analytics.rows() == before


def test_an_order_created_twice_raises_and_changes_nothing(feed, shop):
    before = analytics.rows()
    created = next(r for r in feed.log if r.stream_id == shop[1])
    with pytest.raises(DuplicateOrder, match="already exists"):
        apply(created)
    assert analytics.rows() == before


def test_a_repeated_status_changes_no_counter(feed, shop):
    before = {k: v for k, v in analytics.rows().items() if k != "marketing.OrderFact"}
    feed.confirm(shop[1], when="2025-03-04 09:00")
    after = {k: v for k, v in analytics.rows().items() if k != "marketing.OrderFact"}
    assert after == before


def test_counters_always_equal_a_recount_of_the_orders(feed, shop):
    # The order service never cancels a confirmed order, but if the published language ever
    # allows it (a refund), the revenue must come back out: status moves, not increments.
    feed.cancel(shop[1], "refund", when="2025-03-04 09:00")
    feed.confirm(shop[7], when="2025-03-04 09:01")
    facts = list(OrderFact.objects.all())

    def recount(key):
        totals = defaultdict(lambda: defaultdict(int))
        for f in facts:
            t = totals[key(f)]
            t["total_orders"] += 1
            t["confirmed_orders"] += f.status == "CONFIRMED"
            t["cancelled_orders"] += f.status == "CANCELLED"
            t["total_revenue"] += f.total_price if f.status == "CONFIRMED" else 0
            t["units"] += f.quantity if f.status == "CONFIRMED" else 0
        return {k: {**v} for k, v in totals.items()}

    def live(model, units_field, total_field="total_orders"):
        return {
            row.pk: {
                "total_orders": getattr(row, total_field),
                **{n: getattr(row, n) for n in COUNTERS[1:]},
                **({"units": getattr(row, units_field)} if units_field else {}),
            }
            for row in model.objects.all()
        }

    by_customer = recount(lambda f: f.customer_name)
    assert live(CustomerStats, "total_units") == by_customer
    by_product = recount(lambda f: f.product_id)
    assert live(ProductStats, "total_units_ordered", "total_order_count") == by_product
    by_day = {
        d: {k: v for k, v in t.items() if k != "units"}
        for d, t in recount(lambda f: f.sale_date).items()
    }
    assert live(DailySales, None) == by_day
    yamada = CustomerStats.objects.get(pk="Yamada")
    assert (yamada.total_revenue, yamada.favourite_product_name) == (10500, "Wireless Mouse")
    laptop = ProductStats.objects.get(pk=uid(LAPTOP))
    assert (laptop.total_revenue, laptop.confirmed_orders, laptop.cancelled_orders) == (0, 0, 2)


def test_folding_the_same_events_again_recreates_identical_rows(feed, shop):
    feed.cancel(shop[7], when="2025-03-04 09:00")
    folded_once = analytics.rows()
    analytics.clear()
    assert all(not rows for rows in analytics.rows().values())
    apply(*feed.log)
    assert analytics.rows() == folded_once


@pytest.mark.parametrize("size", [2, 3, 5])
def test_the_rows_do_not_depend_on_how_events_are_batched(feed, shop, size):
    feed.cancel(shop[7], when="2025-03-04 09:00")
    one_by_one = analytics.rows()
    analytics.clear()
    for start in range(0, len(feed.log), size):
        apply(*feed.log[start : start + size])
    assert analytics.rows() == one_by_one


def test_a_read_model_row_gone_missing_is_reported_not_recreated(feed, shop):
    DailySales.objects.filter(sale_date=date(2025, 3, 3)).delete()
    with pytest.raises(InconsistentEvent, match="DailySales row 2025-03-03 is missing"):
        feed.confirm(shop[7], when="2025-03-04 09:00")
    assert not DailySales.objects.filter(sale_date=date(2025, 3, 3)).exists()


def test_an_event_costs_a_handful_of_queries(feed, shop, django_assert_max_num_queries):
    # Rebuilds fold every order event ever recorded: each must stay a few statements when
    # its rows exist (counted with the helper's SAVEPOINT and RELEASE). A creation reads
    # its customer's favourite again: one query per batch, whatever its size.
    with django_assert_max_num_queries(9):
        order = feed.create("Yamada", MOUSE, when="2025-03-03 12:00")
    with django_assert_max_num_queries(10):
        feed.confirm(order, when="2025-03-03 12:01")


def test_a_malformed_order_event_raises_and_changes_nothing(feed, shop):
    before = analytics.rows()
    bad = OrderCreated(
        customer_name="x", product_id="p", product_name="n", quantity="lots", total_price="free"
    )
    with pytest.raises(ValidationError):
        feed.record(uuid.uuid4(), bad, at("2025-03-04 09:00"))
    assert analytics.rows() == before


def test_a_batch_large_enough_to_be_copied_folds_like_single_events(feed):
    from eventkit.rows import COPY_MIN_ROWS

    for i in range(COPY_MIN_ROWS + 10):
        order = feed.create(f"customer {i % 7}", MOUSE, when=f"2025-03-0{1 + i % 3} 10:00")
        if i % 4 == 0:
            feed.confirm(order, when=f"2025-03-0{1 + i % 3} 11:00")
    one_by_one = analytics.rows()
    analytics.clear()
    apply(*feed.log)  # one batch: the new facts are COPYed
    assert analytics.rows() == one_by_one


@pytest.mark.django_db(transaction=True)
def test_a_rebuild_with_the_order_service_down_says_so(settings):
    """Marketing folds the order service's events from its feed: a rebuild while it is
    stopped is a clear command error, not a traceback."""
    from django.core.management import CommandError, call_command

    sources = settings.EVENTKIT["CONSUMER"]["SOURCES"]
    down = {"order-service": {**sources["order-service"], "url": "http://127.0.0.1:9"}}
    settings.EVENTKIT = {
        **settings.EVENTKIT,
        "CONSUMER": {**settings.EVENTKIT["CONSUMER"], "SOURCES": down},
    }
    with pytest.raises(CommandError, match="order-service's event feed, which did not answer"):
        call_command("rebuild_projections", "--no-progress")


@pytest.mark.django_db(transaction=True)
def test_a_rebuild_from_another_services_feed_changes_nothing_and_says_so(settings):
    """Found from outside: ORDER_SERVICE_URL one digit off (the inventory service) gave
    'rebuilt' and a blank marketing, and its worker then blamed the order service."""
    from django.core.management import CommandError, call_command

    from eventkit.tests.fake_feed import fake_feed

    feed = open_shop(OrderFeed())  # what marketing shows before
    before = analytics.rows()
    stock_added = {
        "position": 1,
        "event_id": str(uuid.uuid4()),
        "aggregate_id": str(uuid.uuid4()),
        "aggregate_type": "Product",
        "version": 1,
        "event_type": "StockAdded",
        "event_data": {"quantity": 30},
        "metadata": {"service": "inventory-service"},
        "created_at": "2026-12-07T00:00:00Z",
    }

    sources = settings.EVENTKIT["CONSUMER"]["SOURCES"]
    with fake_feed([stock_added], {"X-Last-Position": "1"}) as inventory:
        wrong = {"order-service": {**sources["order-service"], "url": inventory.url}}
        settings.EVENTKIT = {
            **settings.EVENTKIT,
            "CONSUMER": {**settings.EVENTKIT["CONSUMER"], "SOURCES": wrong},
        }
        with pytest.raises(CommandError, match="serves inventory-service's events"):
            call_command("rebuild_projections", "--no-progress")
    assert feed and analytics.rows() == before


def test_counters_go_past_2_31(shop, feed):
    """A product ordered at 65 orders/s passes 2**31 orders in about a year; a 32-bit
    counter then failed every later event of it, and the worker stopped (found in review)."""
    many = 2**31 - 1
    ProductStats.objects.filter(product_id=uid(LAPTOP)).update(
        total_order_count=many, confirmed_orders=many
    )
    CustomerStats.objects.filter(customer_name="Yamada").update(
        total_orders=many, confirmed_orders=many
    )
    CustomerProduct.objects.filter(pk=customer_product_key("Yamada", uid(LAPTOP))).update(
        orders=many, confirmed_orders=many
    )
    order_id = feed.create("Yamada", LAPTOP, 1, when="2025-03-04 09:00")
    feed.confirm(order_id, when="2025-03-04 09:01")
    laptop = ProductStats.objects.get(product_id=uid(LAPTOP))
    assert (laptop.total_order_count, laptop.confirmed_orders) == (2**31, 2**31)
    assert CustomerStats.objects.get(customer_name="Yamada").total_orders == 2**31
