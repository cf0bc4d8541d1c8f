"""``GET /events`` and ``GET /events/{aggregate_id}``: the event log over HTTP.

Two ways to read ``/events``:

* ``?after=<position>&limit=<n>`` — the feed. Events with a position above ``after``, oldest
  first. A reader stores the last position it handled and asks for what comes after it;
  because positions become visible strictly in order (``eventkit.store``), a page can end
  early but can never leave a hole that a later page would have to fill. Each event names
  the one before it in the log (``previous_id``), as a relay's message does
  (``eventkit.wire``).
* no ``after`` — the log for people, newest first, paged by ``limit``/``offset``.

``GET /events/{aggregate_id}`` is one stream's history, oldest first (``ordering=-version``:
newest first), paged by ``limit``/``offset`` like the log: a product's stream grows with
every reserve and release, so it is never answered whole. An id with no events is an empty
stream (``[]``); a malformed id is a 400 naming ``aggregate_id``.

All answer a JSON array, with ``X-Total-Count`` and ``X-Last-Position`` headers.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.response import Response
from rest_framework.views import APIView

from eventkit.conf import setting
from eventkit.models import Event
from eventkit.store import head_position
from servicekit.api import path_uuid
from servicekit.fields import MAX_OFFSET


class EventSerializer(serializers.ModelSerializer):
    aggregate_id = serializers.UUIDField(source="stream_id")
    aggregate_type = serializers.CharField(source="stream_type")
    event_data = serializers.JSONField(source="data")
    created_at = serializers.DateTimeField(source="recorded_at")

    class Meta:
        model = Event
        fields = [
            "position",
            "event_id",
            "aggregate_id",
            "aggregate_type",
            "event_type",
            "event_data",
            "version",
            "schema_version",
            "metadata",
            "created_at",
        ]


class FeedEventSerializer(EventSerializer):
    previous_id = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="the id of the event before this one in the log (the feed only, unfiltered;"
        " empty for the first event)",
    )

    class Meta(EventSerializer.Meta):
        fields = [*EventSerializer.Meta.fields, "previous_id"]


class _Position(serializers.IntegerField):
    """A position that may be left out, but not left blank.

    DRF takes a blank query parameter for a missing one; for ``after`` that would answer a
    reader who meant the feed (oldest first) with the log (newest first), so ``?after=``
    is refused as the bad integer it is."""

    def get_value(self, dictionary):
        return dictionary.get(self.field_name, empty)


class _Page(serializers.Serializer):
    offset = serializers.IntegerField(
        required=False, min_value=0, max_value=MAX_OFFSET, default=0, help_text="skip this many"
    )
    event_type = serializers.CharField(required=False, max_length=100)

    def validate_limit(self, value):
        return min(value, setting("FEED_MAX_LIMIT"))


class FeedQuery(_Page):
    after = _Position(required=False, min_value=0, help_text="feed mode: events after this")
    limit = serializers.IntegerField(
        required=False, min_value=1, default=100, help_text="page size (max 1000)"
    )
    aggregate_type = serializers.CharField(required=False, max_length=100)

    def validate(self, attrs):
        if "after" in attrs and self.initial_data.get("offset") not in (None, ""):
            raise serializers.ValidationError(
                {"offset": ["The feed pages by after; offset pages the newest-first log."]}
            )
        return attrs


class StreamQuery(_Page):
    limit = serializers.IntegerField(
        required=False, min_value=1, help_text="page size (default and max 1000)"
    )
    ordering = serializers.ChoiceField(
        choices=["version", "-version"], default="version", help_text="-version: newest first"
    )


class EventListView(APIView):
    @extend_schema(
        parameters=[FeedQuery], responses={200: FeedEventSerializer(many=True), 400: None}
    )
    def get(self, request):
        query = FeedQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        events = Event.objects.all()
        filtered = False
        for name, column in (("event_type", "event_type"), ("aggregate_type", "stream_type")):
            if name in q:
                events = events.filter(**{column: q[name]})
                filtered = True
        head = head_position()
        if "after" in q and not filtered:
            data = _feed_page(events, q["after"], q["limit"])
        elif "after" in q:
            page = events.filter(position__gt=q["after"]).order_by("position")[: q["limit"]]
            data = EventSerializer(page, many=True).data
        else:
            start = q["offset"]
            page = events.order_by("-position")[start : start + q["limit"]]
            data = EventSerializer(page, many=True).data
        # Positions have no holes, so without filters the count is the head position.
        total = events.count() if filtered else head
        return Response(data, headers={"X-Total-Count": str(total), "X-Last-Position": str(head)})


def _feed_page(events, after: int, limit: int) -> list:
    """The events after ``after``, each with the id of the one before it: the page is read
    from ``after`` itself, whose event the first one names. The upper bound keeps the read
    on the index (eventkit.relay)."""
    rows = list(
        events.filter(position__gte=after, position__lte=after + limit).order_by("position")
    )
    previous = ""
    for event in rows:
        event.previous_id, previous = previous, str(event.event_id)
    return FeedEventSerializer([e for e in rows if e.position > after], many=True).data


class StreamEventsView(APIView):
    @extend_schema(
        operation_id="events_of_aggregate",
        parameters=[
            OpenApiParameter("aggregate_id", OpenApiTypes.UUID, OpenApiParameter.PATH),
            StreamQuery,
        ],
        responses={
            200: EventSerializer(many=True),
            400: OpenApiResponse(
                description="`aggregate_id` is not a UUID, or a query parameter is out of bounds"
            ),
            404: OpenApiResponse(description="`aggregate_id` has a `/` in it: no such path"),
        },
    )
    def get(self, request, aggregate_id):
        aggregate_id = path_uuid("aggregate_id", aggregate_id)
        query = StreamQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        q = query.validated_data
        limit, offset = q.get("limit", setting("FEED_MAX_LIMIT")), q["offset"]
        head = head_position()  # before the events, as the feed: the page holds all up to it
        events = Event.objects.filter(stream_id=aggregate_id)
        if "event_type" in q:
            events = events.filter(event_type=q["event_type"])
        page = list(events.order_by(q["ordering"])[offset : offset + limit])
        # A page that reached the stream's end says how long it is: no count needed.
        ended = len(page) < limit and (page or not offset)
        total = offset + len(page) if ended else events.count()
        return Response(
            EventSerializer(page, many=True).data,
            headers={"X-Total-Count": str(total), "X-Last-Position": str(head)},
        )
