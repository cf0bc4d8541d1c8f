from django.urls import path

import servicekit.converters  # noqa: F401  (registers <any_uuid:...>)
from eventkit.feed import EventListView, StreamEventsView

urlpatterns = [
    path("events", EventListView.as_view(), name="events"),
    path("events/<any_uuid:aggregate_id>", StreamEventsView.as_view(), name="stream-events"),
]
