"""In-memory stand-ins for the saga's repository, participants and clock."""

import uuid

from sagas.domain import OK, PlaceOrderSaga, SagaStarted
from sagas.orchestrator import Reply


class MemoryRepository:
    def __init__(self):
        self.streams: dict = {}
        self.writes = 0  # transactions, as the real repository would run them

    def begin(self, details: SagaStarted) -> PlaceOrderSaga:
        saga = PlaceOrderSaga(uuid.uuid4())
        saga.begin(details)
        self._save(saga)
        return saga

    def load(self, saga_id) -> PlaceOrderSaga:
        return PlaceOrderSaga.replay(saga_id, self.streams[saga_id])

    def record(self, saga_id, change) -> PlaceOrderSaga:
        saga = self.load(saga_id)
        change(saga)
        self._save(saga)
        return saga

    def renew(self, saga_id) -> None:
        pass

    def _save(self, saga):
        self.writes += 1
        self.streams.setdefault(saga.id, []).extend(saga.pending_events())
        saga.mark_saved()


class ScriptedParticipants:
    """Answers each step from a script (a list of replies, the last one repeating)."""

    def __init__(self, **script: list[Reply]):
        self.script = script
        self.calls: list[str] = []

    def call(self, step, saga, **kwargs) -> Reply:
        self.calls.append(step)
        replies = self.script.get(step)
        if not replies:
            return Reply(OK, f"{step} done")
        return replies.pop(0) if len(replies) > 1 else replies[0]


class FakeClock:
    def __init__(self, now: float = 1_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.01)


def details(faults=None, deadline_in: float = 10.0, clock: FakeClock | None = None) -> SagaStarted:
    now = clock() if clock else 1_000.0
    return SagaStarted(
        order_id=str(uuid.uuid4()),
        customer_name="Yamada",
        product_id=str(uuid.uuid4()),
        product_name="Laptop",
        quantity=1,
        total_price=120_000,
        deadline_at=now + deadline_in,
        faults=faults or {},
    )
