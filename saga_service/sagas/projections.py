"""How saga events become the saga list and the saga log (same transaction as the events).

One batch handler: a saga transaction appends two or three events (a step's result, the
next step's start, perhaps the saga's end), a rebuild page two thousand. The events are
folded into row values in memory first, then each table gets one multi-row INSERT for its
new rows and one UPDATE per changed row, in plain SQL: the saga service appends four times
per order, and building ORM queries cost more than running them.
"""

from eventkit.batching import command_cursor
from eventkit.projections import RowWrites, projection
from eventkit.store import Recorded
from sagas.domain import (
    CompensationStarted,
    SagaCompensated,
    SagaCompleted,
    SagaFailed,
    SagaResumed,
    SagaStarted,
    StepFailed,
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
            saga_rows.change(saga_id, status=Status.COMPLETED, updated_at=at, finished_at=at)
        case SagaCompensated() | SagaFailed():
            status = Status.COMPENSATED if isinstance(event, SagaCompensated) else Status.FAILED
            saga_rows.change(
                saga_id, status=status, reason=event.reason[:1000], updated_at=at, finished_at=at
            )
        case StepStarted():
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
                "started_at": at,
                "finished_at": None,
                "duration_ms": None,
            }
            saga_rows.change(saga_id, updated_at=at)
        case StepSucceeded():
            step_rows.change(
                step_row_id(saga_id, event.seq),
                status=StepStatus.COMPLETED,
                message=event.message,
                attempts=event.attempts,
                duration_ms=event.duration_ms,
                finished_at=at,
            )
        case StepFailed():
            step_rows.change(
                step_row_id(saga_id, event.seq),
                status=StepStatus.FAILED,
                error=event.error[:1000],
                message=f"{event.kind}: {event.error}"[:1000],
                attempts=event.attempts,
                duration_ms=event.duration_ms,
                finished_at=at,
            )
