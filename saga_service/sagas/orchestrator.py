"""Driving a saga: call the current step, retry what may succeed, record what happened.

This module knows nothing of HTTP or the ORM. It needs a *repository* (``record``, ``renew``)
and *participants* (``call``); the real ones are in ``sagas.repository`` and
``sagas.participants``, and the unit tests pass in-memory fakes.

Retry policy: a step whose outcome is unknown (timeout, 5xx, connection refused) is retried
with exponential backoff and full jitter. Forward steps are retried until the saga's
deadline and then compensated; compensations are retried for ``compensation_seconds`` and,
if they still cannot finish, left started for the resumer (with the attempts so far, which
the next pass adds to), because a compensation must eventually happen. A refusal (4xx) is
final at once.
"""

import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sagas.domain import OK, REJECTED, UNKNOWN, PlaceOrderSaga, StepResult

logger = logging.getLogger(__name__)

# Refusals that say the id belongs to another request (other details): nothing of ours to
# undo there, whatever became of an earlier attempt, and its compensation would undo theirs.
SOMEONE_ELSES = frozenset({"order_mismatch", "reservation_mismatch"})


@dataclass(frozen=True)
class Reply:
    """One participant's answer: OK, REJECTED (did not happen) or UNKNOWN (may have)."""

    kind: str
    message: str
    code: str = ""
    order_status: str = ""


class Repository(Protocol):
    def record(self, saga_id, change: Callable[[PlaceOrderSaga], None]) -> PlaceOrderSaga: ...

    def renew(self, saga_id) -> None: ...


class ParticipantCaller(Protocol):
    def call(self, step: str, saga: PlaceOrderSaga, **kwargs) -> Reply: ...


@dataclass(frozen=True)
class RetryPolicy:
    compensation_seconds: float = 10.0
    backoff_base: float = 0.05
    backoff_cap: float = 1.0

    def pause(self, attempt: int) -> float:
        return random.uniform(0, min(self.backoff_cap, self.backoff_base * 2**attempt))


def crash_process(step: str) -> None:
    """The ``crash_after`` fault: die like a killed worker, with no cleanup at all."""
    logger.error("fault injection: crashing right after %s", step)
    os._exit(86)


class Driver:
    def __init__(
        self,
        *,
        repository: Repository,
        participants: ParticipantCaller,
        policy: RetryPolicy,
        faults_enabled: bool = False,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        crash: Callable[[str], None] = crash_process,
        correlation_id: str | None = None,
        unsaved_seconds: float = 5.0,
    ):
        self.repository = repository
        self.participants = participants
        self.policy = policy
        self.faults_enabled = faults_enabled
        self.clock = clock
        self.sleep = sleep
        self.crash = crash
        self.correlation_id = correlation_id
        self.unsaved_seconds = unsaved_seconds

    def run(self, saga: PlaceOrderSaga) -> PlaceOrderSaga:
        """Drive ``saga`` until it finishes or a compensation has to wait for the resumer.

        A forward step that succeeded is written together with whatever is written next,
        not in a transaction of its own: should this process die first, the resumer starts
        again from the last write, and each step that had already happened answers as it
        did then, because every participant call is idempotent. What changes the saga's
        course is written before it is acted on: a failure before its compensations, the
        end before the answer. So is a success that kept the saga unwritten for longer than
        ``unsaved_seconds``, well inside its lease.
        """
        unsaved: list[StepResult] = []
        written_at = self.clock()

        def write(paused: StepResult | None = None) -> None:
            nonlocal saga, written_at
            saga = self.repository.record(saga.id, _recorder(tuple(unsaved), paused))
            written_at = self.clock()
            logger.info(
                "saga %s: %s -> %s%s",
                saga.id,
                ", ".join(r.kind for r in unsaved),
                saga.status,
                f", next {saga.current.action}" if saga.current else "",
            )
            unsaved.clear()

        def before_retry() -> None:
            # Waiting anyway: bring the written saga up to the step being retried, so
            # that its log shows what the saga is waiting for. That extends the lease too.
            if unsaved:
                write()
            else:
                self.repository.renew(saga.id)

        while saga.current is not None and not saga.finished:
            # A resumed saga's step in flight was begun by the owner before us, whose call
            # may be on its way still: a refusal now does not prove it did not happen. So
            # may any step after it: the owner may have gone on past the written step.
            inherited = saga.inherited(saga.current.seq)
            result = self.attempt(saga, before_retry, inherited=inherited)
            if saga.current.compensating and result.kind == UNKNOWN:
                logger.warning(
                    "saga %s: %s still failing after %d attempts; left for the resumer",
                    saga.id,
                    saga.current.step,
                    result.attempts,
                )
                write(paused=result)
                break
            unsaved.append(result)
            if result.ok and not saga.current.compensating:
                ahead = saga.branch()  # the saga the repository keeps stays as written
                ahead.record_result(result)
                if not ahead.finished and self.clock() - written_at < self.unsaved_seconds:
                    saga = ahead
                    continue
            write()
        return saga

    def attempt(
        self, saga: PlaceOrderSaga, before_retry: Callable[[], None], *, inherited: bool = False
    ) -> StepResult:
        """Call the current step until it answers for sure, or its time is up.

        ``inherited``: an owner before us may have begun the step, so a call may be on its
        way already, as after an attempt of ours that went unanswered."""
        step = saga.current
        started = self.clock()
        if step.compensating:
            give_up_at = started + self.policy.compensation_seconds
        else:
            give_up_at = saga.details.deadline_at
        attempts = 0
        unanswered = inherited  # an attempt went unanswered: it may still land
        while True:
            attempts += 1
            reply = self._call(saga, step.step, step.compensating)
            if reply.kind != UNKNOWN or self.clock() >= give_up_at:
                break
            unanswered = True
            pause = min(self.policy.pause(attempts), max(0.0, give_up_at - self.clock()))
            logger.info(
                "saga %s: %s attempt %d: %s; retrying in %.2fs",
                saga.id,
                step.step,
                attempts,
                reply.message,
                pause,
            )
            self.sleep(pause)
            before_retry()
        kind, message = reply.kind, reply.message
        if kind == UNKNOWN and not step.compensating:
            message = f"{message} (gave up after {attempts} attempts at the deadline)"
        elif (
            kind == REJECTED
            and unanswered
            and not step.compensating
            and reply.code not in SOMEONE_ELSES
        ):
            # The refusal answers this attempt only. An earlier one, sent with the same key,
            # may still be on its way and apply when it lands (a reserve, once stock is
            # back): the step's outcome is unknown, so its own compensation runs too, and
            # fences it off (a release that finds nothing records a void).
            kind = UNKNOWN
            message = f"{message} (after {attempts} attempts, an earlier one unanswered)"
        elif attempts > 1:
            message = f"{message} (after {attempts} attempts)"
        ended = self.clock()
        return StepResult(
            kind=kind,
            message=message,
            code=reply.code,
            attempts=attempts,
            duration_ms=(ended - started) * 1000,
            order_status=reply.order_status,
            ended_at=ended,
        )

    def _call(self, saga: PlaceOrderSaga, step: str, compensating: bool):
        fault = saga.details.faults.get(step) if self.faults_enabled and not compensating else None
        if fault == "fail":
            return Reply(REJECTED, f"injected failure of {step}", "injected_failure")
        if fault == "timeout":
            return Reply(UNKNOWN, f"injected timeout of {step}", "injected_timeout")
        reply = self.participants.call(
            step, saga, compensating=compensating, correlation_id=self.correlation_id
        )
        if fault == "crash_after" and reply.kind == OK and saga.resumptions == 0:
            self.crash(step)
        return reply


def _recorder(
    results: tuple[StepResult, ...], paused: StepResult | None
) -> Callable[[PlaceOrderSaga], None]:
    def record(saga: PlaceOrderSaga) -> None:
        for result in results:
            saga.record_result(result)
        if paused is not None:
            saga.pause(paused)

    return record
