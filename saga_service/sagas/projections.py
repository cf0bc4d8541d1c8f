"""How saga events become the saga list and the saga log (same transaction as the events).

One batch handler: a saga transaction appends a few events (its start, or the results of
the steps since its last write and perhaps its end), a rebuild page two thousand. The
events are folded into row values in memory first, then each table gets one multi-row
INSERT for its new rows and one UPDATE per changed row, in plain SQL: every order appends
to the saga log twice, and building ORM queries cost more than running them.
"""

from datetime import UTC, datetime, timedelta

from eventkit.batching import command_cursor
from eventkit.projections import RowWrites, projection
from eventkit.records import Recorded
from sagas.domain import (
    CompensationStarted,
    SagaCompensated,
    SagaCompleted,
    SagaFailed,
    SagaResumed,
    SagaStarted,
    StepFailed,
    StepPaused,
    StepStarted,
    StepSucceeded,
)
from sagas.models import SagaStepView, SagaView, step_row_id

sagas = projection("sagas", models=[SagaView, SagaStepView])

Status = SagaView.Status
StepStatus = SagaStepView.Status


@sagas.batch
def apply_sagas(batch: list[Recorded]) -> None:
    saga_rows, step_rows = RowWrites(SagaView), RowWrites(SagaStepView)
    for recorded in batch:
        _fold(recorded, saga_rows, step_rows)
    with command_cursor() as cursor:
        saga_rows.write(cursor)
        step_rows.write(cursor)


def _fold(recorded: Recorded, saga_rows: RowWrites, step_rows: RowWrites) -> None:
    event, saga_id, at = recorded.event, recorded.stream_id, recorded.recorded_at
    match event:
        case SagaStarted():
            saga_rows.new[saga_id] = {
                "saga_id": saga_id,
                "order_id": event.order_id,
                "status": Status.RUNNING,
                "reason": "",
                "customer_name": event.customer_name,
                "product_id": event.product_id,
                "product_name": event.product_name,
                "quantity": event.quantity,
                "total_price": event.total_price,
                "faults": event.faults,
                "resumptions": 0,
                "created_at": at,
                "updated_at": at,
                "finished_at": None,
            }
        case SagaResumed():
            saga_rows.add(saga_id, "resumptions", 1)
            saga_rows.change(saga_id, updated_at=at)
        case CompensationStarted():
            saga_rows.change(
                saga_id, status=Status.COMPENSATING, reason=event.reason[:1000], updated_at=at
            )
        case SagaCompleted():
            saga_rows.change(
                saga_id, status=Status.COMPLETED, reason="", updated_at=at, finished_at=at
            )
        case SagaCompensated() | SagaFailed():
            status = Status.COMPENSATED if isinstance(event, SagaCompensated) else Status.FAILED
            saga_rows.change(
                saga_id, status=status, reason=event.reason[:1000], updated_at=at, finished_at=at
            )
        case StepStarted():
            began = (
                at if event.started_at is None else datetime.fromtimestamp(event.started_at, UTC)
            )
            _new_step(step_rows, saga_id, event, started_at=began)
            saga_rows.change(saga_id, updated_at=at)
        case StepPaused():
            step_rows.change(
                step_row_id(saga_id, event.seq),
                attempts=event.attempts,
                duration_ms=event.duration_ms,
                message=f"waiting for the resumer: {event.error}"[:1000],
            )
            saga_rows.change(saga_id, updated_at=at)
        case StepSucceeded():
            _step_ended(
                step_rows,
                saga_id,
                event,
                at,
                status=StepStatus.COMPLETED,
                message=event.message,
            )
        case StepFailed():
            _step_ended(
                step_rows,
                saga_id,
                event,
                at,
                status=StepStatus.FAILED,
                error=event.error[:1000],
                message=f"{FAILURE_WORDS.get(event.kind, event.kind)}: {event.error}"[:1000],
            )


# How a failed step's message says what kind of failure it was (the driver's words are
# "rejected" and "unknown"; a log line "unknown: 503: ..." read as a garbled error).
FAILURE_WORDS = {"rejected": "refused", "unknown": "outcome unknown"}


def _new_step(step_rows: RowWrites, saga_id, event, *, started_at) -> None:
    row_id = step_row_id(saga_id, event.seq)
    step_rows.new[row_id] = {
        "id": row_id,
        "saga_id": saga_id,
        "seq": event.seq,
        "step": event.step,
        "compensating": event.compensating,
        "status": StepStatus.STARTED,
        "message": "",
        "error": "",
        "attempts": 0,
        "started_at": started_at,
        "finished_at": None,
        "duration_ms": None,
    }


def _step_ended(step_rows: RowWrites, saga_id, event, at, **columns) -> None:
    # Steps that succeed wait for the saga's next write (ADR 0005): the write's time is not
    # the step's. Outcomes say when the step ended; those written before say nothing, and
    # the write's time stands in.
    ended = at if event.ended_at is None else datetime.fromtimestamp(event.ended_at, UTC)
    if event.includes_start:
        # No StepStarted was written: the step began as long before as it took.
        _new_step(
            step_rows,
            saga_id,
            event,
            started_at=ended - timedelta(milliseconds=event.duration_ms),
        )
    step_rows.change(
        step_row_id(saga_id, event.seq),
        attempts=event.attempts,
        duration_ms=event.duration_ms,
        finished_at=ended,
        **columns,
    )
