"""Admin pages for the marketing read models: read-only, because only the projection of
order events writes them (``rebuild_projections`` recomputes them from the order log)."""

from django.contrib import admin

from eventkit.admin import ReadOnlyAdmin
from marketing.models import CustomerProduct, CustomerStats, DailySales, OrderFact, ProductStats


class ReadModelAdmin(ReadOnlyAdmin):
    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


@admin.register(OrderFact)
class OrderFactAdmin(ReadModelAdmin):
    list_display = (
        "id",
        "customer_name",
        "product_name",
        "quantity",
        "total_price",
        "status",
        "sale_date",
        "updated_at",
    )
    list_filter = ("status", "sale_date", "product_name")
    search_fields = ("=id", "customer_name", "product_name", "=product_id")
    date_hierarchy = "created_at"


@admin.register(CustomerStats)
class CustomerStatsAdmin(ReadModelAdmin):
    list_display = (
        "customer_name",
        "total_orders",
        "confirmed_orders",
        "cancelled_orders",
        "total_revenue",
        "total_units",
        "favourite_product_name",
        "last_order_at",
    )
    search_fields = ("customer_name", "favourite_product_name")
    list_filter = ("favourite_product_name",)
    date_hierarchy = "last_order_at"


@admin.register(ProductStats)
class ProductStatsAdmin(ReadModelAdmin):
    list_display = (
        "product_name",
        "product_id",
        "total_order_count",
        "confirmed_orders",
        "cancelled_orders",
        "total_units_ordered",
        "total_revenue",
        "unique_customers",
    )
    search_fields = ("product_name", "=product_id")


@admin.register(CustomerProduct)
class CustomerProductAdmin(ReadModelAdmin):
    list_display = (
        "customer_name",
        "product_name",
        "orders",
        "confirmed_orders",
        "confirmed_units",
        "last_confirmed_at",
    )
    list_filter = ("product_name",)
    search_fields = ("customer_name", "product_name", "=product_id")


@admin.register(DailySales)
class DailySalesAdmin(ReadModelAdmin):
    list_display = (
        "sale_date",
        "total_orders",
        "confirmed_orders",
        "cancelled_orders",
        "total_revenue",
    )
    date_hierarchy = "sale_date"
