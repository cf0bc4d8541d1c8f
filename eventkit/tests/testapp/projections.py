from django.db import connection
from django.db.models import F

from eventkit.projections import projection
from eventkit.tests.testapp.domain import TallyAdded, TallyOpened
from eventkit.tests.testapp.models import RemoteTallyView, TallyView

tallies = projection("tallies", models=[TallyView])


@tallies.on(TallyOpened)
def tally_opened(event, recorded):
    TallyView.objects.create(
        id=recorded.stream_id, name=event.name, updated_at=recorded.recorded_at
    )


@tallies.on(TallyAdded)
def tally_added(event, recorded):
    TallyView.objects.filter(pk=recorded.stream_id).update(
        total=F("total") + event.amount,
        additions=F("additions") + 1,
        updated_at=recorded.recorded_at,
    )


# The same events seen from another service, arriving through Redis and the consumer.
REMOTE_SOURCE = "tally-service"
POISON_AMOUNT = 13  # a handler that cannot cope with this amount makes a poison message
# An amount whose handler hits a real statement timeout while timeouts["left"] > 0: the
# database failing, not the handler.
SLOW_AMOUNT = 17
timeouts = {"left": 0}
# An amount whose handler exceeds one of PostgreSQL's program limits: an OperationalError
# too, but one that would fail the same way for ever, so the event is to blame.
TOO_BIG_AMOUNT = 19

remote_tallies = projection("remote-tallies", models=[RemoteTallyView], source=REMOTE_SOURCE)


@remote_tallies.on(TallyAdded)
def remote_tally_added(event, recorded):
    if event.amount == POISON_AMOUNT:
        raise ValueError(f"cannot handle an amount of {POISON_AMOUNT}")
    if event.amount == SLOW_AMOUNT and timeouts["left"] > 0:
        timeouts["left"] -= 1
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = 1")
            cursor.execute("SELECT pg_sleep(0.05)")
    if event.amount == TOO_BIG_AMOUNT:
        with connection.cursor() as cursor:
            cursor.execute("SELECT array_fill(1, ARRAY[1000000000])")
    row, _ = RemoteTallyView.objects.get_or_create(id=recorded.stream_id)
    RemoteTallyView.objects.filter(pk=row.pk).update(
        total=F("total") + event.amount, additions=F("additions") + 1
    )
