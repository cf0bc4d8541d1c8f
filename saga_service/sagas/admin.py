"""Admin pages: sagas with their step log, and who holds which lease (all read-only)."""

from django.contrib import admin

from eventkit.admin import ReadOnlyAdmin
from sagas.models import SagaLease, SagaStepView, SagaView


@admin.register(SagaView)
class SagaAdmin(ReadOnlyAdmin):
    list_display = (
        "order_id",
        "status",
        "customer_name",
        "product_name",
        "quantity",
        "resumptions",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "created_at")
    search_fields = ("=order_id", "=saga_id", "customer_name")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in SagaView._meta.fields]


@admin.register(SagaStepView)
class SagaStepAdmin(ReadOnlyAdmin):
    list_display = (
        "saga_id",
        "seq",
        "step",
        "compensating",
        "status",
        "attempts",
        "duration_ms",
        "started_at",
    )
    list_filter = ("status", "step", "compensating")
    search_fields = ("=saga_id",)
    readonly_fields = [f.name for f in SagaStepView._meta.fields]


@admin.register(SagaLease)
class SagaLeaseAdmin(ReadOnlyAdmin):
    list_display = ("saga_id", "owner", "expires_at")
    readonly_fields = [f.name for f in SagaLease._meta.fields]
