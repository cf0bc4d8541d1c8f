"""The gate that admits a process's sagas: a bounded number at once, a bounded share of
them for one product, in arrival order among those who may be let in."""

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from sagas import admission
from sagas.admission import FairGate


def waiter(gate, timeout, results, name, key=None):
    def wait():
        results.append((name, gate.acquire(timeout, key=key)))

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread


def wait_until_queued(gate, n):
    # the waiters are in the queue: polled, bounded
    for _ in range(1000):
        with gate._lock:
            if len(gate._waiting) == n:
                return
        threading.Event().wait(0.005)
    raise AssertionError(f"{n} waiters never queued")


def test_it_admits_its_size_then_lets_the_rest_in_in_the_order_they_came():
    gate = FairGate(2)
    assert gate.acquire(0) and gate.acquire(0)
    assert not gate.acquire(0)
    results = []
    threads = []
    for name in ("first", "second", "third"):
        threads.append(waiter(gate, 10, results, name))
        wait_until_queued(gate, len(threads))
    gate.release()
    threads[0].join(5)
    gate.release()
    threads[1].join(5)
    assert results == [("first", True), ("second", True)]
    # a newcomer does not pass the one still waiting
    assert not gate.acquire(0)
    gate.release()
    threads[2].join(5)
    assert results[-1] == ("third", True)


def test_a_waiter_that_gave_up_leaves_the_queue_and_takes_no_place():
    gate = FairGate(1)
    assert gate.acquire(0)
    results = []
    waiter(gate, 0.05, results, "impatient").join(5)
    assert results == [("impatient", False)]
    gate.release()
    assert gate.acquire(0)  # the place went back to the gate, not to the one who left


def test_a_waiter_asks_whether_to_give_up_once_and_keeps_its_place_meanwhile():
    gate = FairGate(1)
    assert gate.acquire(0)
    asked = []
    results = []

    def stays():
        asked.append("first")
        return False

    first = threading.Thread(
        target=lambda: results.append(("first", gate.acquire(10, give_up=stays, patience=0.01))),
        daemon=True,
    )
    first.start()
    wait_until_queued(gate, 1)
    for _ in range(1000):  # it has asked, and is still in the queue
        if asked:
            break
        threading.Event().wait(0.005)
    second = waiter(gate, 10, results, "second")
    wait_until_queued(gate, 2)
    gate.release()
    first.join(5)
    assert asked == ["first"] and results == [("first", True)]
    gate.release()
    second.join(5)
    assert results[-1] == ("second", True)


def test_a_waiter_that_gives_up_takes_no_place_and_passes_one_it_was_given_on():
    gate = FairGate(1)
    assert gate.acquire(0)
    assert gate.acquire(10, give_up=lambda: True, patience=0.01) is False
    gate.release()
    assert gate.acquire(0)  # the place went back, not to the one who gave up

    # let in while it was deciding to give up: the place goes on to the next
    gate = FairGate(1)
    assert gate.acquire(0)

    def let_in_meanwhile():
        gate.release()  # the holder leaves just as the waiter decides
        return True

    assert gate.acquire(10, give_up=let_in_meanwhile, patience=0.01) is False
    assert gate.acquire(0)  # the place is free again, not held by the one who gave up


def test_a_waiter_whose_question_fails_leaves_the_queue():
    """Its read failed (the database went away): its place must not wait in the queue for a
    thread that has gone, or the next release would hand it to no one, for good."""
    gate = FairGate(1)
    assert gate.acquire(0)

    def fails():
        raise RuntimeError("database gone")

    with pytest.raises(RuntimeError):
        gate.acquire(10, give_up=fails, patience=0.01)
    gate.release()
    assert gate.acquire(0)


def queue(gate, *waiters: tuple[str, str]):
    """Start a waiter per (name, key), each in the queue before the next comes."""
    results: list[tuple[str, bool]] = []
    threads = {}
    for name, key in waiters:
        threads[name] = waiter(gate, 10, results, name, key)
        wait_until_queued(gate, len(threads))
    return results, threads


def test_one_key_holds_no_more_than_its_share_of_the_places():
    gate = FairGate(4, per_key=2)
    assert gate.acquire(0, key="mouse") and gate.acquire(0, key="mouse")
    assert not gate.acquire(0.05, key="mouse")  # two places free, none of them its
    assert gate.free == 2
    assert gate.acquire(0, key="keyboard")
    gate.release("mouse")
    assert gate.acquire(0, key="mouse")  # a place of its own freed: its share again


def test_another_key_passes_the_waiters_at_their_share():
    """Found from outside: with a product's reserves stalled, its sagas held every turn and
    orders for another product waited 16 s behind them."""
    gate = FairGate(3, per_key=2)
    assert gate.acquire(0, key="mouse") and gate.acquire(0, key="mouse")
    results, threads = queue(gate, ("mouse 3", "mouse"), ("mouse 4", "mouse"))
    assert gate.acquire(0, key="keyboard")  # the free place, past the mouse's waiters
    assert gate.free == 0 and results == []
    gate.release("mouse")
    threads["mouse 3"].join(5)
    gate.release("mouse")
    threads["mouse 4"].join(5)
    assert results == [("mouse 3", True), ("mouse 4", True)]


def test_waiters_that_may_be_let_in_are_let_in_in_the_order_they_came():
    gate = FairGate(2, per_key=1)
    assert gate.acquire(0, key="a") and gate.acquire(0, key="b")
    results, threads = queue(gate, ("a 2", "a"), ("c", "c"), ("b 2", "b"), ("d", "d"))
    for key, name in (("a", "a 2"), ("b", "c"), ("a", "b 2"), ("c", "d")):
        gate.release(key)
        # the place went straight to the waiter: a newcomer finds none free
        assert not gate.acquire(0, key="e")
        threads[name].join(5)
    assert results == [("a 2", True), ("c", True), ("b 2", True), ("d", True)]


def test_a_place_freed_goes_to_the_oldest_waiter_whose_key_is_under_its_share():
    gate = FairGate(2, per_key=1)
    assert gate.acquire(0, key="mouse") and gate.acquire(0, key="keyboard")
    results, threads = queue(
        gate, ("mouse 2", "mouse"), ("mouse 3", "mouse"), ("keyboard 2", "keyboard")
    )
    gate.release("keyboard")
    threads["keyboard 2"].join(5)
    assert results == [("keyboard 2", True)]  # the mouse's waiters were at its share
    gate.release("mouse")
    threads["mouse 2"].join(5)
    assert results[-1] == ("mouse 2", True) and threads["mouse 3"].is_alive()
    gate.release("mouse")
    threads["mouse 3"].join(5)
    assert results[-1] == ("mouse 3", True)


def test_waiters_that_time_out_or_give_up_give_back_every_place_and_share():
    gate = FairGate(3, per_key=2)
    assert gate.acquire(0, key="mouse") and gate.acquire(0, key="mouse")
    assert not gate.acquire(0.05, key="mouse")
    assert not gate.acquire(10, key="mouse", give_up=lambda: True, patience=0.01)

    def fails():
        raise RuntimeError("database gone")

    with pytest.raises(RuntimeError):
        gate.acquire(10, key="mouse", give_up=fails, patience=0.01)

    def let_in_meanwhile():
        gate.release("mouse")  # a mouse's saga ends just as the waiter decides
        return True

    assert not gate.acquire(10, key="mouse", give_up=let_in_meanwhile, patience=0.01)
    gate.release("mouse")
    assert gate.free == 3
    # the mouse's share is whole again: nothing is counted for those who left
    assert gate.acquire(0, key="mouse") and gate.acquire(0, key="mouse")
    assert not gate.acquire(0, key="mouse") and gate.free == 1


def test_a_turn_and_its_products_share_come_back_when_the_saga_raises(monkeypatch):
    gate = FairGate(2, per_key=1)
    monkeypatch.setattr(admission, "_gate", gate)
    with pytest.raises(RuntimeError), admission.driving_turn(product_id="mouse"):
        raise RuntimeError("the saga's driver failed")
    assert gate.free == 2
    assert gate.acquire(0, key="mouse")


@pytest.mark.django_db
def test_a_saga_that_finds_no_turn_in_time_is_a_503_to_come_back_to(settings, monkeypatch):
    from rest_framework.test import APIClient

    settings.SAGA = {**settings.SAGA, "DRIVERS": 1, "TURN_WAIT_SECONDS": 0.05}
    full = FairGate(1)
    assert full.acquire(0)  # another saga holds the only turn
    monkeypatch.setattr(admission, "_gate", full)
    body = {
        "customer_name": "A",
        "product_id": "a1111111-1111-1111-1111-111111111111",
        "quantity": 1,
        "product_name": "Laptop",
        "total_price": 1,
    }
    response = APIClient().post("/saga/place-order", body, format="json")
    assert response.status_code == 503 and response.json()["code"] == "busy"
    assert response["Retry-After"] == "2"


@pytest.mark.django_db
def test_a_repeat_of_a_finished_saga_is_answered_with_every_turn_taken(settings, monkeypatch):
    """Found in review: with a participant hanging and every driver waiting on it, a client's
    retry of a saga that had finished waited 10 s for a turn it did not need, then got 503."""
    from rest_framework.test import APIClient

    _, body = _finished_saga_with_every_turn_taken(settings, monkeypatch)
    response = APIClient().post("/saga/place-order", body, format="json")
    assert response.status_code == 200 and response.json()["status"] == "COMPLETED"


def _finished_saga_with_every_turn_taken(settings, monkeypatch) -> tuple[FairGate, dict]:
    """A saga that has completed, the gate's only turn taken (a driver waiting on a hung
    participant), and the body that placed the saga's order."""
    from sagas.domain import OK, StepResult
    from sagas.repository import SagaRepository
    from sagas.tests.test_api import details

    repository = SagaRepository(owner="me", lease_seconds=60)
    saga, _ = repository.begin_or_join(details())
    for _ in range(3):
        repository.record(saga.id, lambda s: s.record_result(StepResult(OK, "done")))
    full = FairGate(1)
    assert full.acquire(0)
    monkeypatch.setattr(admission, "_gate", full)
    settings.SAGA = {**settings.SAGA, "TURN_WAIT_SECONDS": 0.05}
    d = saga.details
    body = {
        "order_id": d.order_id,
        "customer_name": d.customer_name,
        "product_id": d.product_id,
        "quantity": d.quantity,
        "product_name": d.product_name,
        "total_price": d.total_price,
    }
    return full, body


@pytest.fixture(autouse=True)
def fresh_gate(monkeypatch):
    monkeypatch.setattr(admission, "_gate", None)


@pytest.mark.django_db
def test_a_saga_that_waited_for_its_turn_has_its_whole_deadline_to_retry(settings, monkeypatch):
    """Found in review: the deadline was set when the request came, before its wait for a
    turn, so a saga let in late (every driver busy: the load when participants falter) had
    no time left to retry a step, and a single 503 cancelled an order with stock on the
    shelf."""
    from rest_framework.test import APIClient

    from eventkit.models import Event
    from sagas.tests.test_api import PRICED, closed_port_url

    settings.ORDER_SERVICE_URL = settings.INVENTORY_SERVICE_URL = closed_port_url()
    settings.SAGA = {
        **settings.SAGA,
        "DEADLINE_SECONDS": 0.5,
        "COMPENSATION_SECONDS": 0.05,
        "CONNECT_TIMEOUT_SECONDS": 0.2,
    }
    full = FairGate(1)
    assert full.acquire(0)  # another saga holds the only turn, for longer than the deadline
    monkeypatch.setattr(admission, "_gate", full)
    threading.Timer(0.8, full.release).start()
    response = APIClient().post("/saga/place-order", PRICED, format="json")
    create = response.json()["saga_log"][0]
    assert (create["action"], create["status"]) == ("CreateOrder", "FAILED")
    assert create["attempts"] > 1, create  # retried, not given up after its first refusal
    started = Event.objects.get(event_type="SagaStarted")
    # the deadline is half a second after the saga began, not 0.3 s before it
    assert started.data["deadline_at"] - started.recorded_at.timestamp() > 0.2


@pytest.mark.django_db
def test_a_repeat_with_other_details_is_refused_with_every_turn_taken(settings, monkeypatch):
    """Found in review: with every driver busy, a finished saga answered a request that
    named its order with another quantity as if it were the same order (200, "confirmed"),
    where a free driver answers 409 order_mismatch: the client took its new order for
    placed."""
    from rest_framework.test import APIClient

    full, body = _finished_saga_with_every_turn_taken(settings, monkeypatch)
    body["quantity"] += 1
    response = APIClient().post("/saga/place-order", body, format="json")
    assert response.status_code == 409 and response.json()["code"] == "order_mismatch"
    full.release()  # with a driver free, the same answer
    response = APIClient().post("/saga/place-order", body, format="json")
    assert response.status_code == 409 and response.json()["code"] == "order_mismatch"


MOUSE = "b2222222-2222-2222-2222-222222222222"
KEYBOARD = "c3333333-3333-3333-3333-333333333333"


class OneProductsReservesStall:
    """Participants that answer every call at once, but for the reserves of one product,
    which wait until ``resume`` is set (as they did for its stream row held locked)."""

    def __init__(self, product_id: str):
        self.product_id = product_id
        self.resume = threading.Event()
        self.stalled = 0
        self._lock = threading.Lock()

    def call(self, step, saga, **kwargs):
        from sagas.domain import OK
        from sagas.orchestrator import Reply

        if step == "ReserveInventory" and saga.details.product_id == self.product_id:
            with self._lock:
                self.stalled += 1
            self.resume.wait(10)
        return Reply(OK, f"{step} done")


def order(product_id: str, product_name: str) -> dict:
    from sagas import services

    try:
        outcome, _ = services.place_order(
            order_id=uuid.uuid4(),
            customer_name="A",
            product_id=uuid.UUID(product_id),
            quantity=1,
            product_name=product_name,
            total_price=1,
        )
        return outcome
    finally:
        connection.close()  # the end of the request: its thread's connection goes back


@pytest.mark.django_db(transaction=True)  # each saga is driven on its own thread
def test_orders_for_another_product_are_driven_while_one_products_sagas_stall(
    settings, monkeypatch
):
    """Found from outside: a product's stream row held locked from psql made each of its
    reserves a 503 after 3 s; its sagas retried to their deadline holding every turn, and
    orders for another product, with stock on the shelf, waited 16 s behind them."""
    from sagas import services

    settings.SAGA = {**settings.SAGA, "TURN_WAIT_SECONDS": 3}
    drivers = settings.SAGA["DRIVERS"]  # the defaults: 8, of which 6 for one product
    participants = OneProductsReservesStall(MOUSE)
    monkeypatch.setattr(services, "Participants", lambda: participants)
    gate = admission._the_gate()
    mice = []
    with ThreadPoolExecutor(max_workers=drivers) as pool:
        try:
            mice = [pool.submit(order, MOUSE, "Wireless Mouse") for _ in range(drivers)]
            for _ in range(1000):  # every mouse order stalls in its reserve or waits a turn
                with gate._lock:
                    if participants.stalled + len(gate._waiting) == drivers:
                        break
                time.sleep(0.005)
            else:
                raise AssertionError("the mouse's orders never all came")
            began = time.monotonic()
            keyboard = order(KEYBOARD, "USB Keyboard")
            waited = time.monotonic() - began
        finally:
            participants.resume.set()
    assert keyboard["status"] == "COMPLETED" and waited < 2, waited
    # the mouse's waiters were let in once turns freed
    assert [m.result()["status"] for m in mice] == ["COMPLETED"] * drivers
    assert participants.stalled == drivers and gate.free == drivers
