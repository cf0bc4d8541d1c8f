"""Admin pages for the order read model (read-only: orders change through commands)."""

from django.contrib import admin

from eventkit.admin import ReadOnlyAdmin
from orders.models import OrderView


@admin.register(OrderView)
class OrderAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "customer_name",
        "product_name",
        "quantity",
        "total_price",
        "status",
        "created_at",
    )
    list_filter = ("status", "created_at")
    search_fields = ("=id", "customer_name", "product_name")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in OrderView._meta.fields]
