from django.urls import path

import servicekit.converters  # noqa: F401  (registers <any_uuid:...>)
from gateway import api

urlpatterns = [
    path("products", api.ProductListApi.as_view(), name="products"),
    path("products/<any_uuid:product_id>", api.ProductDetailApi.as_view(), name="product"),
    path("orders", api.OrderListApi.as_view(), name="orders"),
    path("orders/<any_uuid:order_id>", api.OrderDetailApi.as_view(), name="order"),
    path("sagas", api.SagaListApi.as_view(), name="sagas"),
    path("sagas/<any_uuid:order_id>", api.SagaDetailApi.as_view(), name="saga"),
    path("events", api.EventListApi.as_view(), name="events"),
    path("dashboard", api.DashboardApi.as_view(), name="dashboard"),
    path("marketing/overview", api.MarketingOverviewApi.as_view(), name="marketing-overview"),
    path("marketing/customers", api.MarketingCustomersApi.as_view(), name="marketing-customers"),
    path("marketing/products", api.MarketingProductsApi.as_view(), name="marketing-products"),
    path("marketing/daily", api.MarketingDailyApi.as_view(), name="marketing-daily"),
]
