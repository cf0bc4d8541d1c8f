"""The marketing service's HTTP API: read-only views over the projected read models."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from marketing import selectors
from marketing.serializers import (
    CustomerQuery,
    CustomerSerializer,
    DailyQuery,
    DailySalesSerializer,
    OverviewSerializer,
    ProductStatsSerializer,
)
from servicekit.api import PAGE_PARAMETERS, list_response, page, validated

BAD_QUERY = {400: None}


class OverviewApi(APIView):
    @extend_schema(
        responses=OverviewSerializer,
        description="Totals over every order, the top five customers and products by revenue, "
        "and the seven most recent days with orders (newest first).",
    )
    def get(self, request):
        return Response(OverviewSerializer(selectors.overview()).data)


class CustomerListApi(APIView):
    @extend_schema(
        parameters=[CustomerQuery],
        responses={200: CustomerSerializer(many=True), **BAD_QUERY},
        description="Customers by confirmed revenue (highest first) unless `ordering` names "
        "another column; ties go by name.",
    )
    def get(self, request):
        q = validated(CustomerQuery, request.query_params)
        customers, total = selectors.customer_list(
            limit=q["limit"], offset=q["offset"], ordering=q["ordering"]
        )
        return list_response(CustomerSerializer(customers, many=True).data, total)


class ProductListApi(APIView):
    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses={200: ProductStatsSerializer(many=True), **BAD_QUERY},
        description="Products by confirmed revenue (highest first).",
    )
    def get(self, request):
        limit, offset = page(request)
        products, total = selectors.product_list(limit=limit, offset=offset)
        return list_response(ProductStatsSerializer(products, many=True).data, total)


class DailySalesApi(APIView):
    @extend_schema(
        parameters=[DailyQuery],
        responses={200: DailySalesSerializer(many=True), **BAD_QUERY},
        description="Days with orders, newest first. Orders are booked on the UTC date they "
        "were created, also when confirmed or cancelled later.",
    )
    def get(self, request):
        q = validated(DailyQuery, request.query_params)
        days, total = selectors.daily_sales(
            days=q.get("days"), limit=q["limit"], offset=q["offset"]
        )
        return list_response(DailySalesSerializer(days, many=True).data, total)
