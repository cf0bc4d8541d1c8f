"""Saga persistence: the event store for state, a lease so one process drives a saga.

Every change to a saga is one transaction that also checks and extends the caller's lease.
A driver that lost its lease (it stalled past expiry and the resumer took over) is stopped
at its next write by :class:`LeaseLost`, so two processes never record steps of one saga;
at worst both have called a participant, and participant calls are idempotent.

Leases are timed by the database's clock, the one clock every saga process shares: with
each host's own, a host whose clock ran ahead would take leases still held, and one whose
clock ran behind would write leases that look lapsed to everyone else.
"""

import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.db import transaction
from django.db.models.functions import Now

from eventkit import store
from eventkit.batching import command_cursor, send
from eventkit.rows import db_value
from eventkit.store import Session
from sagas.domain import PlaceOrderSaga, SagaStarted
from sagas.models import SagaLease, SagaView

logger = logging.getLogger(__name__)

STARTED, RESUMED, FINISHED, BUSY = "started", "resumed", "finished", "busy"


class LeaseLost(Exception):
    """Another process is driving this saga now."""


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class SagaRepository:
    def __init__(self, *, owner: str, lease_seconds: float):
        self.owner = owner
        self.lease_seconds = lease_seconds
        self._order_ids: dict = {}
        self._sagas: dict = {}  # saga id -> the saga as we last committed it

    def _lease_until(self):
        """The end of a lease taken or extended now, by the database's clock."""
        return Now() + timedelta(seconds=self.lease_seconds)

    def begin_or_join(self, details: SagaStarted) -> tuple[PlaceOrderSaga, str]:
        """Start the saga for this order, or find the one that exists.

        Returns the saga and how we stand: STARTED or RESUMED (we hold the lease and must
        drive it), FINISHED (nothing to do), BUSY (another live process is driving it).
        """
        saga_id = saga_id_for(details.order_id)
        self._order_ids[saga_id] = details.order_id
        found: dict = {}

        def command(session: Session) -> str:
            saga = session.load(PlaceOrderSaga, saga_id)
            found["saga"] = saga
            if not saga.exists:
                saga.begin(details)
                session.save(saga)
                self._insert_lease(saga_id)
                return STARTED
            saga.begin(details)  # same order again: no-op, other details: DetailsMismatch
            if saga.finished:
                return FINISHED
            if not self._take_lease(saga_id):
                return BUSY
            saga.resume(self.owner)
            session.save(saga)
            return RESUMED

        outcome = store.execute(
            command, command_type="PlaceOrder", metadata={"order_id": details.order_id}
        )
        if outcome.value in (STARTED, RESUMED):
            self._remember(found["saga"])
        return found["saga"], outcome.value

    def take_over(self, saga_id) -> PlaceOrderSaga | None:
        """For the resumer: the saga, if it is unfinished and its lease has lapsed."""
        found: dict = {}

        def command(session: Session) -> bool:
            found.clear()  # a retried transaction must take the lease again to drive it
            saga = session.load(PlaceOrderSaga, saga_id)
            if not saga.exists or saga.finished or not self._take_lease(saga_id):
                return False
            saga.resume(self.owner)
            session.save(saga)
            found["saga"] = saga
            return True

        store.execute(command, command_type="ResumeSaga", metadata=self._about(saga_id))
        if "saga" in found:
            self._remember(found["saga"])
        return found.get("saga")

    def record(self, saga_id, change: Callable[[PlaceOrderSaga], None]) -> PlaceOrderSaga:
        """Apply ``change`` to the saga and save it, if we still hold its lease.

        The saga we saved last is reused when its stream has not moved (it cannot while we
        hold the lease), so a step costs a row lock and the writes, not a replay.
        """
        cached = self._sagas.pop(saga_id, None)
        found: dict = {}

        def command(session: Session) -> None:
            nonlocal cached
            # stream first, then lease: the lock order of every saga transaction
            saga = session.load(PlaceOrderSaga, saga_id, cached=cached)
            cached = None  # a retried transaction reads the stream again
            try:
                change(saga)
            except Exception:
                # Our results may not fit the saga because another owner drove it on after
                # our lease lapsed (a stalled process): that is a lost lease, not a crash.
                if not self._extend_lease(saga_id):
                    raise LeaseLost(f"saga {saga_id} was driven on by another owner") from None
                raise
            session.save(saga)
            if not self._keep_lease(saga_id, finished=saga.finished):
                owner = SagaLease.objects.filter(pk=saga_id).values_list("owner", flat=True)
                raise LeaseLost(f"saga {saga_id} is driven by {owner.first() or 'nobody'}")
            found["saga"] = saga

        store.execute(command, command_type="RecordSagaStep", metadata=self._about(saga_id))
        return self._remember(found["saga"])

    def _keep_lease(self, saga_id, *, finished: bool) -> bool:
        """Extend our lease, or end it with the saga; False if it is not ours any more."""
        if finished:
            return self._end_lease(saga_id)
        return self._extend_lease(saga_id)

    def _insert_lease(self, saga_id) -> None:
        """A lease of ours for a saga that has none (a new saga, or one whose lease is gone)."""
        with command_cursor() as cursor:
            send(  # queued with the saga's events: nothing reads its result
                cursor,
                "INSERT INTO sagas_lease (saga_id, owner, expires_at) "
                f"VALUES (%s, %s, {_lease_end_sql(cursor)})",
                [db_value(SagaLease, "saga_id", saga_id), self.owner, self.lease_seconds],
            )

    # Every step of every saga runs one of these two: plain SQL, not a queryset to compile.

    def _extend_lease(self, saga_id) -> bool:
        with command_cursor() as cursor:
            cursor.execute(
                f"UPDATE sagas_lease SET expires_at = {_lease_end_sql(cursor)} "
                "WHERE saga_id = %s AND owner = %s",
                [self.lease_seconds, db_value(SagaLease, "saga_id", saga_id), self.owner],
            )
            return cursor.rowcount > 0

    def _end_lease(self, saga_id) -> bool:
        with command_cursor() as cursor:
            cursor.execute(
                "DELETE FROM sagas_lease WHERE saga_id = %s AND owner = %s",
                [db_value(SagaLease, "saga_id", saga_id), self.owner],
            )
            return cursor.rowcount > 0

    def _remember(self, saga: PlaceOrderSaga) -> PlaceOrderSaga:
        if not saga.finished:
            self._sagas[saga.id] = saga
        return saga

    def _about(self, saga_id) -> dict:
        """Every saga event names its order, so subscribers need no saga-to-order lookup."""
        order_id = self._order_ids.get(saga_id)
        if order_id is None:
            order_id = (
                SagaView.objects.filter(pk=saga_id).values_list("order_id", flat=True).first()
            )
            self._order_ids[saga_id] = order_id
        return {"order_id": str(order_id)} if order_id else {}

    def renew(self, saga_id) -> None:
        if not self._extend_lease(saga_id):
            raise LeaseLost(f"saga {saga_id} is no longer ours")

    def release(self, saga_id) -> None:
        """Let the resumer take an unfinished saga at once instead of after expiry."""
        SagaLease.objects.filter(pk=saga_id, owner=self.owner).update(expires_at=Now())

    def load(self, saga_id) -> PlaceOrderSaga:
        with transaction.atomic():
            return Session({}).load(PlaceOrderSaga, saga_id, lock=False)

    def _take_lease(self, saga_id) -> bool:
        taken = (
            SagaLease.objects.filter(pk=saga_id)
            .filter(expires_at__lt=Now())
            .update(owner=self.owner, expires_at=self._lease_until())
        )
        if not taken and not SagaLease.objects.filter(pk=saga_id).exists():
            self._insert_lease(saga_id)
            taken = 1
        return bool(taken)


def _lease_end_sql(cursor) -> str:
    """SQL for the database's clock plus a parameter's seconds, in the form this database
    keeps times in (SQLite: the text Django writes, to the millisecond)."""
    if cursor.db.vendor == "postgresql":
        return "statement_timestamp() + %s * interval '1 second'"
    return "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now', %s || ' seconds')"


SAGA_NAMESPACE = uuid.UUID("8d7f3c2a-6b1e-4f0d-9a5c-3e2b1d4c5f6a")


def saga_id_for(order_id) -> uuid.UUID:
    """One saga per order, so the same order placed twice finds the same saga."""
    return uuid.uuid5(SAGA_NAMESPACE, str(order_id))
