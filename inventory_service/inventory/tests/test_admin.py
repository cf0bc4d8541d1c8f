"""The admin restocks through the same command as the API, so it is recorded as an event."""

import pytest
from django.contrib.auth.models import User

from eventkit.models import Event
from inventory.models import ProductView
from inventory.tests.conftest import MONITOR

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    client.force_login(User.objects.create_superuser("admin", "a@example.com", "pw"))
    return client


def test_restock_action_asks_for_a_quantity_then_appends_stock_added(staff, catalog):
    url = "/admin/inventory/productview/"
    form = staff.post(url, {"action": "restock", "_selected_action": [MONITOR]})
    assert form.status_code == 200 and b"Restock" in form.content
    done = staff.post(
        url, {"action": "restock", "_selected_action": [MONITOR], "quantity": 7, "apply": "1"}
    )
    assert done.status_code == 302
    assert ProductView.objects.get(pk=MONITOR).quantity == 37
    assert Event.objects.filter(stream_id=MONITOR, event_type="StockAdded").count() == 2


def test_read_models_are_browsable_but_not_editable(staff, catalog):
    assert staff.get("/admin/inventory/productview/").status_code == 200
    assert staff.get(f"/admin/inventory/productview/{MONITOR}/change/").status_code == 200
    assert staff.post(f"/admin/inventory/productview/{MONITOR}/change/", {}).status_code == 403
    assert staff.get("/admin/inventory/reservation/").status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/admin/inventory/reservation/?status__exact=%00",
        "/admin/eventkit/event/?event_type=%00",
        "/admin/eventkit/stream/?stream_type=a%00b",
        "/admin/eventkit/event/?recorded_at__year=2147483648",
        "/admin/eventkit/event/?recorded_at__year=-99999",
        # the drill-down's next year, month or day is past a date's last one (from outside)
        "/admin/eventkit/event/?recorded_at__year=9999",
        "/admin/eventkit/event/?recorded_at__year=9999&recorded_at__month=12",
        "/admin/eventkit/event/?recorded_at__year=9999&recorded_at__month=12&recorded_at__day=31",
    ],
)
def test_a_filter_the_database_cannot_take_is_shown_as_a_bad_filter_not_a_500(staff, url):
    """Found from outside: a NUL byte (PostgreSQL's text refuses it) or a year past what a
    date holds in a list filter was a 500 with a traceback, on every service's admin."""
    response = staff.get(url)
    assert response.status_code == 302 and response["Location"].endswith("?e=1")
    assert staff.get(response["Location"]).status_code == 200


def test_a_restock_form_sent_twice_adds_its_stock_once(staff, catalog):
    """A double click on Restock, or the browser sending the form again: the form carries a
    key of its own, so the second submission is answered from the command log."""
    url = "/admin/inventory/productview/"
    form = staff.post(url, {"action": "restock", "_selected_action": [MONITOR]})
    submission = form.context["form"]["submission"].value()
    sent = {"action": "restock", "_selected_action": [MONITOR], "quantity": 7, "apply": "1"}
    for _ in range(2):
        staff.post(url, {**sent, "submission": submission})
    assert ProductView.objects.get(pk=MONITOR).quantity == 37
    another = staff.post(url, {"action": "restock", "_selected_action": [MONITOR]})
    staff.post(url, {**sent, "submission": another.context["form"]["submission"].value()})
    assert ProductView.objects.get(pk=MONITOR).quantity == 44  # a new form is a new restock


def test_a_selection_that_names_no_product_is_refused_with_a_message(staff, catalog):
    """A crafted or mangled form: Django's filter of the selection raised, a 500 (found
    from outside)."""
    url = "/admin/inventory/productview/"
    sent = {"action": "restock", "_selected_action": ["bad"], "quantity": 1, "apply": "1"}
    response = staff.post(url, sent, follow=True)
    assert response.status_code == 200
    assert "The selection names no product." in [str(m) for m in response.context["messages"]]
    assert ProductView.objects.get(pk=MONITOR).quantity == 30
