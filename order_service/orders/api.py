"""The order service's HTTP API: one thin view per operation."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from eventkit.errors import NotFound
from orders import selectors, services
from orders.serializers import (
    CancelOrderInput,
    ConfirmOrderInput,
    CreateOrderInput,
    OrderCounts,
    OrderQuery,
    OrderSerializer,
)
from servicekit.api import (
    IDEMPOTENCY_PARAMETER,
    REFUSALS,
    CommandApi,
    command_id,
    command_response,
    list_response,
    validated,
)
from servicekit.ids import order_id_for


class CreateOrderApi(CommandApi):
    @extend_schema(
        request=CreateOrderInput,
        responses={201: OrderSerializer, 200: OrderSerializer, **REFUSALS},
        parameters=[IDEMPOTENCY_PARAMETER],
        description="Create a PENDING order. The same `order_id` with the same details again "
        "answers 200 with that order; with other details, 409.",
    )
    def post(self, request):
        data = validated(CreateOrderInput, request.data)
        key = command_id(request, data)
        outcome = services.order_create(
            order_id=data.get("order_id") or order_id_for(key, namespace=services.KEYED_ORDERS),
            customer_name=data["customer_name"],
            product_id=data["product_id"],
            product_name=data["product_name"],
            quantity=data["quantity"],
            total_price=data["total_price"],
            command_id=key,
        )
        return command_response(outcome, created=bool(outcome.recorded))


class ConfirmOrderApi(CommandApi):
    @extend_schema(
        request=ConfirmOrderInput,
        responses={200: OrderSerializer, **REFUSALS},
        parameters=[IDEMPOTENCY_PARAMETER],
        description="PENDING -> CONFIRMED; again is a no-op; a cancelled order is 409.",
    )
    def post(self, request, order_id):
        data = validated(ConfirmOrderInput, request.data)
        outcome = services.order_confirm(order_id=order_id, command_id=command_id(request, data))
        return command_response(outcome)


class CancelOrderApi(CommandApi):
    @extend_schema(
        request=CancelOrderInput,
        responses={200: OrderSerializer, **REFUSALS},
        parameters=[IDEMPOTENCY_PARAMETER],
        description="PENDING -> CANCELLED with a reason; again is a no-op; a confirmed order "
        "is 409. An order that was never created is 404, and its id is closed: a create "
        "that arrives later is 409 order_closed (a create still in flight when a saga gave "
        "up on it).",
    )
    def post(self, request, order_id):
        data = validated(CancelOrderInput, request.data)
        outcome = services.order_cancel(
            order_id=order_id, reason=data["reason"], command_id=command_id(request, data)
        )
        if outcome.value is None:  # never created; its id is closed now (OrderVoided)
            raise NotFound(f"no order {order_id}", order_id=str(order_id))
        return command_response(outcome)


class OrderListApi(APIView):
    @extend_schema(parameters=[OrderQuery], responses={200: OrderSerializer(many=True), 400: None})
    def get(self, request):
        q = validated(OrderQuery, request.query_params)
        orders, total = selectors.order_list(
            status=q.get("status"),
            customer=q.get("customer"),
            limit=q["limit"],
            offset=q["offset"],
        )
        return list_response(OrderSerializer(orders, many=True).data, total)


class OrderCountsApi(APIView):
    @extend_schema(responses={200: OrderCounts})
    def get(self, request):
        return Response(selectors.order_counts())


class OrderDetailApi(APIView):
    @extend_schema(responses={200: OrderSerializer, 404: None})
    def get(self, request, order_id):
        order = selectors.order_get(order_id=order_id)
        if order is None:
            raise NotFound(f"no order {order_id}", order_id=str(order_id))
        return Response(OrderSerializer(order).data)
