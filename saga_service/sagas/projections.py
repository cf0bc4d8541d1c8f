"""How saga events become the saga list and the saga log (same transaction as the events)."""

from django.db.models import F

from eventkit.projections import projection
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


def _saga(recorded, **changes):
    SagaView.objects.filter(pk=recorded.stream_id).update(
        updated_at=recorded.recorded_at, **changes
    )


@sagas.on(SagaStarted)
def saga_started(event, recorded):
    SagaView.objects.create(
        saga_id=recorded.stream_id,
        order_id=event.order_id,
        status=SagaView.Status.RUNNING,
        customer_name=event.customer_name,
        product_id=event.product_id,
        product_name=event.product_name,
        quantity=event.quantity,
        total_price=event.total_price,
        faults=event.faults,
        created_at=recorded.recorded_at,
        updated_at=recorded.recorded_at,
    )


@sagas.on(SagaResumed)
def saga_resumed(event, recorded):
    _saga(recorded, resumptions=F("resumptions") + 1)


@sagas.on(CompensationStarted)
def compensation_started(event, recorded):
    _saga(recorded, status=SagaView.Status.COMPENSATING, reason=event.reason[:1000])


@sagas.on(SagaCompleted)
def saga_completed(event, recorded):
    _saga(recorded, status=SagaView.Status.COMPLETED, finished_at=recorded.recorded_at)


@sagas.on(SagaCompensated)
def saga_compensated(event, recorded):
    _saga(
        recorded,
        status=SagaView.Status.COMPENSATED,
        reason=event.reason[:1000],
        finished_at=recorded.recorded_at,
    )


@sagas.on(SagaFailed)
def saga_failed(event, recorded):
    _saga(
        recorded,
        status=SagaView.Status.FAILED,
        reason=event.reason[:1000],
        finished_at=recorded.recorded_at,
    )


@sagas.on(StepStarted)
def step_started(event, recorded):
    SagaStepView.objects.create(
        id=step_row_id(recorded.stream_id, event.seq),
        saga_id=recorded.stream_id,
        seq=event.seq,
        step=event.step,
        compensating=event.compensating,
        status=SagaStepView.Status.STARTED,
        started_at=recorded.recorded_at,
    )
    _saga(recorded)


def _step_finished(event, recorded, **changes):
    SagaStepView.objects.filter(pk=step_row_id(recorded.stream_id, event.seq)).update(
        attempts=event.attempts,
        duration_ms=event.duration_ms,
        finished_at=recorded.recorded_at,
        **changes,
    )


@sagas.on(StepSucceeded)
def step_succeeded(event, recorded):
    _step_finished(event, recorded, status=SagaStepView.Status.COMPLETED, message=event.message)


@sagas.on(StepFailed)
def step_failed(event, recorded):
    _step_finished(
        event,
        recorded,
        status=SagaStepView.Status.FAILED,
        error=event.error[:1000],
        message=f"{event.kind}: {event.error}"[:1000],
    )
