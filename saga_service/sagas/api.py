"""The saga service's HTTP API."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from eventkit.errors import NotFound
from sagas import selectors, services
from sagas.serializers import (
    PlaceOrderInput,
    SagaListItemSerializer,
    SagaOutcomeSerializer,
    SagaQuery,
)
from servicekit.api import (
    IDEMPOTENCY_PARAMETER,
    CommandApi,
    command_id,
    list_response,
    validated,
)
from servicekit.ids import order_id_for


class PlaceOrderApi(CommandApi):
    @extend_schema(
        request=PlaceOrderInput,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            200: SagaOutcomeSerializer,
            202: SagaOutcomeSerializer,
            400: None,
            404: None,
            409: None,
        },
        description="Run the place-order saga: CreateOrder, ReserveInventory, ConfirmOrder, "
        "compensating on failure. 200 for both business outcomes (`success` says which); "
        "202 when it has not finished yet (a compensation waits for a participant, or the "
        "same order is still being placed by another request). The same `order_id` again "
        "answers with that saga's outcome and runs nothing twice; with other details, 409. "
        "Without an `order_id`, an `Idempotency-Key` (or `command_id` in the body) names the "
        "order (its id is derived from the key), so a retry with the same key is the same "
        "order.",
    )
    def post(self, request):
        data = validated(PlaceOrderInput, request.data)
        key = command_id(request, data)
        outcome, finished = services.place_order(
            order_id=data.get("order_id") or order_id_for(key, namespace=services.KEYED_ORDERS),
            customer_name=data["customer_name"],
            product_id=data["product_id"],
            quantity=data["quantity"],
            product_name=data.get("product_name"),
            total_price=data.get("total_price"),
            faults=data.get("faults"),
        )
        return Response(outcome, status=200 if finished else 202)


class SagaListApi(APIView):
    @extend_schema(
        parameters=[SagaQuery], responses={200: SagaListItemSerializer(many=True), 400: None}
    )
    def get(self, request):
        q = validated(SagaQuery, request.query_params)
        sagas, total = selectors.saga_list(
            status=q.get("status"), limit=q["limit"], offset=q["offset"]
        )
        return list_response(sagas, total)


class SagaDetailApi(APIView):
    @extend_schema(responses={200: SagaOutcomeSerializer, 404: None})
    def get(self, request, order_id):
        outcome = selectors.saga_outcome(order_id=order_id)
        if outcome is None:
            raise NotFound(f"no saga for order {order_id}", order_id=str(order_id))
        return Response(outcome)
