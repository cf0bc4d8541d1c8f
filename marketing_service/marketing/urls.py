from django.urls import path

from marketing import api

urlpatterns = [
    path("queries/marketing/overview", api.OverviewApi.as_view(), name="marketing-overview"),
    path("queries/marketing/customers", api.CustomerListApi.as_view(), name="marketing-customers"),
    path("queries/marketing/products", api.ProductListApi.as_view(), name="marketing-products"),
    path("queries/marketing/daily", api.DailySalesApi.as_view(), name="marketing-daily"),
]
