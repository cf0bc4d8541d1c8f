"""Input and output shapes of the order API."""

from rest_framework import serializers

from orders.models import OrderView
from servicekit.api import CommandInput, PageQuery
from servicekit.fields import (
    IdField,
    NameField,
    NameQueryField,
    QuantityField,
    TextField,
    YenField,
)

# What the API shows of an order (the list, the detail and every command's answer).
ORDER_FIELDS = [
    "id",
    "customer_name",
    "product_id",
    "product_name",
    "quantity",
    "total_price",
    "status",
    "cancel_reason",
    "version",
    "created_at",
    "updated_at",
]


class OrderSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderView
        fields = ORDER_FIELDS


class CreateOrderInput(CommandInput):
    order_id = IdField(
        required=False, help_text="Client-chosen id; the same id again returns the same order."
    )
    customer_name = NameField()
    product_id = IdField()
    product_name = NameField()
    quantity = QuantityField()
    total_price = YenField()


class ConfirmOrderInput(CommandInput):
    pass


class CancelOrderInput(CommandInput):
    reason = TextField(required=False, allow_blank=True, max_length=500, default="cancelled")


class OrderCounts(serializers.Serializer):
    """Orders by status, and in all, counted at one moment."""

    PENDING = serializers.IntegerField()
    CONFIRMED = serializers.IntegerField()
    CANCELLED = serializers.IntegerField()
    TOTAL = serializers.IntegerField()


class OrderQuery(PageQuery):
    status = serializers.ChoiceField(choices=OrderView.Status.choices, required=False)
    customer = NameQueryField(required=False, help_text="exact customer name")
