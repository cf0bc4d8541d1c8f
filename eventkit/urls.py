from django.urls import path

from eventkit.feed import EventListView, StreamEventsView

urlpatterns = [
    path("events", EventListView.as_view(), name="events"),
    path("events/<uuid:aggregate_id>", StreamEventsView.as_view(), name="stream-events"),
]
