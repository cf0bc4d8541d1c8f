"""Errors the domain raises and the store raises, free of any HTTP or ORM import.

The API layer maps them to status codes (``servicekit.errors``): a refused command is a
409 with a reason, never a 500.
"""


class DomainError(Exception):
    """A command could not be carried out; ``code`` is stable and machine-readable."""

    code = "domain_error"

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    code = "not_found"


class Rejected(DomainError):
    """A business rule refused the command (short stock, illegal transition, ...)."""

    code = "rejected"


class Conflict(DomainError):
    """The command clashes with what is already recorded (reused id, lost race)."""

    code = "conflict"


class Unavailable(DomainError):
    """Something the command depends on (a peer service) cannot be reached right now."""

    code = "unavailable"


class ConcurrencyError(Unavailable):
    """Another writer appended to the stream first; the store retries, then gives up.

    Nothing was changed and a later attempt may pass, so it is answered as a 503 to come
    back to: a 409 is a refusal, and a saga compensates a refused step for good."""

    code = "concurrency_conflict"


class StreamBusy(Unavailable):
    """Another transaction held the stream's row longer than a command waits for it
    (``EVENTKIT["LOCK_WAIT_MS"]``): a long report, a console session, a client gone quiet
    mid-transaction. Nothing was changed, and a later attempt may pass: a 503."""

    code = "stream_busy"
