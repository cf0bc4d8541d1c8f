"""The inventory's HTTP API: one thin view per operation."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from eventkit.errors import NotFound
from inventory import selectors, services
from inventory.serializers import (
    LevelsSerializer,
    ProductSerializer,
    ReleaseInput,
    ReservationOutcomeSerializer,
    ReserveInput,
    RestockInput,
)
from servicekit.api import (
    IDEMPOTENCY_PARAMETER,
    PAGE_PARAMETERS,
    REFUSALS,
    CommandApi,
    command_id,
    command_response,
    list_response,
    page,
    validated,
)


class ProductListApi(APIView):
    @extend_schema(
        parameters=PAGE_PARAMETERS, responses={200: ProductSerializer(many=True), 400: None}
    )
    def get(self, request):
        limit, offset = page(request)
        products, total = selectors.product_list(limit=limit, offset=offset)
        return list_response(ProductSerializer(products, many=True).data, total)


class ProductDetailApi(APIView):
    @extend_schema(responses={200: ProductSerializer, 404: None})
    def get(self, request, product_id):
        product = selectors.product_get(product_id=product_id)
        if product is None:
            raise NotFound(f"no product {product_id}", product_id=str(product_id))
        return Response(ProductSerializer(product).data)


class ReserveApi(CommandApi):
    @extend_schema(
        request=ReserveInput,
        responses={200: ReservationOutcomeSerializer, **REFUSALS},
        parameters=[IDEMPOTENCY_PARAMETER],
        description="Hold stock for an order. Repeating it for the same order changes "
        "nothing; 409 `insufficient_stock` when too little is available.",
    )
    def post(self, request, product_id):
        data = validated(ReserveInput, request.data)
        outcome = services.stock_reserve(
            product_id=product_id,
            order_id=data["order_id"],
            quantity=data["quantity"],
            command_id=command_id(request, data),
        )
        return command_response(outcome)


class ReleaseApi(CommandApi):
    @extend_schema(
        request=ReleaseInput,
        responses={200: ReservationOutcomeSerializer, **REFUSALS},
        parameters=[IDEMPOTENCY_PARAMETER],
        description="Give back what the order holds (compensation). Releasing twice, or "
        "for an order that holds nothing, is a 200 that changes no stock; the latter also "
        "voids the order's reservation so a late reserve for it is refused.",
    )
    def post(self, request, product_id):
        data = validated(ReleaseInput, request.data)
        outcome = services.stock_release(
            product_id=product_id,
            order_id=data["order_id"],
            command_id=command_id(request, data),
        )
        return command_response(outcome)


class RestockApi(CommandApi):
    @extend_schema(
        request=RestockInput,
        responses={200: LevelsSerializer, **REFUSALS},
        parameters=[IDEMPOTENCY_PARAMETER],
        description="Add units to stock. Send an Idempotency-Key so a retry does not add twice.",
    )
    def post(self, request, product_id):
        data = validated(RestockInput, request.data)
        outcome = services.stock_add(
            product_id=product_id, quantity=data["quantity"], command_id=command_id(request, data)
        )
        return command_response(outcome)
