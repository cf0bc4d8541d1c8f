from django.urls import path

import servicekit.converters  # noqa: F401  (registers <any_uuid:...>)
from orders import api

urlpatterns = [
    path("commands/orders", api.CreateOrderApi.as_view(), name="order-create"),
    path(
        "commands/orders/<any_uuid:order_id>/confirm", api.ConfirmOrderApi.as_view(), name="confirm"
    ),
    path("commands/orders/<any_uuid:order_id>/cancel", api.CancelOrderApi.as_view(), name="cancel"),
    path("queries/orders", api.OrderListApi.as_view(), name="order-list"),
    path("queries/orders/counts", api.OrderCountsApi.as_view(), name="order-counts"),
    path("queries/orders/<any_uuid:order_id>", api.OrderDetailApi.as_view(), name="order"),
]
