"""Read models of the inventory, written only by ``inventory.projections``.

``ProductView``   the catalog with stock levels, what ``/queries/products`` serves.
``Reservation``   the ledger of which order holds how much of which product; the reserve
                  and release commands read it (under the product's stream lock).
"""

import uuid

from django.db import models

RESERVATION_NAMESPACE = uuid.UUID("6f1b7f4e-8a57-4c43-9d0e-1c2f3f8f5a10")


def reservation_id(product_id, order_id) -> uuid.UUID:
    # Deterministic, so a rebuild recreates every row under the same key.
    return uuid.uuid5(RESERVATION_NAMESPACE, f"{product_id}:{order_id}")


class ProductView(models.Model):
    id = models.UUIDField(primary_key=True)
    product_name = models.CharField(max_length=200)
    price = models.BigIntegerField(help_text="yen")
    quantity = models.BigIntegerField(default=0, help_text="units on hand")
    reserved = models.BigIntegerField(default=0, help_text="units held for orders")
    available = models.BigIntegerField(default=0, help_text="quantity - reserved")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "inventory_product"
        ordering = ["product_name"]
        verbose_name = "product"

    def __str__(self):
        return self.product_name


class Reservation(models.Model):
    class Status(models.TextChoices):
        RESERVED = "RESERVED"
        RELEASED = "RELEASED"
        VOIDED = "VOIDED"

    id = models.UUIDField(primary_key=True)
    product_id = models.UUIDField()
    order_id = models.UUIDField()
    quantity = models.IntegerField()
    status = models.CharField(max_length=10, choices=Status.choices)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "inventory_reservation"
        constraints = [
            models.UniqueConstraint(fields=["product_id", "order_id"], name="one_per_order")
        ]
        indexes = [models.Index(fields=["order_id"], name="reservation_order")]

    def __str__(self):
        return f"{self.order_id}: {self.quantity} ({self.status})"
