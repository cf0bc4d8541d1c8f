"""The saga API and repository in-process, against the real database.

Participants are unreachable here (their URLs point at a closed port), which is itself a
case worth testing: the saga must give up at its deadline and keep its compensation
pending, not crash. Cross-service behaviour is tested with live processes in tests/.
"""

import itertools
import socket
import time
import uuid
from datetime import datetime

import pytest

from eventkit.models import Event
from sagas.domain import COMPENSATING, SagaStarted
from sagas.models import SagaLease, SagaView
from sagas.repository import BUSY, FINISHED, RESUMED, STARTED, LeaseLost, SagaRepository

pytestmark = pytest.mark.django_db

LAPTOP = "a1111111-1111-1111-1111-111111111111"
# A place-order body that names its price, so the saga does not look the product up.
PRICED = {
    "customer_name": "A",
    "product_id": LAPTOP,
    "quantity": 1,
    "product_name": "Laptop",
    "total_price": 120000,
}


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def api():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def nobody_home(settings):
    settings.ORDER_SERVICE_URL = settings.INVENTORY_SERVICE_URL = closed_port_url()
    settings.SAGA = {
        **settings.SAGA,
        "DEADLINE_SECONDS": 0.3,
        "COMPENSATION_SECONDS": 0.2,
        "CONNECT_TIMEOUT_SECONDS": 0.2,
    }


def details(order_id=None, **overrides) -> SagaStarted:
    data = {
        "order_id": str(order_id or uuid.uuid4()),
        "customer_name": "Yamada",
        "product_id": LAPTOP,
        "product_name": "Laptop",
        "quantity": 1,
        "total_price": 120_000,
        "deadline_at": time.time() + 10,
        "faults": {},
        **overrides,
    }
    return SagaStarted(**data)


def test_faults_are_a_400_unless_enabled(api):
    body = {
        "customer_name": "A",
        "product_id": LAPTOP,
        "quantity": 1,
        "faults": {"CreateOrder": "fail"},
    }
    response = api.post("/saga/place-order", body, format="json")
    assert response.status_code == 400 and response.json()["code"] == "faults_disabled"


def test_product_lookup_with_inventory_down_is_503(api, nobody_home):
    body = {"customer_name": "A", "product_id": LAPTOP, "quantity": 1}
    response = api.post("/saga/place-order", body, format="json")
    assert response.status_code == 503 and response.json()["code"] == "inventory_unavailable"
    assert response["Retry-After"] == "2"


def test_with_participants_down_the_saga_stops_at_its_deadline_and_waits_to_compensate(
    api, nobody_home
):
    response = api.post("/saga/place-order", PRICED, format="json")
    assert response.status_code == 202
    outcome = response.json()
    assert outcome["status"] == COMPENSATING and outcome["success"] is False
    assert [(s["action"], s["status"]) for s in outcome["saga_log"]] == [
        ("CreateOrder", "FAILED"),
        ("CancelOrder (COMPENSATING)", "STARTED"),
    ]
    assert "unreachable" in outcome["saga_log"][0]["error"]
    assert outcome["saga_log"][0]["message"].startswith("outcome unknown: unreachable")
    waiting = outcome["saga_log"][1]
    assert waiting["attempts"] >= 1 and waiting["message"].startswith("waiting for the resumer")
    # The driver let go of its lease so the resumer can carry on at once.
    assert SagaLease.objects.get(saga_id=outcome["saga_id"]).expires_at.timestamp() <= time.time()
    listed = api.get("/sagas", {"status": "COMPENSATING"})
    assert listed["X-Total-Count"] == "1"
    assert listed.json()[0]["reason"] == outcome["reason"]
    assert api.get(f"/sagas/{outcome['order_id']}").json()["saga_log"] == outcome["saga_log"]


def test_an_idempotency_key_without_an_order_id_names_one_order(api, nobody_home):
    first = api.post("/saga/place-order", PRICED, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post("/saga/place-order", PRICED, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    other = api.post("/saga/place-order", PRICED, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert first.json()["order_id"] == again.json()["order_id"] != other.json()["order_id"]
    assert SagaView.objects.count() == 2
    too_long = api.post("/saga/place-order", PRICED, format="json", HTTP_IDEMPOTENCY_KEY="k" * 201)
    assert too_long.status_code == 400


def test_a_command_id_in_the_body_names_the_order_as_the_key_does(api, nobody_home):
    """As in every participant's command: a client that learnt ``command_id`` there must
    not place an order twice here."""
    keyed = api.post("/saga/place-order", {**PRICED, "command_id": "k-1"}, format="json")
    again = api.post("/saga/place-order", PRICED, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert keyed.json()["order_id"] == again.json()["order_id"]
    assert SagaView.objects.count() == 1
    too_long = api.post("/saga/place-order", {**PRICED, "command_id": "k" * 201}, format="json")
    assert too_long.status_code == 400
    header_too_long = api.post(
        "/saga/place-order",
        {**PRICED, "command_id": "k-1"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k" * 201,
    )
    assert header_too_long.status_code == 400


def test_unknown_saga_is_404_and_bad_filters_are_400(api):
    assert api.get(f"/sagas/{uuid.uuid4()}").status_code == 404
    assert api.get("/sagas", {"status": "DONE"}).status_code == 400


def test_a_saga_is_driven_by_one_owner_until_its_lease_lapses():
    from sagas.selectors import saga_outcome

    first = SagaRepository(owner="first", lease_seconds=60)
    second = SagaRepository(owner="second", lease_seconds=60)
    d = details()
    saga, standing = first.begin_or_join(d)
    assert standing == STARTED
    assert second.begin_or_join(d)[1] == BUSY
    with pytest.raises(LeaseLost):
        second.record(saga.id, lambda s: None)
    SagaLease.objects.filter(pk=saga.id).update(expires_at="2000-01-01T00:00Z")
    resumed, standing = second.begin_or_join(d)
    assert standing == RESUMED and resumed.resumptions == 1
    assert saga_outcome(saga_id=saga.id)["resumptions"] == 1
    with pytest.raises(LeaseLost):
        first.renew(saga.id)
    assert SagaView.objects.get(pk=saga.id).resumptions == 1

    def results_that_no_longer_fit(saga):
        raise RuntimeError("no step in progress")

    with pytest.raises(LeaseLost):  # the stalled first owner: told, not crashed
        first.record(saga.id, results_that_no_longer_fit)
    with pytest.raises(RuntimeError):  # the owner's own mistake stays one
        second.record(saga.id, results_that_no_longer_fit)


@pytest.mark.parametrize(
    "skewed", ["the holder runs an hour behind", "the taker runs an hour ahead"]
)
def test_a_lease_held_is_held_whatever_the_hosts_clocks_say(skewed):
    """Leases are timed by the database's clock: a host's own clock, an hour off, neither
    makes a live lease look lapsed nor lets a resumer take it."""
    from datetime import timedelta
    from unittest import mock

    from django.utils import timezone

    from sagas.selectors import abandoned_saga_ids

    def on_a_clock(hours):
        return mock.patch(
            "django.utils.timezone.now", return_value=timezone.now() + timedelta(hours=hours)
        )

    behind, ahead = (-1, 0) if "behind" in skewed else (0, 1)
    holder = SagaRepository(owner="holder", lease_seconds=60)
    with on_a_clock(behind):
        saga, _ = holder.begin_or_join(details())
        holder.renew(saga.id)
    with on_a_clock(ahead):
        assert saga.id not in abandoned_saga_ids()
        assert SagaRepository(owner="taker", lease_seconds=60).take_over(saga.id) is None
    assert SagaLease.objects.get(pk=saga.id).owner == "holder"


def test_the_resumer_looks_only_at_sagas_whose_lease_lapsed():
    from sagas.selectors import abandoned_saga_ids

    repository = SagaRepository(owner="web", lease_seconds=60)
    driven, _ = repository.begin_or_join(details())
    lapsed, _ = repository.begin_or_join(details())
    orphan, _ = repository.begin_or_join(details())
    SagaLease.objects.filter(pk=lapsed.id).update(expires_at="2000-01-01T00:00Z")
    SagaLease.objects.filter(pk=orphan.id).delete()
    found = set(abandoned_saga_ids())
    assert found == {lapsed.id, orphan.id} and driven.id not in found


def test_the_resumer_takes_the_sagas_it_tried_longest_ago_first():
    """A round takes a bounded number: sagas it just tried (still waiting on a participant)
    go to the back, so a saga abandoned later is not starved by older ones that cannot
    finish yet."""
    from sagas.selectors import abandoned_saga_ids

    repository = SagaRepository(owner="web", lease_seconds=60)
    older, _ = repository.begin_or_join(details())
    newer, _ = repository.begin_or_join(details())
    SagaLease.objects.all().delete()  # both owners died
    assert abandoned_saga_ids(limit=1) == [older.id]
    resumer = SagaRepository(owner="resumer", lease_seconds=60)
    resumer.take_over(older.id)  # tried, and still waiting
    SagaLease.objects.filter(pk=older.id).delete()
    assert abandoned_saga_ids(limit=1) == [newer.id]


def test_a_take_over_retried_after_another_resumer_took_the_lease_returns_nothing(monkeypatch):
    """The first attempt took the lease and then lost a race at commit; by the retry another
    resumer holds it: there is nothing for us to drive."""
    from datetime import timedelta

    from django.db.models.functions import Now

    from eventkit import store

    repository = SagaRepository(owner="web", lease_seconds=60)
    saga, _ = repository.begin_or_join(details())
    SagaLease.objects.filter(pk=saga.id).update(expires_at="2000-01-01T00:00Z")
    real_execute, attempts = store.execute, []

    def racing(command, **options):
        def attempt(session):
            attempts.append(1)
            if len(attempts) == 2:
                SagaLease.objects.filter(pk=saga.id).update(
                    owner="another resumer", expires_at=Now() + timedelta(seconds=60)
                )
            value = command(session)
            if len(attempts) == 1:
                raise store.ConcurrencyError("lost a race at commit")
            return value

        return real_execute(attempt, **options)

    monkeypatch.setattr(store, "execute", racing)
    assert SagaRepository(owner="resumer", lease_seconds=60).take_over(saga.id) is None
    assert len(attempts) == 2


def test_a_finished_saga_is_answered_not_rerun():
    from sagas.domain import OK, StepResult

    repository = SagaRepository(owner="me", lease_seconds=60)
    d = details()
    saga, _ = repository.begin_or_join(d)
    for _ in range(3):
        saga = repository.record(saga.id, lambda s: s.record_result(StepResult(OK, "done")))
    assert saga.succeeded and not SagaLease.objects.filter(pk=saga.id).exists()
    count = Event.objects.filter(stream_id=saga.id).count()
    assert repository.begin_or_join(d)[1] == FINISHED
    assert Event.objects.filter(stream_id=saga.id).count() == count


def test_a_finished_saga_whose_row_was_lost_is_a_503_that_names_the_remedy(api):
    """Found from outside: placed again while its row was missing (deleted by hand, or a
    rebuild not done yet), a finished saga was a 500 with a traceback."""
    from sagas.domain import OK, StepResult
    from sagas.models import SagaStepView

    repository = SagaRepository(owner="me", lease_seconds=60)
    d = details()
    saga, _ = repository.begin_or_join(d)
    for _ in range(3):
        saga = repository.record(saga.id, lambda s: s.record_result(StepResult(OK, "done")))
    SagaStepView.objects.all().delete()
    SagaView.objects.all().delete()
    body = {key: getattr(d, key) for key in ("customer_name", "product_name", "quantity")}
    body.update(order_id=str(d.order_id), product_id=str(d.product_id))
    body.update(total_price=d.total_price)
    again = api.post("/saga/place-order", body, format="json")
    assert again.status_code == 503, again.content
    assert again.json()["code"] == "read_model_drift"


def test_rebuild_reproduces_the_saga_log(api, nobody_home):
    from django.core.management import call_command

    api.post("/saga/place-order", PRICED, format="json")
    call_command("rebuild_projections", "--check", "--no-progress", verbosity=0)


def test_check_sees_a_time_wiped_to_null_and_a_json_column_changed():
    """The database compares the columns, null-safely: NULL against a time is drift."""
    import io

    from django.core.management import CommandError, call_command

    from sagas.domain import OK, StepResult

    repository = SagaRepository(owner="me", lease_seconds=60)
    saga, _ = repository.begin_or_join(details(faults={"reserve": "fail"}))
    for _ in range(3):
        saga = repository.record(saga.id, lambda s: s.record_result(StepResult(OK, "done")))
    finished_at = SagaView.objects.get(pk=saga.id).finished_at
    SagaView.objects.filter(pk=saga.id).update(finished_at=None, faults={})
    out = io.StringIO()
    with pytest.raises(CommandError, match="drifted"):
        call_command("rebuild_projections", "--check", "--no-progress", stdout=out)
    assert f"row {saga.id} faults is {{}}, the events say {{'reserve': 'fail'}}" in out.getvalue()
    assert f"row {saga.id} finished_at is None, the events say {finished_at!r}" in out.getvalue()


def test_steps_whose_start_was_not_written_are_in_the_saga_log():
    from datetime import datetime, timedelta

    from django.core.management import call_command

    from sagas.domain import OK, StepResult
    from sagas.selectors import saga_outcome

    repository = SagaRepository(owner="me", lease_seconds=60)
    saga, _ = repository.begin_or_join(details())
    results = [StepResult(OK, f"done {n}", duration_ms=250.0) for n in range(3)]

    def all_three(s):  # as the driver writes a saga that succeeds: its end holds every step
        for result in results:
            s.record_result(result)

    saga = repository.record(saga.id, all_three)
    types = Event.objects.filter(stream_id=saga.id).order_by("version")
    assert list(types.values_list("event_type", flat=True)) == [
        "SagaStarted",
        "StepStarted",
        "StepSucceeded",
        "StepSucceeded",
        "StepSucceeded",
        "SagaCompleted",
    ]
    log = saga_outcome(saga_id=saga.id)["saga_log"]
    assert [(e["step"], e["action"], e["status"], e["message"]) for e in log] == [
        (1, "CreateOrder", "COMPLETED", "done 0"),
        (2, "ReserveInventory", "COMPLETED", "done 1"),
        (3, "ConfirmOrder", "COMPLETED", "done 2"),
    ]
    for entry in log[1:]:  # begun as long before their end as they took
        started, finished = (datetime.fromisoformat(entry[k]) for k in ("timestamp", "finished_at"))
        assert finished - started == timedelta(milliseconds=250)
    call_command("rebuild_projections", "--check", "--no-progress", verbosity=0)


def logged_run(participants, *, policy, **options) -> list[dict]:
    """Drive a new saga with ``participants`` to its end; its saga log as the API answers it."""
    from sagas.orchestrator import Driver
    from sagas.selectors import saga_outcome

    repository = SagaRepository(owner="me", lease_seconds=60)
    saga, _ = repository.begin_or_join(details())
    Driver(
        repository=repository,
        participants=participants,
        policy=policy,
        faults_enabled=False,
        **options,
    ).run(saga)
    return saga_outcome(saga_id=saga.id)["saga_log"]


def test_a_saga_log_written_at_once_keeps_each_steps_own_times():
    """A successful step waits for the saga's next write; its row still says when it began
    and ended, so the log reads in the order the steps ran."""
    from sagas.orchestrator import Reply, RetryPolicy

    class Participants:
        def call(self, step, saga, **kwargs):
            time.sleep(0.02)  # each call takes a while, as a participant's would
            return Reply("ok", f"{step} done")

    log = logged_run(
        Participants(),
        policy=RetryPolicy(compensation_seconds=1),
        unsaved_seconds=60,  # all three successes go out in the final write
    )
    assert [s["action"] for s in log] == ["CreateOrder", "ReserveInventory", "ConfirmOrder"]
    for earlier, later in itertools.pairwise(log):
        assert earlier["timestamp"] < later["timestamp"]
        assert earlier["finished_at"] <= later["timestamp"]


def test_a_retried_step_is_logged_from_its_first_attempt_not_from_the_write_before_a_retry():
    """Before a retry the saga is written, with the retried step's start: the row still says
    when the step began, and its duration covers every attempt."""
    from sagas.orchestrator import Reply, RetryPolicy

    class Participants:
        def __init__(self):
            self.reserves = 0

        def call(self, step, saga, **kwargs):
            if step == "ReserveInventory":
                self.reserves += 1
                if self.reserves == 1:
                    time.sleep(0.2)  # the first attempt hangs, then times out
                    return Reply("unknown", "timed out", "timeout")
            return Reply("ok", f"{step} done")

    create, reserve, _ = logged_run(Participants(), policy=RetryPolicy(backoff_base=0.001))
    assert reserve["attempts"] == 2 and reserve["duration_ms"] >= 200
    assert create["finished_at"] <= reserve["timestamp"]
    began, ended = (datetime.fromisoformat(reserve[k]) for k in ("timestamp", "finished_at"))
    assert (ended - began).total_seconds() * 1000 >= reserve["duration_ms"] - 1


def test_the_list_gives_each_saga_as_its_own_answer_gives_it_log_included(api):
    """The UI's saga view reads one page of sagas, not one detail per saga: a saga whose
    order was never created has no order to look up."""
    from sagas.domain import OK, REJECTED, StepResult

    repository = SagaRepository(owner="me", lease_seconds=60)
    refused, _ = repository.begin_or_join(details())
    repository.record(refused.id, lambda s: s.record_result(StepResult(REJECTED, "no")))
    running, _ = repository.begin_or_join(details())
    repository.record(running.id, lambda s: s.record_result(StepResult(OK, "created")))

    listed = api.get("/sagas", {"limit": 1, "offset": 1})
    assert listed["X-Total-Count"] == "2"
    [first] = listed.json()
    answered = api.get(f"/sagas/{first['order_id']}").json()
    assert first == {**answered, "updated_at": first["updated_at"]}
    assert [s["action"] for s in first["saga_log"]] == ["CreateOrder"]
    both = {s["saga_id"]: s for s in api.get("/sagas").json()}
    assert [s["status"] for s in both[str(running.id)]["saga_log"]] == ["COMPLETED", "STARTED"]


def test_a_saga_without_a_reason_lists_it_as_null_as_its_answer_does(api):
    SagaRepository(owner="me", lease_seconds=60).begin_or_join(details())
    [listed] = api.get("/sagas").json()
    assert listed["status"] == "RUNNING" and listed["reason"] is None


def test_a_sagas_answer_writes_its_times_as_its_list_and_the_other_services_do(api):
    """ISO 8601 in UTC with a Z, whichever of the saga's endpoints answers."""
    from sagas.domain import OK, StepResult
    from sagas.selectors import saga_outcome

    repository = SagaRepository(owner="me", lease_seconds=60)
    saga, _ = repository.begin_or_join(details())
    repository.record(saga.id, lambda s: s.record_result(StepResult(OK, "created")))
    [listed] = api.get("/sagas").json()
    outcome = saga_outcome(saga_id=saga.id)
    assert outcome["created_at"] == listed["created_at"]
    [created, reserving] = outcome["saga_log"]
    times = [outcome["created_at"], created["timestamp"], created["finished_at"]]
    assert all(t.endswith("Z") for t in [*times, reserving["timestamp"]])


@pytest.mark.django_db(transaction=True)
def test_requests_waiting_on_another_owners_saga_hold_no_database_connection(settings):
    """A repeated place-order for a saga that another process drives waits for its end.
    The waiters must not keep a pooled connection each: the saga's process has more threads
    than connections, and a worker that died mid-saga leaves its sagas' leases to lapse
    first, so its clients' retries would otherwise hold every connection and answer even
    the health check 503."""
    import threading

    from django.db import connection

    from sagas import selectors, services

    pool_size = settings.DATABASES["default"]["OPTIONS"]["pool"]["max_size"]
    d = details()
    SagaRepository(owner="a dead worker", lease_seconds=60).begin_or_join(d)
    connection.close()  # this thread's connection goes back: the waiters may take them all
    polls: dict[int, int] = {}
    all_polling = threading.Event()
    finished = selectors.saga_finished

    def counted(saga_id):
        me = threading.get_ident()
        polls[me] = polls.get(me, 0) + 1
        if len(polls) == pool_size and min(polls.values()) >= 2:
            all_polling.set()
        return finished(saga_id)

    def repeated_request():
        try:
            services.place_order(
                order_id=uuid.UUID(d.order_id),
                customer_name=d.customer_name,
                product_id=uuid.UUID(d.product_id),
                product_name=d.product_name,
                quantity=d.quantity,
                total_price=d.total_price,
                wait_seconds=3,
            )
        finally:
            connection.close()  # the end of the request

    services.selectors.saga_finished = counted
    try:
        waiters = [threading.Thread(target=repeated_request) for _ in range(pool_size)]
        for waiter in waiters:
            waiter.start()
        assert all_polling.wait(10)
        answered = []

        def another_request():
            count = SagaView.objects.count()
            answered.append((count, sum(w.is_alive() for w in waiters)))
            connection.close()

        other = threading.Thread(target=another_request)
        other.start()
        other.join(10)
        assert answered == [(1, pool_size)]  # answered while every waiter still waits
    finally:
        services.selectors.saga_finished = finished
        for waiter in waiters:
            waiter.join(10)


@pytest.mark.django_db(transaction=True)  # the resumer's threads have connections of their own
def test_a_saga_that_cannot_be_resumed_does_not_stop_the_others(monkeypatch, caplog):
    """An unexpected error driving one saga (a bug, a participant's nonsense) ended the whole
    pass, and the resumer process with it; the others waited for its restart (found in
    review). It is logged, and that saga is tried again once its lease lapses."""
    from sagas import services

    repository = SagaRepository(owner="web", lease_seconds=60)
    broken, _ = repository.begin_or_join(details())
    fine, _ = repository.begin_or_join(details())
    SagaLease.objects.all().delete()  # both owners died

    def drive(repository, saga):
        if saga.id == broken.id:
            raise RuntimeError("a participant answered nonsense")

    monkeypatch.setattr(services, "_drive", drive)
    assert services.resume_unfinished(workers=1) == [str(fine.id)]
    assert f"saga {broken.id} could not be resumed" in caplog.text
    assert "a participant answered nonsense" in caplog.text


class RecordingParticipants:
    """Participants that agree to every step and note the correlation id each call was
    sent with, and the one current in the thread that sent it."""

    calls: list = []

    def call(self, step, saga, *, compensating, correlation_id=None):
        from sagas.domain import OK
        from sagas.orchestrator import Reply
        from servicekit.context import current_correlation_id

        self.calls.append((step, correlation_id, current_correlation_id()))
        return Reply(OK, f"{step} done")


def resumed_under(monkeypatch, caplog, saga_id) -> tuple[list, list, list]:
    """Resume the saga (its owner died) with participants that agree: the correlation ids
    of the calls it sent, of its log lines and of the events its resumption wrote."""
    import logging

    from sagas import services
    from servicekit.logging import ContextFilter

    SagaLease.objects.filter(pk=saga_id).delete()
    monkeypatch.setattr(RecordingParticipants, "calls", [])
    monkeypatch.setattr(services, "Participants", RecordingParticipants)
    caplog.set_level(logging.INFO, logger="sagas")
    caplog.handler.addFilter(ContextFilter())  # as the console handler stamps each line
    events = Event.objects.filter(stream_id=saga_id).order_by("version")
    started = events.count()
    assert services.resume_unfinished(workers=1) == [str(saga_id)]
    lines = [r.correlation_id for r in caplog.records if r.name.startswith("sagas")]
    resumption = [e.metadata.get("correlation_id") for e in events[started:]]
    return RecordingParticipants.calls, lines, resumption


@pytest.mark.django_db(transaction=True)  # the resumer's threads have connections of their own
def test_a_resumed_saga_carries_the_correlation_id_of_the_request_that_started_it(
    monkeypatch, caplog
):
    """Found from outside: a resumed saga logged under "-", and each call it sent was given
    a new id by its participant, so nothing tied the resumption to the order's request."""
    from servicekit import context

    token = context.correlation_id.set("order-request-1")
    try:
        saga, _ = SagaRepository(owner="web", lease_seconds=60).begin_or_join(details())
    finally:
        context.correlation_id.reset(token)
    calls, lines, resumption = resumed_under(monkeypatch, caplog, saga.id)
    assert [step for step, *_ in calls] == ["CreateOrder", "ReserveInventory", "ConfirmOrder"]
    assert {(sent, current) for _, sent, current in calls} == {("order-request-1",) * 2}
    assert lines and set(lines) == {"order-request-1"}
    assert resumption and set(resumption) == {"order-request-1"}
    assert context.current_correlation_id() is None


@pytest.mark.django_db(transaction=True)
def test_a_resumed_saga_that_kept_no_correlation_id_gets_one_for_its_resumption(
    monkeypatch, caplog
):
    saga, _ = SagaRepository(owner="web", lease_seconds=60).begin_or_join(details())
    started = Event.objects.filter(stream_id=saga.id).earliest("version")
    assert "correlation_id" not in started.metadata  # placed by no request
    calls, lines, resumption = resumed_under(monkeypatch, caplog, saga.id)
    ids = {sent for _, sent, _ in calls} | set(lines) | set(resumption)
    assert len(ids) == 1 and None not in ids and "-" not in ids


def test_the_watching_resumer_waits_out_a_database_failure(monkeypatch, settings):
    """A dropped connection ended the resumer with a traceback, for its supervisor to restart
    (found from outside); it now says so in one line and tries again on its next round."""
    import os
    import signal

    from django.core.management import call_command
    from django.db import OperationalError

    from sagas.management.commands import resume_sagas

    settings.SAGA = {**settings.SAGA, "RESUME_INTERVAL_SECONDS": 0.01}
    rounds = []

    def resume_unfinished():
        rounds.append(1)
        if len(rounds) == 1:
            raise OperationalError("terminating connection due to administrator command")
        os.kill(os.getpid(), signal.SIGTERM)  # as the supervisor stops it
        return []

    monkeypatch.setattr(resume_sagas, "resume_unfinished", resume_unfinished)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        call_command("resume_sagas", "--watch")
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert len(rounds) == 2


def test_the_watching_resumer_says_what_it_resumed_in_a_log_line(settings, monkeypatch, caplog):
    """Found from outside: under `up` its one line had no time stamp and no level, unlike
    every other line of the service's log."""
    import io
    import logging
    import os
    import signal

    from django.core.management import call_command

    from sagas.management.commands import resume_sagas

    settings.SAGA = {**settings.SAGA, "RESUME_INTERVAL_SECONDS": 0.01}
    rounds = []

    def resume_unfinished():
        rounds.append(1)
        if len(rounds) == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # as the supervisor stops it
        return ["saga-1"] if len(rounds) == 1 else []

    monkeypatch.setattr(resume_sagas, "resume_unfinished", resume_unfinished)
    caplog.set_level(logging.INFO, logger=resume_sagas.__name__)
    out = io.StringIO()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        call_command("resume_sagas", "--watch", stdout=out)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert "resumed 1 saga(s): saga-1" in caplog.messages
    assert out.getvalue() == ""
