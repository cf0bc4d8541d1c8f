"""Saga service settings: the shared defaults (servicekit) plus the saga's own knobs."""

from pathlib import Path

import environ

from servicekit.settings import configure

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

globals().update(
    configure(
        service="saga-service",
        base_dir=BASE_DIR,
        apps=["eventkit", "sagas"],
        title="Saga service: the place-order saga (create order, reserve stock, confirm)",
    )
)

SAGA = {
    # Forward steps are retried until this many seconds after the saga started; then the
    # saga gives up on them and compensates.
    "DEADLINE_SECONDS": env.float("SAGA_DEADLINE_SECONDS", default=10.0),
    # How long one request keeps trying compensations before leaving them to the resumer.
    "COMPENSATION_SECONDS": env.float("SAGA_COMPENSATION_SECONDS", default=10.0),
    # A driver owns a saga for this long and renews it as it goes; after it lapses (the
    # driver died) the resumer takes over.
    "LEASE_SECONDS": env.float("SAGA_LEASE_SECONDS", default=15.0),
    "RESUME_INTERVAL_SECONDS": env.float("SAGA_RESUME_INTERVAL_SECONDS", default=2.0),
    "CONNECT_TIMEOUT_SECONDS": env.float("SAGA_CONNECT_TIMEOUT_SECONDS", default=1.0),
    "READ_TIMEOUT_SECONDS": env.float("SAGA_READ_TIMEOUT_SECONDS", default=5.0),
    # Fault injection for demos and tests; off unless SAGA_FAULTS=1.
    "FAULTS_ENABLED": env.bool("SAGA_FAULTS", default=False),
    # Sagas a process drives at once (each keeps a database connection to its end); the
    # others wait their turn in arrival order, this long at most, then get a 503.
    "DRIVERS": env.int("SAGA_DRIVERS", default=8),
    "TURN_WAIT_SECONDS": env.float("DB_POOL_TIMEOUT", default=10.0),
}

_pool = DATABASES["default"]["OPTIONS"].get("pool")  # noqa: F821 (set by configure() above)
if _pool is not None:
    # The drivers' connections, and a few beside them for health checks, reads and the
    # answers of sagas, so that a participant that hangs holds only the drivers'.
    _pool["max_size"] = env.int("DB_POOL_MAX_SIZE", default=SAGA["DRIVERS"] + 4)
    # A smaller pool set for every service (fewer PostgreSQL clients) still keeps two
    # connections beside the drivers.
    SAGA["DRIVERS"] = max(1, min(SAGA["DRIVERS"], _pool["max_size"] - 2))

# Of those, at most this many drive sagas for one product (all but two: 6 of 8). A product
# whose participant stalls (its stream row locked, each reserve a 503 retried to the
# deadline) holds no more, and the other products keep two turns: their sagas are short.
# Half (4 of 8) cost an order stream of one product alone, a sale, 14 % of its confirmed
# orders per second; all but two cost it 4 % (bench/ab.py, docs/performance.md).
_per_product = env.int("SAGA_DRIVERS_PER_PRODUCT", default=SAGA["DRIVERS"] - 2)
SAGA["DRIVERS_PER_PRODUCT"] = max(1, min(_per_product, SAGA["DRIVERS"]))

EVENTKIT = {"STREAM": "events.saga"}

SPECTACULAR_SETTINGS = {
    **SPECTACULAR_SETTINGS,  # noqa: F821 (set by configure() above)
    "ENUM_NAME_OVERRIDES": {
        "SagaStatusEnum": "sagas.models.SagaStatus",
        "SagaStepStatusEnum": "sagas.models.StepStatus",
    },
}
