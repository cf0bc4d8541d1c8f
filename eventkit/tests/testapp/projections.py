from django.db.models import F

from eventkit.projections import projection
from eventkit.tests.testapp.domain import TallyAdded, TallyOpened
from eventkit.tests.testapp.models import TallyView

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
