"""Reads of the marketing read models: what the query API answers."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db.models import Case, F, FloatField, Sum, Value, When
from django.db.models.functions import Cast, Coalesce

from eventkit.snapshots import read_page, snapshot
from marketing.models import CustomerStats, DailySales, ProductStats, average

TOP = 5
RECENT_DAYS = 7


@dataclass(frozen=True)
class Summary:
    total_revenue: int
    total_customers: int
    total_product_types: int
    total_orders: int
    confirmed_orders: int
    cancelled_orders: int

    @property
    def conversion_rate(self) -> float:
        """Confirmed orders per created order, 0 when there are none."""
        return round(self.confirmed_orders / self.total_orders, 4) if self.total_orders else 0.0

    @property
    def avg_order_value(self) -> float:
        return average(self.total_revenue, self.confirmed_orders)


@dataclass(frozen=True)
class Overview:
    summary: Summary
    top_customers: list[CustomerStats]
    top_products: list[ProductStats]
    recent_daily_sales: list[DailySales]


def summary() -> Summary:
    # The day table is the smallest that holds every order exactly once.
    totals = DailySales.objects.aggregate(
        **{
            name: Coalesce(Sum(name), 0)
            for name in ("total_revenue", "total_orders", "confirmed_orders", "cancelled_orders")
        }
    )
    return Summary(
        total_customers=CustomerStats.objects.count(),
        total_product_types=ProductStats.objects.count(),
        # PostgreSQL sums a bigint column as numeric: back to int.
        **{name: int(value) for name, value in totals.items()},
    )


def overview() -> Overview:
    """Totals, the top five customers and products by revenue, the seven latest sales days,
    all from one snapshot: the totals add up to what the lists show."""
    with snapshot():
        return Overview(
            summary=summary(),
            top_customers=customer_list(limit=TOP, offset=0)[0],
            top_products=product_list(limit=TOP, offset=0)[0],
            recent_daily_sales=daily_sales(limit=RECENT_DAYS, offset=0)[0],
        )


def customer_list(
    *, limit: int, offset: int, ordering: str = "-total_revenue"
) -> tuple[list[CustomerStats], int]:
    """Customers sorted by ``ordering`` (a column, ``-`` first for descending), then by name,
    so that pages never overlap."""
    customers = CustomerStats.objects.annotate(average_order=_AVERAGE_ORDER_VALUE)
    descending, column = ordering.startswith("-"), ordering.lstrip("-")
    key = F(_SORT_KEYS.get(column, column))
    customers = customers.order_by(key.desc() if descending else key.asc(), "customer_name")
    return read_page(customers, limit=limit, offset=offset)


# CustomerStats.avg_order_value in SQL, to sort by (a model property, so not its name)
_SORT_KEYS = {"avg_order_value": "average_order"}
_AVERAGE_ORDER_VALUE = Case(
    When(confirmed_orders=0, then=Value(0.0)),
    default=Cast("total_revenue", FloatField()) / F("confirmed_orders"),
)


def product_list(*, limit: int, offset: int) -> tuple[list[ProductStats], int]:
    products = ProductStats.objects.order_by("-total_revenue", "product_name", "product_id")
    return read_page(products, limit=limit, offset=offset)


def daily_sales(
    *, days: int | None = None, limit: int, offset: int, today: date | None = None
) -> tuple[list[DailySales], int]:
    """Days with orders, newest first; with ``days``, only the last ``days`` UTC days
    (today included)."""
    sales = DailySales.objects.order_by("-sale_date")
    if days is not None:
        today = today or datetime.now(UTC).date()
        sales = sales.filter(sale_date__gt=today - timedelta(days=days))
    return read_page(sales, limit=limit, offset=offset)
