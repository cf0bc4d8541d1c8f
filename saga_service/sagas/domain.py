"""The place-order saga as an event-sourced aggregate: plain Python, no HTTP, no ORM.

The saga's state is the fold of its own events. ``SagaStarted`` is committed before any
participant is called, and every decision that changes the saga's course (a failure, the
compensation that follows, the end) is committed before it is acted on. A successful step
is committed together with whatever is written next (``sagas.orchestrator``; ADR 0005): a
process that restarts runs the steps after the last commit again, and each one that had
happened answers as it did, since every participant call is idempotent.

    SagaStarted -> StepStarted(CreateOrder) | StepSucceeded -> StepFailed(ReserveInventory,
      rejected, includes_start) -> CompensationStarted -> StepStarted(CancelOrder,
      compensating) | StepSucceeded -> SagaCompensated          (| marks a write)

A compensation whose participant still does not answer after ``compensation_seconds`` is
left started for the resumer, with a ``StepPaused`` that counts the attempts made so far.

A step's ``StepStarted`` is written only if the step is in flight when the saga is written:
one whose outcome goes into the same write is taken back, and the outcome says so
(``includes_start``). A saga that succeeds is six events, not eight, and a written
``StepStarted`` means that the step was under way at that moment.

The driver (``sagas.orchestrator``) asks :attr:`PlaceOrderSaga.current` what to do next, does
it, and hands the :class:`StepResult` to :meth:`PlaceOrderSaga.record_result`, which decides
what follows: the next step, compensation, or the end.
"""

from dataclasses import dataclass, field, replace
from functools import singledispatchmethod

from contracts.sagas import step_action
from eventkit.domain import Aggregate, DomainEvent, event
from eventkit.errors import Conflict
from sagas.definition import PLACE_ORDER, STEP_NAMES, compensations_after_failure

RUNNING, COMPENSATING = "RUNNING", "COMPENSATING"
COMPLETED, COMPENSATED, FAILED = "COMPLETED", "COMPENSATED", "FAILED"
FINISHED = (COMPLETED, COMPENSATED, FAILED)

OK, REJECTED, UNKNOWN = "ok", "rejected", "unknown"


@event("SagaStarted")
class SagaStarted(DomainEvent):
    order_id: str
    customer_name: str
    product_id: str
    product_name: str
    quantity: int
    total_price: int
    deadline_at: float  # wall-clock seconds; forward steps are not retried past it
    faults: dict = field(default_factory=dict)


@event("SagaResumed")
class SagaResumed(DomainEvent):
    owner: str


@event("StepStarted")
class StepStarted(DomainEvent):
    seq: int
    step: str
    compensating: bool
    # When the step began (epoch s): the step before it ended then. The write may come
    # later (before a retry); the first step's, and logs before, say nothing: the write's time.
    started_at: float | None = None


@event("StepSucceeded")
class StepSucceeded(DomainEvent):
    seq: int
    step: str
    compensating: bool
    attempts: int
    duration_ms: float
    message: str
    includes_start: bool = False  # no StepStarted was written for this step
    ended_at: float | None = None  # when the step ended (epoch s); logs before: at the write


@event("StepFailed")
class StepFailed(DomainEvent):
    seq: int
    step: str
    compensating: bool
    attempts: int
    duration_ms: float
    error: str
    kind: str  # "rejected": it did not happen; "unknown": it may have
    includes_start: bool = False  # no StepStarted was written for this step
    ended_at: float | None = None  # when the step ended (epoch s); logs before: at the write


@event("StepPaused")
class StepPaused(DomainEvent):
    """A pass gave up on a compensation for now; the resumer tries it again later.

    ``attempts`` and ``duration_ms`` count every pass so far, so the step's outcome, when it
    comes, says how hard it was to get. A pass that died (a killed process) could not write
    this: its attempts are not counted."""

    seq: int
    step: str
    compensating: bool
    attempts: int
    duration_ms: float
    error: str


@event("CompensationStarted")
class CompensationStarted(DomainEvent):
    reason: str
    compensations: list


@event("SagaCompleted")
class SagaCompleted(DomainEvent):
    message: str


@event("SagaCompensated")
class SagaCompensated(DomainEvent):
    reason: str


@event("SagaFailed")
class SagaFailed(DomainEvent):
    """A compensation was refused: the saga cannot finish on its own (an operator must)."""

    reason: str


@dataclass(frozen=True)
class StepResult:
    """What one step's participant call came to, after retries."""

    kind: str  # OK | REJECTED | UNKNOWN
    message: str = ""
    code: str = ""
    attempts: int = 1
    duration_ms: float = 0.0
    order_status: str = ""  # what the order service said the order's status was, if it did
    ended_at: float | None = None  # the driver's clock when the answer came

    @property
    def ok(self) -> bool:
        return self.kind == OK


@dataclass(frozen=True)
class CurrentStep:
    seq: int
    step: str
    compensating: bool

    @property
    def action(self) -> str:
        return step_action(self.step, self.compensating)


class DetailsMismatch(Conflict):
    code = "order_mismatch"


class PlaceOrderSaga(Aggregate):
    stream_type = "PlaceOrderSaga"

    def __init__(self, stream_id):
        super().__init__(stream_id)
        self.details: SagaStarted | None = None
        self.status: str | None = None
        self.reason = ""
        self.current: CurrentStep | None = None
        self.compensations_left: tuple[str, ...] = ()
        self.last_seq = 0
        self.resumptions = 0
        self.failure: tuple[str, str] | None = None  # the forward step that failed, and how
        # Successes wait for the next write, so an owner that stopped may have run steps
        # past its written one: from this step on, the last take-over cannot know.
        self.inherited_from: int | None = None
        self.failure_inherited = False
        # what earlier passes spent on the current step: attempts, milliseconds
        self.spent: tuple[int, float] = (0, 0.0)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def succeeded(self) -> bool:
        return self.status == COMPLETED

    # -- folding ------------------------------------------------------------------------

    @singledispatchmethod
    def apply(self, event):
        raise TypeError(f"PlaceOrderSaga cannot apply {event!r}")

    @apply.register
    def _(self, event: SagaStarted):
        self.details, self.status = event, RUNNING

    @apply.register
    def _(self, event: SagaResumed):
        self.resumptions += 1
        if self.current is not None:
            self.inherited_from = self.current.seq

    @apply.register
    def _(self, event: StepStarted):
        self.current = CurrentStep(event.seq, event.step, event.compensating)
        self.last_seq = event.seq
        self.spent = (0, 0.0)

    @apply.register
    def _(self, event: StepPaused):
        self.spent = (event.attempts, event.duration_ms)

    @apply.register
    def _(self, event: StepSucceeded):
        self.current, self.last_seq = None, max(self.last_seq, event.seq)
        if event.compensating:
            self.compensations_left = tuple(s for s in self.compensations_left if s != event.step)

    @apply.register
    def _(self, event: StepFailed):
        self.current, self.last_seq = None, max(self.last_seq, event.seq)
        if not event.compensating:
            self.failure = (event.step, event.kind)
            self.failure_inherited = self.inherited(event.seq)

    @apply.register
    def _(self, event: CompensationStarted):
        self.status, self.reason = COMPENSATING, event.reason
        self.compensations_left = tuple(event.compensations)

    @apply.register
    def _(self, event: SagaCompleted):
        # a saga completed after compensating began (its confirm had landed) failed nothing
        self.status, self.reason = COMPLETED, ""

    @apply.register
    def _(self, event: SagaCompensated):
        self.status, self.reason = COMPENSATED, event.reason

    @apply.register
    def _(self, event: SagaFailed):
        self.status, self.reason = FAILED, event.reason

    # -- decisions ----------------------------------------------------------------------

    def begin(self, details: SagaStarted) -> None:
        if self.exists:
            if _same_order(self.details, details):
                return
            raise DetailsMismatch(
                f"order {details.order_id} was already placed with other details",
                order_id=details.order_id,
            )
        self.record(details)
        self._start(PLACE_ORDER[0].name, compensating=False)

    def inherited(self, seq: int) -> bool:
        """Whether the owner before the last take-over may have begun step ``seq``, or
        run it and gone on past it without writing."""
        return self.inherited_from is not None and seq >= self.inherited_from

    def resume(self, owner: str) -> None:
        if not self.finished:
            self.record(SagaResumed(owner=owner))

    def record_result(self, result: StepResult) -> None:
        """Record how the current step went, and start whatever comes next."""
        current = self.current
        if current is None:
            raise RuntimeError(f"saga {self.id} has no step in progress")
        if current.compensating and result.kind == UNKNOWN:
            raise ValueError("an unfinished compensation stays started until it succeeds")
        result = self._with_spent(result)
        self.record(_outcome_event(current, result, includes_start=self._take_back_start()))
        if not current.compensating:
            self._after_forward_step(current, result)
        elif result.ok:
            self._next_compensation(at=result.ended_at)
        elif (
            current.step == "CancelOrder"
            and result.order_status == "CONFIRMED"
            and self.failure is not None
            and self.failure[1] == UNKNOWN
            and (self.failure[0] == "ConfirmOrder" or self.failure_inherited)
        ):
            # The confirm went unanswered, or the owner before the take-over may have run
            # it unwritten, and it had landed: the saga succeeded, and its stock is still
            # held (CancelOrder runs before ReleaseInventory here, and a confirm only
            # follows a reserve). After any other failure a confirmed order means someone
            # else drove the saga on: that is for an operator, below.
            self.record(SagaCompleted(message="the order was confirmed after all"))
        else:
            self.record(SagaFailed(reason=f"{current.step} was refused: {result.message}"))

    def pause(self, result: StepResult) -> None:
        """Leave the current compensation, still unanswered, for the resumer."""
        current = self.current
        if current is None or not current.compensating or result.kind != UNKNOWN:
            raise ValueError("only a compensation whose outcome is unknown waits for the resumer")
        result = self._with_spent(result)
        self.record(
            StepPaused(
                seq=current.seq,
                step=current.step,
                compensating=True,
                attempts=result.attempts,
                duration_ms=round(result.duration_ms, 2),
                error=result.message,
            )
        )

    def _with_spent(self, result: StepResult) -> StepResult:
        attempts, duration_ms = self.spent
        return replace(
            result,
            attempts=attempts + result.attempts,
            duration_ms=duration_ms + result.duration_ms,
        )

    def _after_forward_step(self, current: CurrentStep, result: StepResult) -> None:
        index = STEP_NAMES.index(current.step)
        if result.ok:
            if index + 1 < len(PLACE_ORDER):
                self._start(PLACE_ORDER[index + 1].name, compensating=False, at=result.ended_at)
            else:
                self.record(SagaCompleted(message="order confirmed"))
            return
        unknown = result.kind == UNKNOWN
        if unknown and self.inherited(current.seq):
            # The owner before may have gone on past this step unwritten, up to the last:
            # each compensation runs, and fences off whatever of it is still on its way.
            index = len(PLACE_ORDER) - 1
        compensations = compensations_after_failure(index, outcome_unknown=unknown)
        reason = f"{current.step} failed: {result.message}"
        self.record(CompensationStarted(reason=reason, compensations=compensations))
        self._next_compensation(at=result.ended_at)

    def _next_compensation(self, *, at: float | None) -> None:
        if self.compensations_left:
            self._start(self.compensations_left[0], compensating=True, at=at)
        else:
            self.record(SagaCompensated(reason=self.reason))

    def _start(self, step: str, *, compensating: bool, at: float | None = None) -> None:
        self.record(
            StepStarted(seq=self.last_seq + 1, step=step, compensating=compensating, started_at=at)
        )

    def _take_back_start(self) -> bool:
        """Take back the current step's StepStarted if it has not been saved: its outcome,
        about to be recorded in the same batch, stands for it. Whether it was taken back."""
        seq = self.current.seq
        for pending in reversed(self.pending_events()):
            if isinstance(pending, StepStarted) and pending.seq == seq:
                return self.take_back(pending)
        return False


def _outcome_event(
    current: CurrentStep, result: StepResult, *, includes_start: bool
) -> DomainEvent:
    common = {
        "seq": current.seq,
        "step": current.step,
        "compensating": current.compensating,
        "attempts": result.attempts,
        "duration_ms": round(result.duration_ms, 2),
        "includes_start": includes_start,
        "ended_at": result.ended_at,
    }
    if result.ok:
        return StepSucceeded(**common, message=result.message)
    return StepFailed(**common, error=result.message, kind=result.kind)


# What the customer asked for, not what the caller derived from it: a retry priced after a
# price change (or named after a rename) is the same order, answered as placed.
ORDER_KEYS = ("order_id", "customer_name", "product_id", "quantity")


def _same_order(a: SagaStarted, b: SagaStarted) -> bool:
    return all(getattr(a, k) == getattr(b, k) for k in ORDER_KEYS)
