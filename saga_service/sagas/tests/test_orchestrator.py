"""The saga's decisions and retries, driven in memory: no HTTP, no database."""

import pytest

from sagas.definition import compensations_after_failure
from sagas.domain import (
    COMPENSATED,
    COMPENSATING,
    COMPLETED,
    FAILED,
    OK,
    REJECTED,
    UNKNOWN,
    DetailsMismatch,
    PlaceOrderSaga,
    SagaCompleted,
    StepFailed,
    StepPaused,
    StepResult,
    StepStarted,
    StepSucceeded,
)
from sagas.orchestrator import Driver, Reply, RetryPolicy
from sagas.tests.fakes import FakeClock, MemoryRepository, ScriptedParticipants, details

REFUSED = Reply(REJECTED, "only 0 available", "insufficient_stock")
TIMEOUT = Reply(UNKNOWN, "timed out", "timeout")


def run(participants, *, faults=None, deadline_in=10.0, crash=None, compensation_seconds=5.0):
    clock = FakeClock()
    repository = MemoryRepository()
    saga = repository.begin(details(faults, deadline_in, clock))
    crashes = []
    driver = Driver(
        repository=repository,
        participants=participants,
        policy=RetryPolicy(compensation_seconds=compensation_seconds),
        faults_enabled=True,
        clock=clock,
        sleep=clock.sleep,
        crash=crash or crashes.append,
    )
    return driver.run(saga), repository, driver, crashes


def log(repository, saga):
    """(action, outcome) per step, as the saga log shows it."""
    entries = {}
    for e in repository.streams[saga.id]:
        if isinstance(e, StepStarted | StepSucceeded | StepFailed):
            action = f"{e.step} (COMPENSATING)" if e.compensating else e.step
            if isinstance(e, StepStarted):
                assert e.seq not in entries, f"step {e.seq} started twice"
            else:  # an outcome follows its written start, or stands for it
                assert e.includes_start == (e.seq not in entries), e
            entries[e.seq] = [action, _STATUS[type(e)]]
    return [tuple(v) for _, v in sorted(entries.items())]


_STATUS = {StepStarted: "STARTED", StepSucceeded: "COMPLETED", StepFailed: "FAILED"}


def kinds(events) -> list[str]:
    """Event types, with a + on an outcome that stands for its unwritten start."""
    return [type(e).__name__ + ("+" if getattr(e, "includes_start", False) else "") for e in events]


def test_happy_path_creates_reserves_confirms():
    participants = ScriptedParticipants()
    saga, repository, *_ = run(participants)
    assert saga.status == COMPLETED and saga.succeeded
    assert participants.calls == ["CreateOrder", "ReserveInventory", "ConfirmOrder"]
    assert log(repository, saga) == [
        ("CreateOrder", "COMPLETED"),
        ("ReserveInventory", "COMPLETED"),
        ("ConfirmOrder", "COMPLETED"),
    ]


def test_a_step_start_is_written_only_if_the_step_is_in_flight_at_a_write():
    saga, repository, *_ = run(ScriptedParticipants())
    assert kinds(repository.streams[saga.id]) == [
        "SagaStarted",
        "StepStarted",  # the first write: CreateOrder is called after it
        "StepSucceeded",
        "StepSucceeded+",
        "StepSucceeded+",
        "SagaCompleted",
    ]
    assert repository.writes == 2
    # what is written folds to the state the driver decided on
    replayed = repository.load(saga.id)
    assert (replayed.status, replayed.last_seq, replayed.current) == (COMPLETED, 3, None)


def test_a_compensation_in_flight_keeps_its_start_in_the_failure_write():
    saga, repository, *_ = run(ScriptedParticipants(ReserveInventory=[REFUSED]))
    assert kinds(repository.streams[saga.id]) == [
        "SagaStarted",
        "StepStarted",
        "StepSucceeded",
        "StepFailed+",
        "CompensationStarted",
        "StepStarted",  # CancelOrder is called after this write
        "StepSucceeded",
        "SagaCompensated",
    ]
    assert repository.load(saga.id).last_seq == 3


def test_a_log_written_before_starts_were_taken_back_still_folds():
    """Sagas written before 2026-12-03 have a StepStarted before every outcome."""
    steps = ["CreateOrder", "ReserveInventory", "ConfirmOrder"]
    done = {"compensating": False, "attempts": 1, "duration_ms": 5.0, "message": "done"}
    old = [details()]
    for seq, step in enumerate(steps, 1):
        old += [StepStarted(seq, step, False), StepSucceeded(seq, step, **done)]
    saga = PlaceOrderSaga.replay("s", [*old, SagaCompleted("order confirmed")])
    assert (saga.status, saga.last_seq, saga.version) == (COMPLETED, 3, 8)


def test_short_stock_cancels_the_order_as_the_seed_did():
    participants = ScriptedParticipants(ReserveInventory=[REFUSED])
    saga, repository, *_ = run(participants)
    assert saga.status == COMPENSATED
    assert "ReserveInventory failed: only 0 available" in saga.reason
    assert log(repository, saga) == [
        ("CreateOrder", "COMPLETED"),
        ("ReserveInventory", "FAILED"),
        ("CancelOrder (COMPENSATING)", "COMPLETED"),
    ]


def test_a_refused_confirm_releases_stock_then_cancels():
    participants = ScriptedParticipants(ConfirmOrder=[Reply(REJECTED, "no", "illegal_transition")])
    saga, *_ = run(participants)
    assert saga.status == COMPENSATED
    assert participants.calls[3:] == ["ReleaseInventory", "CancelOrder"]


def test_a_participant_back_before_the_deadline_lets_the_saga_finish():
    participants = ScriptedParticipants(ReserveInventory=[TIMEOUT, TIMEOUT, Reply(OK, "held")])
    saga, repository, *_ = run(participants)
    assert saga.status == COMPLETED
    succeeded = [e for e in repository.streams[saga.id] if isinstance(e, StepSucceeded)]
    assert succeeded[1].attempts == 3 and "after 3 attempts" in succeeded[1].message


def test_an_unknown_reserve_at_the_deadline_is_compensated_including_itself():
    participants = ScriptedParticipants(ReserveInventory=[TIMEOUT])
    saga, repository, *_ = run(participants, deadline_in=2.0)
    assert saga.status == COMPENSATED
    assert participants.calls.count("ReserveInventory") > 1
    assert participants.calls[-2:] == ["ReleaseInventory", "CancelOrder"]
    failed = next(e for e in repository.streams[saga.id] if isinstance(e, StepFailed))
    assert failed.kind == UNKNOWN and "deadline" in failed.error


def test_a_refusal_after_an_unanswered_attempt_compensates_the_step_too():
    """The unanswered reserve may still land (once stock is back) and hold stock for a
    cancelled order; releasing it too fences it off."""
    participants = ScriptedParticipants(ReserveInventory=[TIMEOUT, REFUSED])
    saga, repository, *_ = run(participants)
    assert saga.status == COMPENSATED
    assert participants.calls[-2:] == ["ReleaseInventory", "CancelOrder"]
    failed = next(e for e in repository.streams[saga.id] if isinstance(e, StepFailed))
    assert failed.kind == UNKNOWN and "an earlier one unanswered" in failed.error


def resumed_at(step_results, participants):
    """A saga whose earlier owner wrote ``step_results`` and began the next step, then
    stalled; taken over by the resumer."""
    saga, repository, clock = begun()
    for result in step_results:
        repository.record(saga.id, lambda s, r=result: s.record_result(r))
    repository.record(saga.id, lambda s: s.resume("resumer"))
    drive(repository.load(saga.id), repository, clock, participants)
    return repository.load(saga.id), repository


def test_a_refusal_of_a_step_begun_by_the_owner_before_is_compensated_as_unknown():
    """The stalled owner's reserve may still land; the resumer's refused one proves nothing."""
    participants = ScriptedParticipants(ReserveInventory=[REFUSED])
    saga, repository = resumed_at([StepResult(OK, "created")], participants)
    assert saga.status == COMPENSATED
    # the owner may have confirmed too, unwritten: the cancel first, as after a confirm
    assert participants.calls == ["ReserveInventory", "CancelOrder", "ReleaseInventory"]
    failed = next(e for e in repository.streams[saga.id] if isinstance(e, StepFailed))
    assert failed.kind == UNKNOWN


def test_a_refusal_of_a_step_past_the_written_one_is_compensated_as_unknown_when_resumed():
    """Successes wait for the next write, so the owner before us may have gone past the
    written step: its reserve, sent after a CreateOrder it never wrote, may still land."""
    participants = ScriptedParticipants(ReserveInventory=[REFUSED])
    saga, repository = resumed_at([], participants)
    assert saga.status == COMPENSATED
    assert participants.calls == [
        "CreateOrder",
        "ReserveInventory",
        "CancelOrder",
        "ReleaseInventory",
    ]
    failed = next(e for e in repository.streams[saga.id] if isinstance(e, StepFailed))
    assert failed.step == "ReserveInventory" and failed.kind == UNKNOWN


def test_a_resumed_step_left_unknown_compensates_every_step_the_owner_before_may_have_run():
    """Successes wait for the next write: the owner before may have reserved (or even
    confirmed) past its written CreateOrder before it died. Found in review: only
    CancelOrder ran, and the reservation stayed held for a cancelled order."""
    participants = ScriptedParticipants(CreateOrder=[TIMEOUT])
    saga, _ = resumed_at([], participants)
    assert saga.status == COMPENSATED
    assert set(participants.calls[:-2]) == {"CreateOrder"}
    assert participants.calls[-2:] == ["CancelOrder", "ReleaseInventory"]


def test_a_resumed_step_left_unknown_whose_order_the_owner_before_confirmed_completes():
    """The cancel comes first, and a confirmed order refuses it: the owner before finished
    the saga's work (stock reserved before the confirm), so the saga succeeded."""
    confirmed = Reply(REJECTED, "order is CONFIRMED", "illegal_transition", "CONFIRMED")
    participants = ScriptedParticipants(CreateOrder=[TIMEOUT], CancelOrder=[confirmed])
    saga, _ = resumed_at([], participants)
    assert saga.status == COMPLETED
    assert set(participants.calls[:-1]) == {"CreateOrder"}
    assert participants.calls[-1] == "CancelOrder"


def test_a_resumed_step_refused_as_someone_elses_still_compensates_nothing_of_theirs():
    mismatch = Reply(REJECTED, "other details", "order_mismatch")
    participants = ScriptedParticipants(CreateOrder=[mismatch])
    saga, _ = resumed_at([], participants)
    assert saga.status == COMPENSATED
    assert participants.calls == ["CreateOrder"]


def test_a_refusal_that_says_the_id_is_someone_elses_is_not_compensated():
    mismatch = Reply(REJECTED, "other details", "order_mismatch")
    participants = ScriptedParticipants(CreateOrder=[TIMEOUT, mismatch])
    saga, *_ = run(participants)
    assert saga.status == COMPENSATED
    assert participants.calls == ["CreateOrder", "CreateOrder"]  # no CancelOrder of theirs


def test_an_unknown_confirm_is_settled_by_cancelling_first():
    participants = ScriptedParticipants(ConfirmOrder=[TIMEOUT])
    saga, *_ = run(participants, deadline_in=1.0)
    assert saga.status == COMPENSATED
    after_confirm = [c for c in participants.calls if c != "ConfirmOrder"][2:]
    assert after_confirm == ["CancelOrder", "ReleaseInventory"]


def test_an_unknown_confirm_that_had_landed_completes_the_saga_and_keeps_the_stock():
    participants = ScriptedParticipants(
        ConfirmOrder=[TIMEOUT],
        CancelOrder=[Reply(REJECTED, "confirmed", "illegal_transition", "CONFIRMED")],
    )
    saga, *_ = run(participants, deadline_in=1.0)
    assert saga.status == COMPLETED
    assert "ReleaseInventory" not in participants.calls
    assert saga.reason == ""  # its answer gave the confirm's timeout as a reason (from outside)


def test_a_confirmed_order_met_while_compensating_another_failure_is_for_an_operator():
    """Only an unknown confirm may turn out to have landed. After an unknown reserve the
    stock is released before the cancel; a confirmed order then (a stalled owner's late
    confirm) is not a success."""
    participants = ScriptedParticipants(
        ReserveInventory=[TIMEOUT],
        CancelOrder=[Reply(REJECTED, "confirmed", "illegal_transition", "CONFIRMED")],
    )
    saga, *_ = run(participants, deadline_in=1.0)
    assert participants.calls[-2:] == ["ReleaseInventory", "CancelOrder"]
    assert saga.status == FAILED and "CancelOrder was refused" in saga.reason


def test_a_compensation_that_keeps_failing_is_left_started_for_the_resumer():
    participants = ScriptedParticipants(ReserveInventory=[REFUSED], CancelOrder=[TIMEOUT])
    saga, repository, driver, _ = run(participants, compensation_seconds=1.0)
    assert saga.status == COMPENSATING and saga.current.step == "CancelOrder"
    # The order service is back: the resumer finishes the job.
    driver.participants = ScriptedParticipants()
    saga = driver.run(repository.load(saga.id))
    assert saga.status == COMPENSATED


def test_a_compensations_attempts_add_up_over_every_pass_that_tried_it():
    participants = ScriptedParticipants(ReserveInventory=[REFUSED], CancelOrder=[TIMEOUT])
    saga, repository, driver, _ = run(participants, compensation_seconds=1.0)
    first_pass = participants.calls.count("CancelOrder")
    assert first_pass > 1
    paused = repository.streams[saga.id][-1]
    assert isinstance(paused, StepPaused) and paused.attempts == first_pass
    assert "timed out" in paused.error

    # a second pass of the resumer, still unanswered, then a third that gets through
    driver.participants = participants
    saga = driver.run(repository.load(saga.id))
    second_pass = participants.calls.count("CancelOrder") - first_pass
    assert repository.streams[saga.id][-1].attempts == first_pass + second_pass
    driver.participants = ScriptedParticipants()
    saga = driver.run(repository.load(saga.id))

    assert saga.status == COMPENSATED
    cancel = next(
        e for e in repository.streams[saga.id] if isinstance(e, StepSucceeded) and e.compensating
    )
    assert cancel.attempts == first_pass + second_pass + 1


def test_a_refused_compensation_fails_the_saga_for_an_operator():
    participants = ScriptedParticipants(
        ReserveInventory=[REFUSED], CancelOrder=[Reply(REJECTED, "gone", "not_found_elsewhere")]
    )
    saga, *_ = run(participants)
    assert saga.status == FAILED and "CancelOrder was refused" in saga.reason


def test_injected_failure_never_calls_the_participant():
    participants = ScriptedParticipants()
    saga, *_ = run(participants, faults={"ReserveInventory": "fail"})
    assert saga.status == COMPENSATED
    assert participants.calls == ["CreateOrder", "CancelOrder"]


def test_injected_timeout_retries_until_the_deadline_then_compensates():
    participants = ScriptedParticipants()
    saga, *_ = run(participants, faults={"ConfirmOrder": "timeout"}, deadline_in=1.0)
    assert saga.status == COMPENSATED
    assert participants.calls == [
        "CreateOrder",
        "ReserveInventory",
        "CancelOrder",
        "ReleaseInventory",
    ]


def test_crash_after_a_step_then_resume_runs_the_step_again_and_finishes():
    class Crashed(Exception):
        pass

    def crash(step):
        raise Crashed(step)

    participants = ScriptedParticipants()
    clock = FakeClock()
    repository = MemoryRepository()
    saga = repository.begin(details({"ReserveInventory": "crash_after"}, clock=clock))
    driver = Driver(
        repository=repository,
        participants=participants,
        policy=RetryPolicy(),
        faults_enabled=True,
        clock=clock,
        sleep=clock.sleep,
        crash=crash,
    )
    with pytest.raises(Crashed):
        driver.run(saga)
    survivor = repository.load(saga.id)
    # Successes wait for the next write, so the saga is still at its first step: the
    # resumer runs every step again, and each one that had happened answers as before.
    assert survivor.current.step == "CreateOrder"
    repository.record(saga.id, lambda s: s.resume("resumer"))
    saga = driver.run(repository.load(saga.id))
    assert saga.status == COMPLETED
    assert participants.calls == [
        "CreateOrder",
        "ReserveInventory",
        "CreateOrder",
        "ReserveInventory",
        "ConfirmOrder",
    ]
    assert log(repository, saga) == [
        ("CreateOrder", "COMPLETED"),
        ("ReserveInventory", "COMPLETED"),
        ("ConfirmOrder", "COMPLETED"),
    ]


def test_a_saga_that_succeeds_is_written_twice_its_start_and_its_end():
    saga, repository, *_ = run(ScriptedParticipants())
    assert saga.status == COMPLETED
    assert repository.writes == 2


def begun():
    clock = FakeClock()
    repository = MemoryRepository()
    return repository.begin(details(clock=clock)), repository, clock


def drive(saga, repository, clock, participants, **options) -> str:
    """Run ``saga`` to its end with a fresh driver; its final status."""
    driver = Driver(
        repository=repository,
        participants=participants,
        policy=RetryPolicy(),
        clock=clock,
        sleep=clock.sleep,
        **options,
    )
    return driver.run(saga).status


def test_a_failure_is_written_before_its_compensation_runs():
    saga, repository, clock = begun()
    seen = {}

    class Watching(ScriptedParticipants):
        def call(self, step, saga, **kwargs):
            if step == "CancelOrder":
                written = repository.load(saga.id)
                seen["status"], seen["log"] = written.status, log(repository, written)
            return super().call(step, saga, **kwargs)

    assert drive(saga, repository, clock, Watching(ReserveInventory=[REFUSED])) == COMPENSATED
    assert seen["status"] == COMPENSATING
    assert seen["log"] == [
        ("CreateOrder", "COMPLETED"),
        ("ReserveInventory", "FAILED"),
        ("CancelOrder (COMPENSATING)", "STARTED"),
    ]


def test_a_step_being_retried_is_in_the_written_log():
    saga, repository, clock = begun()
    written = []

    class Watching(ScriptedParticipants):
        def call(self, step, saga, **kwargs):
            written.append(log(repository, repository.load(saga.id)))
            return super().call(step, saga, **kwargs)

    participants = Watching(ReserveInventory=[TIMEOUT, Reply(OK, "held")])
    assert drive(saga, repository, clock, participants) == COMPLETED
    # The first reserve is called with CreateOrder's success still unwritten; the retry
    # is not: whoever looks at the saga meanwhile sees what it is waiting for.
    assert written[1] == [("CreateOrder", "STARTED")]
    assert written[2] == [("CreateOrder", "COMPLETED"), ("ReserveInventory", "STARTED")]
    assert repository.writes == 3


def test_a_success_after_a_long_wait_is_written_at_once():
    saga, repository, clock = begun()

    class Slow(ScriptedParticipants):
        def call(self, step, saga, **kwargs):
            if step == "CreateOrder":
                clock.now += 6.0  # longer than unsaved_seconds
            return super().call(step, saga, **kwargs)

    assert drive(saga, repository, clock, Slow(), unsaved_seconds=5.0) == COMPLETED
    assert repository.writes == 3  # the start, CreateOrder at once, then the rest at the end


def test_the_same_order_with_other_details_is_refused():
    repository = MemoryRepository()
    d = details()
    saga = repository.begin(d)
    saga.begin(d)  # the same order again: nothing new
    assert saga.pending_events() == []
    other = type(d)(**{**d.to_data(), "quantity": 5})
    with pytest.raises(DetailsMismatch):
        saga.begin(other)


@pytest.mark.parametrize(
    ("index", "unknown", "expected"),
    [
        (0, False, []),
        (0, True, ["CancelOrder"]),
        (1, False, ["CancelOrder"]),
        (1, True, ["ReleaseInventory", "CancelOrder"]),
        (2, False, ["ReleaseInventory", "CancelOrder"]),
        (2, True, ["CancelOrder", "ReleaseInventory"]),
    ],
)
def test_which_compensations_follow_a_failure(index, unknown, expected):
    assert compensations_after_failure(index, outcome_unknown=unknown) == expected


def test_a_saga_folds_back_to_the_same_state():
    participants = ScriptedParticipants(ReserveInventory=[REFUSED])
    saga, repository, *_ = run(participants)
    again = PlaceOrderSaga.replay(saga.id, repository.streams[saga.id])
    assert (again.status, again.reason, again.current) == (saga.status, saga.reason, None)
