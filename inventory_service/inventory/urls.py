from django.urls import path

import servicekit.converters  # noqa: F401  (registers <any_uuid:...>)
from inventory import api

urlpatterns = [
    path("queries/products", api.ProductListApi.as_view(), name="product-list"),
    path("queries/products/<any_uuid:product_id>", api.ProductDetailApi.as_view(), name="product"),
    path(
        "commands/inventory/<any_uuid:product_id>/reserve", api.ReserveApi.as_view(), name="reserve"
    ),
    path(
        "commands/inventory/<any_uuid:product_id>/release", api.ReleaseApi.as_view(), name="release"
    ),
    path(
        "commands/inventory/<any_uuid:product_id>/restock", api.RestockApi.as_view(), name="restock"
    ),
]
