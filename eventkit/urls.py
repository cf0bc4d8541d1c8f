from django.urls import path

from eventkit.feed import EventListView, StreamEventsView

urlpatterns = [
    path("events", EventListView.as_view(), name="events"),
    # Any segment: a malformed id is a 400 (the view checks it), not a 404 like no route.
    path("events/<str:aggregate_id>", StreamEventsView.as_view(), name="stream-events"),
]
