"""Driving a saga: call the current step, retry what may succeed, record what happened.

This module knows nothing of HTTP or the ORM. It needs a *repository* (``record``, ``renew``)
and *participants* (``call``); the real ones are in ``sagas.repository`` and
``sagas.participants``, and the unit tests pass in-memory fakes.

Retry policy: a step whose outcome is unknown (timeout, 5xx, connection refused) is retried
with exponential backoff and full jitter. Forward steps are retried until the saga's
deadline and then compensated; compensations are retried for ``compensation_seconds`` and,
if they still cannot finish, left started for the resumer, because a compensation must
eventually happen. A refusal (4xx) is final at once.
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

FAULT_MODES = ("fail", "timeout", "crash_after")


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
    ):
        self.repository = repository
        self.participants = participants
        self.policy = policy
        self.faults_enabled = faults_enabled
        self.clock = clock
        self.sleep = sleep
        self.crash = crash
        self.correlation_id = correlation_id

    def run(self, saga: PlaceOrderSaga) -> PlaceOrderSaga:
        """Drive ``saga`` until it finishes or a compensation has to wait for the resumer."""
        while saga.current is not None and not saga.finished:
            result = self.attempt(saga)
            if result is None:
                logger.warning(
                    "saga %s: %s still failing; left for the resumer", saga.id, saga.current.step
                )
                break
            saga = self.repository.record(saga.id, lambda s, r=result: s.record_result(r))
            logger.info(
                "saga %s: %s -> %s%s",
                saga.id,
                result.kind,
                saga.status,
                f", next {saga.current.action}" if saga.current else "",
            )
        return saga

    def attempt(self, saga: PlaceOrderSaga) -> StepResult | None:
        step = saga.current
        started = self.clock()
        if step.compensating:
            give_up_at = started + self.policy.compensation_seconds
        else:
            give_up_at = saga.details.deadline_at
        attempts = 0
        while True:
            attempts += 1
            reply = self._call(saga, step.step, step.compensating)
            if reply.kind != UNKNOWN or self.clock() >= give_up_at:
                break
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
            self.repository.renew(saga.id)
        if step.compensating and reply.kind == UNKNOWN:
            return None
        message = reply.message
        if reply.kind == UNKNOWN:
            message = f"{message} (gave up after {attempts} attempts at the deadline)"
        elif attempts > 1:
            message = f"{message} (after {attempts} attempts)"
        return StepResult(
            kind=reply.kind,
            message=message,
            code=reply.code,
            attempts=attempts,
            duration_ms=(self.clock() - started) * 1000,
            order_status=reply.order_status,
        )

    def _call(self, saga: PlaceOrderSaga, step: str, compensating: bool):
        fault = saga.details.faults.get(step) if self.faults_enabled and not compensating else None
        if fault == "fail":
            return Reply(REJECTED, f"injected failure of {step}", "injected_failure")
        if fault == "timeout":
            return Reply(UNKNOWN, f"injected timeout of {step}", "injected_timeout")
        reply = self.participants.call(step, saga, correlation_id=self.correlation_id)
        if fault == "crash_after" and reply.kind == OK and saga.resumptions == 0:
            self.crash(step)
        return reply
