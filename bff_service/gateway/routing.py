from django.urls import path, re_path

from gateway.consumers import AllOrdersConsumer, OrderConsumer, UnknownPath

UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

websocket_urlpatterns = [
    path("ws/orders/", AllOrdersConsumer.as_asgi()),
    re_path(rf"^ws/orders/(?P<order_id>{UUID})/$", OrderConsumer.as_asgi()),
    re_path(r"", UnknownPath.as_asgi()),
]
