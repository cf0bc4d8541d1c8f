"""The query API in-process: the seed's wire shapes, the numbers, ordering, paging, errors."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User

from marketing.tests.helpers import HEADSET, KEYBOARD, LAPTOP, MONITOR, MOUSE

pytestmark = pytest.mark.django_db

CUSTOMER_FIELDS = {
    "customer_name",
    "total_orders",
    "confirmed_orders",
    "cancelled_orders",
    "total_revenue",
    "avg_order_value",
    "total_units",
    "first_order_at",
    "last_order_at",
    "favourite_product_id",
    "favourite_product_name",
}
PRODUCT_FIELDS = {
    "product_id",
    "product_name",
    "total_order_count",
    "confirmed_orders",
    "cancelled_orders",
    "total_units_ordered",
    "total_revenue",
    "unique_customers",
}
DAY_FIELDS = {
    "sale_date",
    "total_orders",
    "confirmed_orders",
    "cancelled_orders",
    "total_revenue",
    "avg_order_value",
}


def get(api, path, **params):
    response = api.get(f"/queries/marketing/{path}", params)
    assert response.status_code == 200, response.content
    return response


def test_overview_of_the_shop(api, shop):
    overview = get(api, "overview").json()
    assert set(overview) == {"summary", "top_customers", "top_products", "recent_daily_sales"}
    assert overview["summary"] == {
        "total_revenue": 218300,
        "total_customers": 4,
        "total_product_types": 5,
        "total_orders": 8,
        "confirmed_orders": 5,
        "cancelled_orders": 2,
        "conversion_rate": 0.625,
        "avg_order_value": 43660.0,
    }
    assert [c["customer_name"] for c in overview["top_customers"]] == [
        "Yamada",
        "Sato",
        "Suzuki",
        "Tanaka",
    ]
    assert all(set(c) == CUSTOMER_FIELDS for c in overview["top_customers"])
    assert [p["product_name"] for p in overview["top_products"]] == [
        "Laptop",
        "4K Monitor",
        "USB Keyboard",
        "Headset",
        "Wireless Mouse",
    ]
    assert all(set(p) == PRODUCT_FIELDS for p in overview["top_products"])
    assert [d["sale_date"] for d in overview["recent_daily_sales"]] == [
        "2025-03-03",
        "2025-03-02",
        "2025-03-01",
    ]
    assert all(set(d) == DAY_FIELDS for d in overview["recent_daily_sales"])


def test_overview_of_an_empty_shop_is_zeros(api):
    assert get(api, "overview").json() == {
        "summary": {
            "total_revenue": 0,
            "total_customers": 0,
            "total_product_types": 0,
            "total_orders": 0,
            "confirmed_orders": 0,
            "cancelled_orders": 0,
            "conversion_rate": 0.0,
            "avg_order_value": 0.0,
        },
        "top_customers": [],
        "top_products": [],
        "recent_daily_sales": [],
    }


def test_overview_keeps_the_top_five_and_seven_latest_days_and_rounds(api, feed):
    products = [LAPTOP, MOUSE, KEYBOARD, MONITOR, HEADSET]
    for day in range(1, 10):
        order = feed.create(f"c{day}", products[day % 5], when=f"2025-04-{day:02} 12:00")
        if day % 3:
            feed.confirm(order, when=f"2025-04-{day:02} 12:01")
    overview = get(api, "overview").json()
    assert len(overview["top_customers"]) == 5 and len(overview["top_products"]) == 5
    days = [d["sale_date"] for d in overview["recent_daily_sales"]]
    assert days == [f"2025-04-{day:02}" for day in range(9, 2, -1)]
    summary = overview["summary"]
    assert (summary["total_orders"], summary["confirmed_orders"]) == (9, 6)
    assert summary["conversion_rate"] == 0.6667
    # Confirmed: days 1, 2, 4, 5, 7, 8 -> mouse, keyboard, headset, laptop, keyboard, monitor.
    revenue = 3500 + 5800 + 8900 + 120000 + 5800 + 65000
    assert summary["total_revenue"] == revenue
    assert summary["avg_order_value"] == round(revenue / 6, 2) == 34833.33


def test_customers_by_revenue_with_their_numbers(api, shop):
    response = get(api, "customers")
    assert response["X-Total-Count"] == "4"
    customers = response.json()
    assert [c["customer_name"] for c in customers] == ["Yamada", "Sato", "Suzuki", "Tanaka"]
    assert customers[0] == {
        "customer_name": "Yamada",
        "total_orders": 3,
        "confirmed_orders": 2,
        "cancelled_orders": 0,
        "total_revenue": 127000,
        "avg_order_value": 63500.0,
        "total_units": 3,
        "first_order_at": "2025-03-01T09:00:00Z",
        "last_order_at": "2025-03-03T10:00:00Z",
        "favourite_product_id": MOUSE[0],
        "favourite_product_name": "Wireless Mouse",
    }
    suzuki = customers[2]
    assert (suzuki["total_orders"], suzuki["cancelled_orders"], suzuki["avg_order_value"]) == (
        2,
        1,
        17400.0,
    )


def test_customers_without_a_confirmed_order_have_no_favourite(api, feed):
    feed.create("Ito", LAPTOP, when="2025-03-01 09:00")
    (ito,) = get(api, "customers").json()
    assert (ito["favourite_product_id"], ito["favourite_product_name"]) == (None, None)
    assert (ito["total_revenue"], ito["avg_order_value"]) == (0, 0.0)


def test_customers_tie_on_revenue_by_name_and_page(api, feed):
    for name in ("Mori", "Abe", "Kudo"):
        feed.confirm(feed.create(name, MOUSE, when="2025-03-01 09:00"), when="2025-03-01 09:01")
    feed.create("Zen", LAPTOP, when="2025-03-01 09:00")
    names = [c["customer_name"] for c in get(api, "customers").json()]
    assert names == ["Abe", "Kudo", "Mori", "Zen"]
    paged = get(api, "customers", limit=2, offset=1)
    assert paged["X-Total-Count"] == "4"
    assert [c["customer_name"] for c in paged.json()] == ["Kudo", "Mori"]


@pytest.mark.parametrize(
    ("ordering", "names"),
    [
        ("customer_name", ["Sato", "Suzuki", "Tanaka", "Yamada"]),
        ("-customer_name", ["Yamada", "Tanaka", "Suzuki", "Sato"]),
        ("-avg_order_value", ["Sato", "Yamada", "Suzuki", "Tanaka"]),  # 65,000 > 63,500
        ("avg_order_value", ["Tanaka", "Suzuki", "Yamada", "Sato"]),
        ("total_revenue", ["Tanaka", "Suzuki", "Sato", "Yamada"]),
    ],
)
def test_customers_sorted_by_a_column(api, shop, ordering, names):
    response = get(api, "customers", ordering=ordering)
    assert [c["customer_name"] for c in response.json()] == names


def test_customers_sorted_by_a_column_tie_by_name_across_pages(api, shop):
    """Orders are counts that many customers share; the pages must still not overlap."""
    pages = [get(api, "customers", ordering="-total_orders", limit=1, offset=n) for n in range(4)]
    names = [c["customer_name"] for page in pages for c in page.json()]
    everyone = get(api, "customers", ordering="-total_orders").json()
    assert names == [c["customer_name"] for c in everyone] and len(set(names)) == 4
    counts = [c["total_orders"] for c in everyone]
    assert counts == sorted(counts, reverse=True)


def test_an_unknown_customer_ordering_is_400(api, shop):
    response = api.get("/queries/marketing/customers", {"ordering": "favourite_product_id"})
    assert response.status_code == 400 and "ordering" in response.json()["errors"]


def test_products_by_revenue_with_their_numbers(api, shop):
    response = get(api, "products")
    assert response["X-Total-Count"] == "5"
    products = response.json()
    assert [p["product_id"] for p in products] == [
        LAPTOP[0],
        MONITOR[0],
        KEYBOARD[0],
        HEADSET[0],
        MOUSE[0],
    ]
    assert products[0] == {
        "product_id": LAPTOP[0],
        "product_name": "Laptop",
        "total_order_count": 2,
        "confirmed_orders": 1,
        "cancelled_orders": 1,
        "total_units_ordered": 1,
        "total_revenue": 120000,
        "unique_customers": 2,
    }
    mouse = products[-1]
    assert (mouse["total_order_count"], mouse["total_units_ordered"]) == (3, 2)
    assert (mouse["total_revenue"], mouse["unique_customers"]) == (7000, 2)
    assert [p["product_name"] for p in get(api, "products", limit=1, offset=4).json()] == [
        "Wireless Mouse"
    ]


def test_daily_newest_first_with_their_numbers(api, shop):
    response = get(api, "daily")
    assert response["X-Total-Count"] == "3"
    assert response.json() == [
        {
            "sale_date": "2025-03-03",
            "total_orders": 3,
            "confirmed_orders": 2,
            "cancelled_orders": 0,
            "total_revenue": 26300,
            "avg_order_value": 13150.0,
        },
        {
            "sale_date": "2025-03-02",
            "total_orders": 2,
            "confirmed_orders": 0,
            "cancelled_orders": 2,
            "total_revenue": 0,
            "avg_order_value": 0.0,
        },
        {
            "sale_date": "2025-03-01",
            "total_orders": 3,
            "confirmed_orders": 3,
            "cancelled_orders": 0,
            "total_revenue": 192000,
            "avg_order_value": 64000.0,
        },
    ]


def test_daily_days_counts_back_from_today_utc(api, feed):
    today = datetime.now(UTC).replace(hour=0, minute=0, second=1, microsecond=0)
    for back in (0, 1, 6, 7, 30):
        feed.create("Ito", when=today - timedelta(days=back))

    def dates(**params):
        return [d["sale_date"] for d in get(api, "daily", **params).json()]

    expected = [(today - timedelta(days=back)).date().isoformat() for back in (0, 1, 6, 7, 30)]
    assert dates(days=1) == expected[:1]
    assert dates(days=7) == expected[:3]
    assert dates(days=8) == expected[:4]
    assert dates() == expected
    assert get(api, "daily", days=7)["X-Total-Count"] == "3"
    assert dates(limit=2, offset=1) == expected[1:3]


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("customers", {"limit": "0"}),
        ("customers", {"limit": "501"}),
        ("customers", {"offset": "-1"}),
        ("customers", {"offset": "x"}),
        ("customers", {"offset": str(2**63)}),  # past the database's bigint: was a 500
        ("products", {"limit": "many"}),
        ("daily", {"days": "0"}),
        ("daily", {"days": "367"}),
        ("daily", {"days": "week"}),
        ("daily", {"limit": "0"}),
    ],
)
def test_bad_query_parameters_are_400_json(api, path, query):
    response = api.get(f"/queries/marketing/{path}", query)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and set(body["errors"]) == set(query)


def test_unknown_paths_are_404_json_and_queries_are_read_only(api):
    missing = api.get("/queries/marketing/nothing")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert api.post("/queries/marketing/overview", {}, format="json").status_code == 405


def test_the_consumer_reads_order_events_into_the_marketing_group(settings):
    consumer = settings.EVENTKIT["CONSUMER"]
    assert consumer["GROUP"] == "marketing"
    assert consumer["SOURCES"] == {
        "order-service": {"stream": "events.order", "url": settings.ORDER_SERVICE_URL}
    }


def test_health_schema_and_no_event_feed(api):
    assert api.get("/health").json()["service"] == "marketing-service"
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = set(schema.json()["paths"])
    assert {f"/queries/marketing/{p}" for p in ("overview", "customers", "products", "daily")} <= (
        paths
    )
    assert api.get("/events").status_code == 404  # marketing records no events of its own


@pytest.fixture
def staff(client):
    user = User.objects.create_superuser("admin", "a@example.com", "pw")
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("model", "text"),
    [
        ("orderfact", b"Yamada"),
        ("customerstats", b"Wireless Mouse"),
        ("productstats", b"4K Monitor"),
        ("customerproduct", b"Suzuki"),
        ("dailysales", b"192000"),
    ],
)
def test_admin_lists_every_table_read_only(staff, shop, model, text):
    listing = staff.get(f"/admin/marketing/{model}/")
    assert listing.status_code == 200 and text in listing.content
    assert staff.get(f"/admin/marketing/{model}/add/").status_code == 403


def test_admin_detail_pages_render_without_a_save_button(staff, shop):
    detail = staff.get(f"/admin/marketing/orderfact/{shop[1]}/change/")
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    assert staff.get("/admin/marketing/customerstats/Yamada/change/").status_code == 200
    assert staff.get("/admin/marketing/dailysales/2025-03-01/change/").status_code == 200
    searched = staff.get("/admin/marketing/customerstats/", {"q": "Sato"})
    assert b"Sato" in searched.content and b"Tanaka" not in searched.content


def test_admin_shows_checkpoints_and_dead_letters_but_no_event_store_tables(staff):
    # Marketing records no events of its own: those tables would always be empty here.
    for model in ("event", "stream", "commandrecord", "relaycursor"):
        assert staff.get(f"/admin/eventkit/{model}/").status_code == 404
    for model in ("checkpoint", "deadletter"):
        assert staff.get(f"/admin/eventkit/{model}/").status_code == 200
