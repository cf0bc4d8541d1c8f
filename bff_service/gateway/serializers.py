"""Input shapes of the BFF API (outputs are the services' own shapes, documented there)."""

from rest_framework import serializers

from contracts.sagas import FAULT_MODES
from gateway.services import MAX_EVENT_WINDOW
from servicekit.api import CommandInput, PageQuery
from servicekit.fields import (
    MAX_OFFSET,
    IdField,
    NameField,
    NameQueryField,
    QuantityField,
)

STEPS = ("CreateOrder", "ReserveInventory", "ConfirmOrder")


class PlaceOrderInput(CommandInput):
    customer_name = NameField()
    product_id = IdField()
    quantity = QuantityField()
    faults = serializers.DictField(
        child=serializers.ChoiceField(choices=FAULT_MODES),
        required=False,
        help_text="Demo fault injection, passed to the saga (works only with SAGA_FAULTS=1): "
        '{"ReserveInventory": "fail" | "timeout" | "crash_after"}.',
    )

    def validate_faults(self, value):
        unknown = set(value) - set(STEPS)
        if unknown:
            raise serializers.ValidationError(f"unknown step(s) {sorted(unknown)}")
        return value


class OrderQuery(PageQuery):
    status = serializers.ChoiceField(choices=["PENDING", "CONFIRMED", "CANCELLED"], required=False)
    customer = NameQueryField(required=False)


class SagaQuery(PageQuery):
    status = serializers.ChoiceField(
        choices=["RUNNING", "COMPENSATING", "COMPLETED", "COMPENSATED", "FAILED"], required=False
    )


class EventsQuery(PageQuery):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=200, default=50)
    # Any offset inside the window of the newest events; a page that runs past its end is
    # cut there.
    offset = serializers.IntegerField(
        required=False, min_value=0, max_value=MAX_EVENT_WINDOW - 1, default=0
    )
    service = serializers.ChoiceField(
        choices=["order-service", "inventory-service", "saga-service"], required=False
    )
    type = serializers.CharField(required=False, max_length=100, help_text="event type")
    aggregate = serializers.UUIDField(required=False, help_text="aggregate id")


class MarketingPageQuery(serializers.Serializer):
    """A page of one of the marketing lists. Each parameter is passed on only when given,
    so that the marketing service's own defaults apply; what a view does not take is not
    looked at, as the marketing service itself does not look at it."""

    limit = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=500,
        help_text="page size; the marketing service's default: 100 (366 for daily)",
    )
    offset = serializers.IntegerField(
        required=False, min_value=0, max_value=MAX_OFFSET, help_text="rows to skip"
    )


class MarketingCustomersQuery(MarketingPageQuery):
    ordering = serializers.CharField(
        required=False,
        max_length=40,
        help_text="the column to sort by (`customer_name`, `total_orders`, "
        "`confirmed_orders`, `cancelled_orders`, `total_revenue`, `avg_order_value`), `-` "
        "first for descending; the marketing service checks it",
    )


class MarketingDailyQuery(MarketingPageQuery):
    days = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=366,
        help_text="the last n UTC days, today included",
    )
