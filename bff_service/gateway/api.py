"""The BFF's HTTP API: what the web UI calls, and nothing else does."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.response import Response
from rest_framework.views import APIView

from gateway import services
from gateway.downstream import get
from gateway.serializers import (
    EventsQuery,
    MarketingCustomersQuery,
    MarketingDailyQuery,
    MarketingPageQuery,
    OrderQuery,
    PlaceOrderInput,
    SagaQuery,
)
from servicekit.api import (
    IDEMPOTENCY_PARAMETER,
    PAGE_PARAMETERS,
    command_id,
    list_response,
    page,
    validated,
)


def passthrough(answer, *, paged: bool = False) -> Response:
    """The service's answer as it came (4xx included); lists keep their total header."""
    headers = {}
    if paged and answer.total is not None:
        headers["X-Total-Count"] = str(answer.total)
    return Response(answer.body, status=answer.status, headers=headers)


def with_degraded(body: dict, degraded: list[str]) -> Response:
    return Response({**body, "degraded": degraded})


class ProductListApi(APIView):
    @extend_schema(
        operation_id="products_list",
        parameters=PAGE_PARAMETERS,
        responses={200: list[dict], 400: None},
    )
    def get(self, request):
        limit, offset = page(request)
        return passthrough(
            get("inventory-service", "/queries/products", limit=limit, offset=offset), paged=True
        )


class ProductDetailApi(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT, 404: None})
    def get(self, request, product_id):
        return passthrough(get("inventory-service", f"/queries/products/{product_id}"))


class OrderListApi(APIView):
    @extend_schema(
        operation_id="orders_list", parameters=[OrderQuery], responses={200: list[dict], 400: None}
    )
    def get(self, request):
        q = validated(OrderQuery, request.query_params)
        answer = get(
            "order-service",
            "/queries/orders",
            limit=q["limit"],
            offset=q["offset"],
            status=q.get("status"),
            customer=q.get("customer"),
        )
        return passthrough(answer, paged=True)

    @extend_schema(
        request=PlaceOrderInput,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            200: OpenApiTypes.OBJECT,
            202: OpenApiTypes.OBJECT,
            400: None,
            404: None,
            409: None,
        },
        description="Place an order: the product is looked up and priced, and the place-order "
        "saga runs. Answers `{order_id, success, status, message, saga_log, ...}`: 200 for "
        "both confirmed and cancelled orders, 202 if the saga has not finished. The same "
        "`Idempotency-Key` (or `command_id` in the body) again answers with the same order "
        "and places nothing twice; with other details, 409.",
    )
    def post(self, request):
        data = validated(PlaceOrderInput, request.data)
        key = command_id(request, data)
        answer = services.place_order(
            customer_name=data["customer_name"],
            product_id=data["product_id"],
            quantity=data["quantity"],
            idempotency_key=key,
            faults=data.get("faults"),
        )
        return passthrough(answer)


class OrderDetailApi(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT, 404: None})
    def get(self, request, order_id):
        detail, degraded = services.order_detail(order_id)
        return with_degraded(detail, degraded)


class SagaListApi(APIView):
    @extend_schema(
        operation_id="sagas_list",
        parameters=[SagaQuery],
        responses={200: list[dict], 400: None},
        description="Place-order sagas, newest first, each with its log: those whose order "
        "was never created too (the saga service's `GET /sagas`).",
    )
    def get(self, request):
        q = validated(SagaQuery, request.query_params)
        answer = get(
            "saga-service", "/sagas", limit=q["limit"], offset=q["offset"], status=q.get("status")
        )
        return passthrough(answer, paged=True)


class SagaDetailApi(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT, 404: None})
    def get(self, request, order_id):
        return passthrough(get("saga-service", f"/sagas/{order_id}"))


class EventListApi(APIView):
    @extend_schema(
        parameters=[EventsQuery],
        responses={200: list[dict], 400: None},
        description="One timeline merged from the order, inventory and saga logs, newest "
        "first; each event names its `service`. `X-Degraded` lists services that did not "
        "answer.",
    )
    def get(self, request):
        q = validated(EventsQuery, request.query_params)
        events, total, degraded = services.events_timeline(
            service=q.get("service"),
            event_type=q.get("type"),
            aggregate_id=q.get("aggregate"),
            limit=q["limit"],
            offset=q["offset"],
        )
        response = list_response(events, total)
        if degraded:
            response["X-Degraded"] = ",".join(degraded)
        return response


class DashboardApi(APIView):
    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        description="`{products, order_counts, recent_events, marketing, degraded, "
        "degraded_reasons}`: each part read in parallel. A part whose service did not answer "
        "is empty, the service named in `degraded`, and `degraded_reasons` says why, one "
        "`{service, code, detail}` for each: `code` a service's own 503 code where it said "
        "more than that it is unavailable (`locked`, `stream_busy`, `busy`, `read_only`, "
        "`read_model_drift`), else `service_unavailable`.",
    )
    def get(self, request):
        body, degraded = services.dashboard()
        return with_degraded(body, degraded)


class MarketingApi(APIView):
    """One of the marketing service's views, as it answered. Each has a path of its own, so
    that the schema tells what each takes and answers."""

    kind: str
    query = None  # the serializer of what this view takes; None: nothing

    def get(self, request):
        params = validated(self.query, request.query_params) if self.query else {}
        answer = get("marketing-service", f"/queries/marketing/{self.kind}", **params)
        return passthrough(answer, paged=self.query is not None)


def _marketing_list(view: type[MarketingApi]) -> type[MarketingApi]:
    """A marketing list view, its schema made of the kind and query it declares."""
    return extend_schema_view(
        get=extend_schema(
            operation_id=f"marketing_{view.kind}_list",
            parameters=[view.query],
            responses={200: list[dict], 400: None},
        )
    )(view)


@extend_schema_view(get=extend_schema(responses={200: OpenApiTypes.OBJECT}))
class MarketingOverviewApi(MarketingApi):
    kind = "overview"


@_marketing_list
class MarketingCustomersApi(MarketingApi):
    kind, query = "customers", MarketingCustomersQuery


@_marketing_list
class MarketingProductsApi(MarketingApi):
    kind, query = "products", MarketingPageQuery


@_marketing_list
class MarketingDailyApi(MarketingApi):
    kind, query = "daily", MarketingDailyQuery
