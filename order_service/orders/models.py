"""The order read model, written only by ``orders.projections``."""

from django.db import models


class OrderView(models.Model):
    class Status(models.TextChoices):
        PENDING = "PENDING"
        CONFIRMED = "CONFIRMED"
        CANCELLED = "CANCELLED"

    id = models.UUIDField(primary_key=True)
    customer_name = models.CharField(max_length=200)
    product_id = models.UUIDField()
    product_name = models.CharField(max_length=200)
    quantity = models.IntegerField()
    total_price = models.BigIntegerField(help_text="yen")
    status = models.CharField(max_length=10, choices=Status.choices)
    cancel_reason = models.CharField(max_length=500, blank=True, default="")
    version = models.PositiveIntegerField(help_text="events folded into this row")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "orders_order"
        ordering = ["-created_at", "-id"]
        verbose_name = "order"
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="order_newest"),
            models.Index(fields=["status", "-created_at"], name="order_status_newest"),
            models.Index(fields=["customer_name", "-created_at"], name="order_customer_newest"),
        ]

    def __str__(self):
        return f"{self.customer_name}: {self.quantity} x {self.product_name} ({self.status})"
