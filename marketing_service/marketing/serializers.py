"""Output shapes of the marketing API (the seed's field names, plus a few of ours) and its
query parameters."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from marketing.models import CustomerStats, DailySales, ProductStats
from servicekit.api import PageQuery

# The seed's customer columns: what its table showed, and what a client may sort by.
CUSTOMER_COLUMNS = (
    "customer_name",
    "total_orders",
    "confirmed_orders",
    "cancelled_orders",
    "total_revenue",
    "avg_order_value",
)


class CustomerSerializer(serializers.ModelSerializer):
    avg_order_value = serializers.FloatField(read_only=True, help_text="yen per confirmed order")
    favourite_product_name = serializers.SerializerMethodField()

    class Meta:
        model = CustomerStats
        fields = [
            *CUSTOMER_COLUMNS,
            "total_units",
            "first_order_at",
            "last_order_at",
            "favourite_product_id",
            "favourite_product_name",
        ]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_favourite_product_name(self, customer) -> str | None:
        return customer.favourite_product_name if customer.favourite_product_id else None


class ProductStatsSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProductStats
        fields = [
            "product_id",
            "product_name",
            "total_order_count",
            "confirmed_orders",
            "cancelled_orders",
            "total_units_ordered",
            "total_revenue",
            "unique_customers",
        ]


class DailySalesSerializer(serializers.ModelSerializer):
    avg_order_value = serializers.FloatField(read_only=True, help_text="yen per confirmed order")

    class Meta:
        model = DailySales
        fields = [
            "sale_date",
            "total_orders",
            "confirmed_orders",
            "cancelled_orders",
            "total_revenue",
            "avg_order_value",
        ]


class SummarySerializer(serializers.Serializer):
    total_revenue = serializers.IntegerField(help_text="yen, confirmed orders")
    total_customers = serializers.IntegerField()
    total_product_types = serializers.IntegerField(help_text="distinct products ever ordered")
    total_orders = serializers.IntegerField()
    confirmed_orders = serializers.IntegerField()
    cancelled_orders = serializers.IntegerField()
    conversion_rate = serializers.FloatField(help_text="confirmed / total orders, 4 decimals")
    avg_order_value = serializers.FloatField(help_text="yen per confirmed order")


class OverviewSerializer(serializers.Serializer):
    summary = SummarySerializer()
    top_customers = CustomerSerializer(many=True)
    top_products = ProductStatsSerializer(many=True)
    recent_daily_sales = DailySalesSerializer(many=True)


class CustomerQuery(PageQuery):
    ordering = serializers.ChoiceField(
        choices=[f"{sign}{column}" for column in CUSTOMER_COLUMNS for sign in ("", "-")],
        required=False,
        default="-total_revenue",
        help_text="sort column, `-` first for descending; ties go by name",
    )


class DailyQuery(PageQuery):
    limit = serializers.IntegerField(
        required=False, min_value=1, max_value=500, default=366, help_text="page size"
    )
    days = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=366,
        help_text="only the last n UTC days, today included",
    )
