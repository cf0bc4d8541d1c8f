"""Reading a source's feed: an answer that is not a page of events is a feed failure."""

import pytest
import requests

from eventkit.sources import FeedReader, MalformedFeed, WrongFeed
from eventkit.tests.fake_feed import fake_feed

EVENT = {
    "position": 1,
    "event_id": "e1",
    "aggregate_id": "a1",
    "aggregate_type": "Order",
    "version": 1,
    "event_type": "OrderCreated",
    "event_data": {},
    "created_at": "2026-12-06T00:00:00Z",
}


@pytest.fixture
def feed_answering():
    """A feed that answers every page with the body and headers the test sets."""
    with fake_feed() as feed:

        def answering(body, headers=None) -> FeedReader:
            feed.answer(body, headers)
            return FeedReader("order-service", feed.url)

        yield answering


def test_a_page_of_events_is_read(feed_answering):
    events, head = feed_answering([EVENT], {"X-Last-Position": "7"}).page(0)
    assert [e.event_id for e in events] == ["e1"] and head == 7


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ([{**EVENT, "position": None}], {}),
        ([{k: v for k, v in EVENT.items() if k != "event_id"}], {}),
        ([{**EVENT, "created_at": 5}], {}),
        ([EVENT], {"X-Last-Position": "the end"}),
        ({"results": [EVENT]}, {}),
        ([1, 2], {}),
    ],
)
def test_a_malformed_page_is_a_feed_failure_not_a_crash(feed_answering, body, headers):
    """A source of another version, or a proxy's answer: the consumer backs off and tries
    again, as for a feed that does not answer, instead of its worker ending (found in
    review: a KeyError ended the worker, and its restarts ended the same way)."""
    with pytest.raises(MalformedFeed) as caught:
        feed_answering(body, headers).page(0)
    assert isinstance(caught.value, requests.RequestException)


def test_another_services_feed_is_refused(feed_answering):
    """Found from outside: a rebuild pointed at the inventory service (a one-digit slip in
    ORDER_SERVICE_URL) folded none of its events as orders, said it had rebuilt, and left
    marketing blank. Events name the service that recorded them."""
    inventory = {**EVENT, "metadata": {"service": "inventory-service"}}
    with pytest.raises(WrongFeed, match="inventory-service's events, not order-service's"):
        feed_answering([inventory]).page(0)
    assert issubclass(WrongFeed, MalformedFeed)  # a worker backs off, as for any bad feed
    ours = {**EVENT, "metadata": {"service": "order-service"}}
    assert len(feed_answering([ours, EVENT]).page(0)[0]) == 2  # unnamed: older events
