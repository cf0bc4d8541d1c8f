from django.urls import path, re_path

from gateway.consumers import AllOrdersConsumer, OrderConsumer, UnknownPath
from servicekit.converters import AnyCaseUUIDConverter

UUID = AnyCaseUUIDConverter.regex

websocket_urlpatterns = [
    path("ws/orders/", AllOrdersConsumer.as_asgi()),
    re_path(rf"^ws/orders/(?P<order_id>{UUID})/$", OrderConsumer.as_asgi()),
    re_path(r"", UnknownPath.as_asgi()),
]
