import pytest

from marketing.tests.helpers import OrderFeed, open_shop


@pytest.fixture
def api():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def feed():
    return OrderFeed()


@pytest.fixture
def shop(feed):
    """The orders of :func:`open_shop`, applied; their ids by number."""
    return open_shop(feed)
