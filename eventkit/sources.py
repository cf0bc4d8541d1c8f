"""Reading another service's events over HTTP, from its gap-free feed."""

import logging
from collections.abc import Iterator

import requests

from eventkit.wire import WireEvent, from_feed
from servicekit.http import PeerClient

logger = logging.getLogger(__name__)

TIMEOUT = (2.0, 10.0)


class MalformedFeed(requests.RequestException):
    """The feed answered, but not with a page of events."""


class WrongFeed(MalformedFeed):
    """The feed answered with another service's events: its URL names the wrong service."""


class FeedReader:
    """``GET <url>/events?after=&limit=`` of one source, page by page, in position order."""

    def __init__(self, source: str, url: str, *, client: PeerClient | None = None):
        self.source = source
        self.url = url.rstrip("/")
        self.client = client or PeerClient()

    def page(self, after: int, limit: int = 1000) -> tuple[list[WireEvent], int]:
        """Events after ``after`` (at most ``limit``), and the source's last position (the
        page's last event's, if the feed does not say)."""
        events, said = self._page(after, limit)
        if said is None:
            said = events[-1].position if events else after
        return events, said

    def _page(self, after: int, limit: int) -> tuple[list[WireEvent], int | None]:
        """Events after ``after``, and the last position the feed said its log has (None if
        it did not say: a page's last event is not the log's end)."""
        response = self.client.get(
            f"{self.url}/events", params={"after": after, "limit": limit}, timeout=TIMEOUT
        )
        response.raise_for_status()
        try:
            events = [from_feed(item, self.source) for item in response.json()]
            said = response.headers.get("X-Last-Position")
            said = int(said) if said is not None else None
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            # Not a page of our feed (another version of the source, a proxy's answer): a
            # feed that cannot be read, as one that does not answer, not a worker's crash.
            raise MalformedFeed(f"{self.url}/events answered a malformed page: {exc!r}") from exc
        for event in events:
            service = event.metadata.get("service") if isinstance(event.metadata, dict) else None
            if service is not None and service != self.source:
                # a URL that names another service: its events would be folded as ours
                raise WrongFeed(
                    f"{self.url}/events serves {service}'s events, not {self.source}'s: "
                    "is the URL right?"
                )
        return events, said

    def event_at(self, position: int) -> tuple[WireEvent | None, int]:
        """The event at ``position`` (None if the log does not hold it there) and the
        source's last position, in one read."""
        events, head = self.page(max(position - 1, 0), limit=1)
        return (events[0] if events and events[0].position == position else None), head

    def event_id_at(self, position: int) -> str:
        """The id of the event at ``position``; empty if the log does not reach it."""
        event = self.event_at(position)[0] if position > 0 else None
        return event.event_id if event is not None else ""

    def between(self, first: int, last: int) -> tuple[dict[int, WireEvent], int | None]:
        """The events the log holds at ``first``..``last``, by position, and its last
        position as the feed last said it (None if it never did)."""
        events, head = {}, None
        for page, said in self._pages(first - 1, last, min(1000, last - first + 1)):
            events.update((e.position, e) for e in page)
            head = said if said is not None else head
        return events, head

    def read(
        self, after: int, until: int | None = None, limit: int = 1000
    ) -> Iterator[list[WireEvent]]:
        for page, _ in self._pages(after, until, limit):
            if page:
                yield page

    def _pages(
        self, after: int, until: int | None, limit: int
    ) -> Iterator[tuple[list[WireEvent], int | None]]:
        """Pages after ``after`` up to ``until`` (the log's end if None), each with the last
        position the feed said; the last page may be empty (the feed's word on its head,
        where the log ends before ``until``, is in it)."""
        while until is None or after < until:
            events, said = self._page(after, limit)
            if until is not None:
                events = [e for e in events if e.position <= until]
            yield events, said
            if not events:
                return
            after = events[-1].position
