from django.urls import path

import servicekit.converters  # noqa: F401  (registers <any_uuid:...>)
from sagas import api

urlpatterns = [
    path("saga/place-order", api.PlaceOrderApi.as_view(), name="place-order"),
    path("sagas", api.SagaListApi.as_view(), name="saga-list"),
    path("sagas/<any_uuid:order_id>", api.SagaDetailApi.as_view(), name="saga"),
]
