"""The order API in-process: shapes, transitions, idempotency, queries and validation."""

import json
import uuid

import pytest
from django.core.management import call_command

from eventkit.models import Event
from orders.models import OrderView

pytestmark = pytest.mark.django_db

LAPTOP = "a1111111-1111-1111-1111-111111111111"


@pytest.fixture
def api():
    from rest_framework.test import APIClient

    return APIClient()


def body(**overrides):
    return {
        "customer_name": "Yamada",
        "product_id": LAPTOP,
        "product_name": "Laptop",
        "quantity": 2,
        "total_price": 240000,
        **overrides,
    }


def create(api, **overrides):
    return api.post("/commands/orders", body(**overrides), format="json")


def test_create_answers_201_with_the_seed_shape(api):
    response = create(api)
    assert response.status_code == 201
    order = response.json()
    for key in (
        "id",
        "customer_name",
        "product_id",
        "product_name",
        "quantity",
        "total_price",
        "status",
        "created_at",
        "updated_at",
    ):
        assert key in order
    assert order["status"] == "PENDING" and order["total_price"] == 240000


def test_same_client_order_id_twice_is_one_order_one_event(api):
    order_id = str(uuid.uuid4())
    first, again = create(api, order_id=order_id), create(api, order_id=order_id)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    assert Event.objects.filter(stream_id=order_id).count() == 1
    clash = create(api, order_id=order_id, quantity=3)
    assert clash.status_code == 409 and clash.json()["code"] == "order_mismatch"


def test_confirm_and_cancel_transitions(api):
    a, b = create(api).json()["id"], create(api).json()["id"]
    assert api.post(f"/commands/orders/{a}/confirm").json()["status"] == "CONFIRMED"
    again = api.post(f"/commands/orders/{a}/confirm")
    assert again.status_code == 200 and again.json()["status"] == "CONFIRMED"
    cancelled = api.post(f"/commands/orders/{b}/cancel", {"reason": "no stock"}, format="json")
    assert cancelled.json()["status"] == "CANCELLED"
    assert cancelled.json()["cancel_reason"] == "no stock"
    assert api.post(f"/commands/orders/{b}/cancel").status_code == 200
    assert Event.objects.filter(stream_id=a).count() == 2
    assert Event.objects.filter(stream_id=b).count() == 2


def test_illegal_transitions_are_409(api):
    a, b = create(api).json()["id"], create(api).json()["id"]
    api.post(f"/commands/orders/{a}/confirm")
    api.post(f"/commands/orders/{b}/cancel")
    for url in (f"/commands/orders/{a}/cancel", f"/commands/orders/{b}/confirm"):
        response = api.post(url)
        assert response.status_code == 409
        assert response.json()["code"] == "illegal_transition"


def test_a_cancel_of_an_order_never_created_is_404_and_a_late_create_is_refused(api):
    order_id = str(uuid.uuid4())
    cancel = f"/commands/orders/{order_id}/cancel"
    assert api.post(cancel, {"reason": "saga gave up"}, format="json").status_code == 404
    assert api.post(cancel, {"reason": "saga gave up"}, format="json").status_code == 404
    late = create(api, order_id=order_id)
    assert late.status_code == 409 and late.json()["code"] == "order_closed"
    assert api.get(f"/queries/orders/{order_id}").status_code == 404


def test_a_keyed_cancel_of_an_order_never_created_closes_it_too(api):
    """The saga's compensations carry a key; they were refused with 409 "lost 5 races"
    (the command log could not store an answer of no order), so the order id stayed open
    and the saga ended FAILED (found from outside)."""
    order_id = str(uuid.uuid4())
    cancel = f"/commands/orders/{order_id}/cancel"
    keyed = {"reason": "saga gave up", "command_id": f"saga:{order_id}:cancel"}
    assert api.post(cancel, keyed, format="json").status_code == 404
    assert api.post(cancel, keyed, format="json").status_code == 404  # answered from the log
    late = create(api, order_id=order_id)
    assert late.status_code == 409 and late.json()["code"] == "order_closed"
    events = api.get(f"/events/{order_id}").json()
    assert [e["event_type"] for e in events] == ["OrderVoided"]


@pytest.mark.parametrize(
    ("command", "body"),
    [
        *[(c, b) for c in ("confirm", "cancel") for b in ([], None, "x", 5, {"command_id": 5})],
        ("cancel", {"reason": 5}),
    ],
)
def test_a_confirm_or_cancel_body_that_is_no_object_of_strings_is_400(api, command, body):
    """As every other command answers it; [] and null were taken for {} and numbers made
    text (found from outside)."""
    url = f"/commands/orders/{uuid.uuid4()}/{command}"
    response = api.post(url, json.dumps(body), content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"


@pytest.mark.parametrize("command", ["confirm", "cancel"])
def test_a_confirm_or_cancel_without_a_body_is_read_as_empty(api, command):
    order_id = create(api).json()["id"]
    assert api.post(f"/commands/orders/{order_id}/{command}").status_code == 200


def test_a_key_reused_for_another_order_id_is_a_conflict(api):
    first = api.post(
        "/commands/orders",
        body(order_id=str(uuid.uuid4())),
        format="json",
        HTTP_IDEMPOTENCY_KEY="k1",
    )
    other = api.post(
        "/commands/orders",
        body(order_id=str(uuid.uuid4())),
        format="json",
        HTTP_IDEMPOTENCY_KEY="k1",
    )
    assert first.status_code == 201
    assert other.status_code == 409 and other.json()["code"] == "conflict"


@pytest.mark.parametrize("keyed_by", ["header", "body"])
def test_a_keyed_create_without_an_order_id_repeated_is_the_same_order(api, keyed_by):
    """A client that lost the answer sends the same request again: it must get its order
    (and learn its id), not a conflict with itself."""

    def post():
        if keyed_by == "header":
            return api.post("/commands/orders", body(), format="json", HTTP_IDEMPOTENCY_KEY="k")
        return api.post("/commands/orders", body(command_id="k"), format="json")

    first, again = post(), post()
    assert first.status_code == 201
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert OrderView.objects.count() == 1


def test_an_idempotency_key_too_long_is_refused_not_cut(api):
    key = "k" * 200
    first = api.post("/commands/orders", body(), format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert first.status_code == 201
    response = api.post(
        "/commands/orders", body(), format="json", HTTP_IDEMPOTENCY_KEY=key + "-another"
    )
    assert response.status_code == 400 and "Idempotency-Key" in response.json()["errors"]


def test_a_create_recorded_before_the_order_id_was_fingerprinted_is_still_replayed(api):
    from eventkit.models import CommandRecord
    from eventkit.store import fingerprint

    order_id, key = str(uuid.uuid4()), "before-the-change"

    def post():
        request = body(order_id=order_id)
        return api.post("/commands/orders", request, format="json", HTTP_IDEMPOTENCY_KEY=key)

    first = post()
    # as the record of that create was fingerprinted: the order's details without its id
    CommandRecord.objects.filter(pk=key).update(fingerprint=fingerprint(body()))
    again = post()
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


def test_a_body_nested_too_deeply_is_a_400_not_a_500(api):
    deep = "[" * 100_000 + "]" * 100_000  # 200 kB, inside the size limit
    response = api.post("/commands/orders", deep, content_type="application/json")
    assert response.status_code == 400 and "nested too deeply" in response.json()["detail"]


def test_unknown_order_is_404(api):
    missing = uuid.uuid4()
    assert api.post(f"/commands/orders/{missing}/confirm").status_code == 404
    assert api.get(f"/queries/orders/{missing}").status_code == 404


def test_queries_newest_first_filtered_and_paged(api):
    ids = [create(api, customer_name=f"c{i % 2}").json()["id"] for i in range(5)]
    api.post(f"/commands/orders/{ids[0]}/confirm")
    listing = api.get("/queries/orders", {"limit": 3})
    assert listing["X-Total-Count"] == "5"
    assert [o["id"] for o in listing.json()] == ids[::-1][:3]
    assert [o["id"] for o in api.get("/queries/orders", {"offset": 3}).json()] == ids[1::-1]
    confirmed = api.get("/queries/orders", {"status": "CONFIRMED"}).json()
    assert [o["id"] for o in confirmed] == [ids[0]]
    assert len(api.get("/queries/orders", {"customer": "c1"}).json()) == 2
    assert api.get(f"/queries/orders/{ids[0]}").json()["status"] == "CONFIRMED"


def test_counts_by_status_add_up_to_the_total(api):
    """The BFF's dashboard read three pages for their totals, each at its own moment."""
    empty = api.get("/queries/orders/counts").json()
    assert empty == {"PENDING": 0, "CONFIRMED": 0, "CANCELLED": 0, "TOTAL": 0}
    ids = [create(api).json()["id"] for _ in range(4)]
    api.post(f"/commands/orders/{ids[0]}/confirm")
    api.post(f"/commands/orders/{ids[1]}/cancel")
    counts = api.get("/queries/orders/counts").json()
    assert counts == {"PENDING": 2, "CONFIRMED": 1, "CANCELLED": 1, "TOTAL": 4}


@pytest.mark.parametrize(
    "overrides",
    [
        {"customer_name": ""},
        {"customer_name": "   "},
        {"customer_name": "x" * 201},
        {"product_id": "nope"},
        {"quantity": 0},
        {"quantity": -1},
        {"quantity": 10**7},
        {"quantity": "1"},
        {"total_price": -5},
        {"order_id": "123"},
    ],
)
def test_malformed_create_is_400_json(api, overrides):
    response = create(api, **overrides)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


@pytest.mark.parametrize("missing", ["customer_name", "product_id", "quantity", "total_price"])
def test_missing_field_is_400(api, missing):
    data = body()
    del data[missing]
    response = api.post("/commands/orders", data, format="json")
    assert response.status_code == 400 and missing in response.json()["errors"]


@pytest.mark.parametrize("query", [{"status": "SHIPPED"}, {"limit": "0"}, {"offset": "x"}])
def test_bad_query_parameters_are_400(api, query):
    assert api.get("/queries/orders", query).status_code == 400


def test_broken_json_is_400(api):
    response = api.post("/commands/orders", "{", content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "parse_error"


def test_a_command_answers_json_whatever_it_accepts_but_reads_only_json(api):
    response = api.post("/commands/orders", body(), format="json", headers={"Accept": "text/html"})
    assert response.status_code == 201 and response["Content-Type"] == "application/json"
    response = api.post(
        "/commands/orders", "customer_name=Yamada", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 415 and "detail" in response.json()


def test_rebuild_reproduces_orders_and_check_catches_corruption(api):
    a = create(api).json()["id"]
    api.post(f"/commands/orders/{a}/cancel", {"reason": "r"}, format="json")
    quiet = {"stdout": open("/dev/null", "w")}  # noqa: SIM115
    call_command("rebuild_projections", "--check", "--no-progress", **quiet)
    OrderView.objects.filter(pk=a).update(status="CONFIRMED")
    with pytest.raises(Exception, match="drifted"):
        call_command("rebuild_projections", "--check", "--no-progress", **quiet)
    call_command("rebuild_projections", "--no-progress", **quiet)
    assert OrderView.objects.get(pk=a).status == "CANCELLED"


def test_commands_need_the_service_token_when_one_is_set(api, settings):
    settings.SERVICE_TOKEN = "s3cret"
    assert create(api).status_code == 403
    assert api.get("/queries/orders").status_code == 200  # queries stay open
    authorised = api.post(
        "/commands/orders", body(), format="json", headers={"Authorization": "Bearer s3cret"}
    )
    assert authorised.status_code == 201
    wrong = api.post(
        "/commands/orders", body(), format="json", headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 403 and wrong.json()["code"] == "permission_denied"
    # found in review: compare_digest refuses non-ASCII text with a TypeError (a 500)
    foreign = api.post(
        "/commands/orders", body(), format="json", headers={"Authorization": "Bearer caf\xe9"}
    )
    assert foreign.status_code == 403 and foreign.json()["code"] == "permission_denied"
    # found from outside: the scheme's name is case-insensitive, and spaces may follow it
    for header, status in [("bearer s3cret", 201), ("Bearer  s3cret", 201), ("Basic s3cret", 403)]:
        answer = api.post(
            "/commands/orders", body(), format="json", headers={"Authorization": header}
        )
        assert answer.status_code == status, header


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_a_command_sent_by_another_sites_page_is_refused(api, site):
    """Found from outside: an empty text/plain POST, which any web page can send without
    asking first, confirmed an order when no service token was set. Browsers say where a
    request comes from (Fetch Metadata); the services' callers are not browsers."""
    order_id = create(api).json()["id"]
    refused = api.post(
        f"/commands/orders/{order_id}/confirm",
        content_type="text/plain",
        headers={"Sec-Fetch-Site": site, "Origin": "http://evil.example"},
    )
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert api.get(f"/queries/orders/{order_id}").json()["status"] == "PENDING"
    own_docs_page = api.post(
        f"/commands/orders/{order_id}/confirm",
        {},
        format="json",
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert own_docs_page.status_code == 200


def test_a_name_searched_as_it_was_typed_is_found(api):
    """Names are stored in one spelling (NFC); a search typed with a combining accent must
    find them too (found in review)."""
    create(api, customer_name="Jose\u0301")
    for typed in ("Jose\u0301", "Jos\u00e9"):
        found = api.get("/queries/orders", {"customer": typed})
        assert found["X-Total-Count"] == "1", typed
        assert found.json()[0]["customer_name"] == "Jos\u00e9"


def test_command_answers_show_an_order_exactly_as_the_query_api_does(api):
    """Commands answer from plain values, queries through OrderSerializer: the same JSON."""
    created = create(api).json()
    order_id = created["id"]
    assert api.get(f"/queries/orders/{order_id}").json() == created
    cancelled = api.post(f"/commands/orders/{order_id}/cancel", {"reason": "r"}, format="json")
    assert cancelled.json() == api.get(f"/queries/orders/{order_id}").json()
    assert cancelled.json()["status"] == "CANCELLED" and created["updated_at"].endswith("Z")


def test_admin_shows_the_event_store_but_no_consumer_tables(client):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_superuser("admin", "a@example.com", "pw"))
    for model in ("event", "stream", "commandrecord", "relaycursor"):
        assert client.get(f"/admin/eventkit/{model}/").status_code == 200
    for model in ("checkpoint", "deadletter"):  # the order service consumes nobody's events
        assert client.get(f"/admin/eventkit/{model}/").status_code == 404


def test_the_schema_documents_what_the_plumbing_answers(api):
    """503 anywhere, 413 and 415 where a body is taken, 403 where the token guards."""
    schema = api.get("/api/schema/", {"format": "json"}).json()
    operations = {
        (method, path): op["responses"]
        for path, ops in schema["paths"].items()
        for method, op in ops.items()
    }
    assert all("503" in responses for responses in operations.values())
    assert {"403", "413", "415"} <= set(operations["post", "/commands/orders"])
    assert "415" not in operations["get", "/queries/orders"]
    retry = operations["get", "/queries/orders"]["503"]["headers"]["Retry-After"]
    assert retry["schema"] == {"type": "integer"}


def test_the_schema_documents_health_as_it_answers(api):
    """/health is a plain Django view, which drf-spectacular cannot see; a hook adds it."""
    schema = api.get("/api/schema/", {"format": "json"}).json()
    answers = schema["paths"]["/health"]["get"]["responses"]
    healthy = answers["200"]["content"]["application/json"]["schema"]
    answer = api.get("/health").json()
    assert set(answer) == set(healthy["required"]) == set(healthy["properties"])
    assert answer["status"] in healthy["properties"]["status"]["enum"]
    assert "503" in answers


def test_a_body_over_the_size_limit_is_a_json_413(api):
    body = {"customer_name": "x" * 300_000}  # over DATA_UPLOAD_MAX_MEMORY_SIZE (256 KiB)
    response = api.post("/commands/orders", body, format="json")
    assert response.status_code == 413 and response.json()["code"] == "too_large"


def test_an_id_in_a_path_is_read_in_either_case(api):
    created = create(api).json()
    upper = created["id"].upper()
    assert api.get(f"/queries/orders/{upper}").json() == created
    assert api.get(f"/events/{upper}").json()[0]["aggregate_id"] == created["id"]
    confirmed = api.post(f"/commands/orders/{upper}/confirm", {}, format="json")
    assert confirmed.status_code == 200 and confirmed.json()["id"] == created["id"]
    assert api.get("/queries/orders/NOT-A-UUID").status_code == 404
