from django.urls import path

from sagas import api

urlpatterns = [
    path("saga/place-order", api.PlaceOrderApi.as_view(), name="place-order"),
    path("sagas", api.SagaListApi.as_view(), name="saga-list"),
    path("sagas/<uuid:order_id>", api.SagaDetailApi.as_view(), name="saga"),
]
