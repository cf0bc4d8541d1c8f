from django.urls import path

from orders import api

urlpatterns = [
    path("commands/orders", api.CreateOrderApi.as_view(), name="order-create"),
    path("commands/orders/<uuid:order_id>/confirm", api.ConfirmOrderApi.as_view(), name="confirm"),
    path("commands/orders/<uuid:order_id>/cancel", api.CancelOrderApi.as_view(), name="cancel"),
    path("queries/orders", api.OrderListApi.as_view(), name="order-list"),
    path("queries/orders/<uuid:order_id>", api.OrderDetailApi.as_view(), name="order"),
]
