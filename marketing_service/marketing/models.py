"""Marketing's read models, written only by ``marketing.projections``.

Every primary key is derived from the events (an order id, a customer name, a product id, a
date, or a uuid5 of a natural key), never from a sequence, so folding the same events into
empty tables recreates the very same rows: that is what a rebuild and its check rely on.

Rules the numbers follow:

- An order counts in ``total_orders`` when it is created, whatever happens to it later.
- Revenue and units count only while an order is CONFIRMED.
- Everything about an order is booked on its ``sale_date``: the UTC date it was created,
  also when it is confirmed or cancelled on a later day.
"""

import uuid

from django.db import models

# Namespace of CustomerProduct keys; changing it changes every key (a rebuild would follow).
CUSTOMER_PRODUCT_NAMESPACE = uuid.UUID("6f1d2a4e-0c57-5b8e-9a43-4d2f0e6b7c11")


def customer_product_key(customer_name: str, product_id) -> uuid.UUID:
    # The product id has a fixed shape, so "<product>/<customer>" cannot be ambiguous.
    return uuid.uuid5(CUSTOMER_PRODUCT_NAMESPACE, f"{uuid.UUID(str(product_id))}/{customer_name}")


def average(total: int, count: int) -> float:
    """Yen per order, to the sen; 0 when there is nothing to divide by."""
    return round(total / count, 2) if count else 0.0


class OrderFact(models.Model):
    """One row per order: what the later events (which carry no data) need to know."""

    class Status(models.TextChoices):
        PENDING = "PENDING"
        CONFIRMED = "CONFIRMED"
        CANCELLED = "CANCELLED"

    id = models.UUIDField(primary_key=True, help_text="the order id (the event stream id)")
    customer_name = models.CharField(max_length=200)
    product_id = models.UUIDField()
    product_name = models.CharField(max_length=200)
    quantity = models.IntegerField()
    total_price = models.BigIntegerField(help_text="yen")
    status = models.CharField(max_length=10, choices=Status.choices)
    cancel_reason = models.CharField(max_length=500, blank=True, default="")
    sale_date = models.DateField(help_text="UTC date of creation")
    version = models.PositiveIntegerField(help_text="order events folded into this row")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "order"
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="fact_newest"),
            models.Index(fields=["customer_name", "-created_at"], name="fact_customer_newest"),
            models.Index(fields=["product_id", "-created_at"], name="fact_product_newest"),
            models.Index(fields=["sale_date"], name="fact_sale_date"),
        ]

    def __str__(self):
        return f"{self.customer_name}: {self.quantity} x {self.product_name} ({self.status})"


class CustomerStats(models.Model):
    """A customer's lifetime numbers.

    ``favourite_product`` is the product of which the customer has the most CONFIRMED units;
    a tie goes to the product confirmed most recently, then to the lowest product id. It is
    empty until the customer has a confirmed order.
    """

    customer_name = models.CharField(max_length=200, primary_key=True)
    total_orders = models.PositiveBigIntegerField(default=0)
    confirmed_orders = models.PositiveBigIntegerField(default=0)
    cancelled_orders = models.PositiveBigIntegerField(default=0)
    total_revenue = models.BigIntegerField(default=0, help_text="yen, confirmed orders")
    total_units = models.BigIntegerField(default=0, help_text="units of confirmed orders")
    first_order_at = models.DateTimeField()
    last_order_at = models.DateTimeField()
    favourite_product_id = models.UUIDField(null=True, blank=True)
    favourite_product_name = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["-total_revenue", "customer_name"]
        verbose_name = "customer"
        verbose_name_plural = "customers"
        indexes = [
            models.Index(fields=["-total_revenue", "customer_name"], name="customer_by_revenue"),
        ]

    def __str__(self):
        return self.customer_name

    @property
    def avg_order_value(self) -> float:
        return average(self.total_revenue, self.confirmed_orders)


class ProductStats(models.Model):
    """A product's numbers; ``unique_customers`` counts everyone who ordered it at all
    (in any status), ``total_units_ordered`` and ``total_revenue`` only confirmed orders."""

    product_id = models.UUIDField(primary_key=True)
    product_name = models.CharField(max_length=200, help_text="as in its latest order")
    total_order_count = models.PositiveBigIntegerField(default=0)
    confirmed_orders = models.PositiveBigIntegerField(default=0)
    cancelled_orders = models.PositiveBigIntegerField(default=0)
    total_units_ordered = models.BigIntegerField(default=0, help_text="units of confirmed orders")
    total_revenue = models.BigIntegerField(default=0, help_text="yen, confirmed orders")
    unique_customers = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-total_revenue", "product_name", "product_id"]
        verbose_name = "product"
        verbose_name_plural = "products"
        indexes = [
            models.Index(
                fields=["-total_revenue", "product_name", "product_id"], name="product_by_revenue"
            ),
        ]

    def __str__(self):
        return self.product_name


class CustomerProduct(models.Model):
    """What one customer ordered of one product: the basis of ``unique_customers`` and of
    the favourite product."""

    id = models.UUIDField(primary_key=True, help_text="uuid5 of (product id, customer name)")
    customer_name = models.CharField(max_length=200)
    product_id = models.UUIDField()
    product_name = models.CharField(max_length=200, help_text="as in the latest order")
    orders = models.PositiveBigIntegerField(default=0, help_text="all orders, any status")
    confirmed_orders = models.PositiveBigIntegerField(default=0)
    confirmed_units = models.BigIntegerField(default=0)
    last_confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["customer_name", "product_id"]
        verbose_name = "customer product"
        verbose_name_plural = "customer products"
        constraints = [
            models.UniqueConstraint(
                fields=["customer_name", "product_id"], name="customer_product_once"
            ),
        ]

    def __str__(self):
        return f"{self.customer_name}: {self.product_name}"


class DailySales(models.Model):
    """One row per UTC day on which orders were created (see the module doc on dates)."""

    sale_date = models.DateField(primary_key=True)
    total_orders = models.PositiveBigIntegerField(default=0)
    confirmed_orders = models.PositiveBigIntegerField(default=0)
    cancelled_orders = models.PositiveBigIntegerField(default=0)
    total_revenue = models.BigIntegerField(default=0, help_text="yen, confirmed orders")

    class Meta:
        ordering = ["-sale_date"]
        verbose_name = "day"
        verbose_name_plural = "daily sales"

    def __str__(self):
        return self.sale_date.isoformat()

    @property
    def avg_order_value(self) -> float:
        return average(self.total_revenue, self.confirmed_orders)
