"""Reads of the saga read models, shaped as the API answers them."""

from collections import defaultdict

from django.db.models.functions import Now

from contracts.sagas import step_action
from eventkit.models import Event
from eventkit.rows import rows_query, select_row, select_rows, select_rows_together
from eventkit.snapshots import read_page, snapshot
from sagas.models import SagaLease, SagaStepView, SagaView
from sagas.repository import saga_id_for
from servicekit.api import api_value

STEP_FIELDS = [
    "seq",
    "step",
    "status",
    "error",
    "message",
    "compensating",
    "attempts",
    "started_at",
    "finished_at",
    "duration_ms",
]
OUTCOME_FIELDS = [
    "order_id",
    "saga_id",
    "status",
    "reason",
    "customer_name",
    "product_id",
    "product_name",
    "quantity",
    "total_price",
    "resumptions",
    "created_at",
    "finished_at",
]


def _log(steps: list[dict]) -> list[dict]:
    return [
        {
            "step": s["seq"],
            "action": step_action(s["step"], s["compensating"]),
            "status": s["status"],
            "error": s["error"] or None,
            "message": s["message"],
            "compensating": s["compensating"],
            "attempts": s["attempts"],
            "timestamp": api_value(s["started_at"]),
            "finished_at": api_value(s["finished_at"]),
            "duration_ms": s["duration_ms"],
        }
        for s in steps
    ]


def saga_outcome(*, saga_id=None, order_id=None) -> dict | None:
    """The saga of ``saga_id`` (or of ``order_id``) as the API answers it, or None.

    Every placed order is answered with it, so it is read in plain SQL, the saga and its
    steps in one round trip."""
    saga_id = saga_id or saga_id_for(order_id)
    sagas, steps = select_rows_together(
        rows_query(SagaView, OUTCOME_FIELDS, saga_id=saga_id),
        rows_query(SagaStepView, STEP_FIELDS, saga_id=saga_id, order_by=["seq"]),
    )
    return _outcome(sagas[0], steps) if sagas else None


def _outcome(saga: dict, steps: list[dict]) -> dict:
    return {
        "order_id": str(saga["order_id"]),
        "saga_id": str(saga["saga_id"]),
        "success": saga["status"] == SagaView.Status.COMPLETED,
        "status": saga["status"],
        "reason": saga["reason"] or None,
        "customer_name": saga["customer_name"],
        "product_id": str(saga["product_id"]),
        "product_name": saga["product_name"],
        "quantity": saga["quantity"],
        "total_price": saga["total_price"],
        "resumed": saga["resumptions"] > 0,
        "resumptions": saga["resumptions"],
        "created_at": api_value(saga["created_at"]),
        "finished_at": api_value(saga["finished_at"]),
        "saga_log": _log(steps),
    }


def saga_finished(saga_id) -> bool:
    row = select_row(SagaView, ["finished_at"], saga_id=saga_id)
    return row is not None and row["finished_at"] is not None


def saga_list(*, status: str | None, limit: int, offset: int) -> tuple[list[dict], int]:
    """A page of sagas, newest first, each as its own answer gives it (log included) plus
    when it last changed; and how many there are. Page, count and logs from one snapshot."""
    sagas = SagaView.objects.order_by("-created_at", "-saga_id")
    if status:
        sagas = sagas.filter(status=status)
    with snapshot():
        page, total = read_page(
            sagas.values(*OUTCOME_FIELDS, "updated_at"), limit=limit, offset=offset
        )
        steps = select_rows(
            SagaStepView,
            ["saga_id", *STEP_FIELDS],
            saga_id=[s["saga_id"] for s in page],
            order_by=["seq"],
        )
    logs = defaultdict(list)
    for step in steps:
        logs[step["saga_id"]].append(step)
    listed = [
        {**_outcome(s, logs[s["saga_id"]]), "updated_at": api_value(s["updated_at"])} for s in page
    ]
    return listed, total


def abandoned_saga_ids(limit: int = 100) -> list:
    """Unfinished sagas that no live process drives: their lease has lapsed, or is gone.

    Under load dozens of sagas are running at any moment, each driven by a web thread; the
    resumer must not lock each of their streams every few seconds only to find the lease
    held. Whoever takes one over checks the lease again under the lock
    (``SagaRepository.take_over``): a lease renewed since this read wins.

    Least recently touched first: a round takes at most ``limit``, and each pass writes to
    its saga, so sagas still waiting on a participant go to the back of the queue instead of
    starving one abandoned after them."""
    unfinished = (SagaView.Status.RUNNING, SagaView.Status.COMPENSATING)
    driven = SagaLease.objects.filter(expires_at__gte=Now()).values("saga_id")
    return list(
        SagaView.objects.filter(status__in=unfinished)
        .exclude(saga_id__in=driven)
        .order_by("updated_at", "created_at")
        .values_list("saga_id", flat=True)[:limit]
    )


def saga_correlation_id(saga_id) -> str | None:
    """The correlation id of the request that started the saga, as its events' metadata
    keeps it (``eventkit.store.execute`` stamps every event with the one current then); the
    earliest one that has it, should its first event have been written without."""
    return (
        Event.objects.filter(stream_id=saga_id, metadata__has_key="correlation_id")
        .order_by("version")
        .values_list("metadata__correlation_id", flat=True)
        .first()
    )
