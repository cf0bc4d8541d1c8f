"""The admin shows events but cannot change them; the command log can be pruned."""

import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connection  # noqa: F401 (skipif conditions name it)
from django.utils import timezone

from eventkit import relay
from eventkit.models import CommandRecord, Event
from eventkit.tests.helpers import add, held_elsewhere, open_tally

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = User.objects.create_superuser("admin", "a@example.com", "pw")
    client.force_login(user)
    return client


def test_events_are_listed_searchable_and_shown_read_only(staff):
    t = open_tally("visible")
    event = Event.objects.get(stream_id=t)
    listing = staff.get("/admin/eventkit/event/", {"q": str(t)})
    assert listing.status_code == 200 and b"TallyOpened" in listing.content
    detail = staff.get(f"/admin/eventkit/event/{event.pk}/change/")
    assert detail.status_code == 200
    assert b"&quot;name&quot;: &quot;visible&quot;" in detail.content  # pretty-printed JSON
    assert b'name="_save"' not in detail.content


def test_the_admin_cannot_add_change_or_delete_events(staff):
    t = open_tally()
    event = Event.objects.get(stream_id=t)
    assert staff.get("/admin/eventkit/event/add/").status_code == 403
    assert staff.post(f"/admin/eventkit/event/{event.pk}/change/", {}).status_code == 403
    assert (
        staff.post(f"/admin/eventkit/event/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    bulk = staff.post(
        "/admin/eventkit/event/",
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    assert bulk.status_code in (200, 302, 403)
    assert Event.objects.filter(pk=event.pk).exists()


def test_prune_commands_removes_only_old_outcomes():
    t = open_tally()
    add(t, 1, command_id="old")
    add(t, 1, command_id="new")
    CommandRecord.objects.filter(pk="old").update(recorded_at=timezone.now() - timedelta(days=8))
    call_command("prune_commands", stdout=io.StringIO())
    assert list(CommandRecord.objects.values_list("pk", flat=True)) == ["new"]
    assert Event.objects.filter(stream_id=t).count() == 3


def _old_outcomes(count: int) -> None:
    t = open_tally()
    for i in range(count):
        add(t, 1, command_id=f"old-{i}")
    CommandRecord.objects.update(recorded_at=timezone.now() - timedelta(days=8))


def test_the_relay_prunes_the_command_log_in_pieces_between_its_batches(monkeypatch):
    """An hour of orders is hundreds of thousands of outcomes: one DELETE of them all held
    the relay's publishing back for as long (found in review)."""
    monkeypatch.setattr(relay, "PRUNE_CHUNK", 2)
    _old_outcomes(3)
    assert relay._prune_some() == 0.0  # a whole piece: more may be left, go on soon
    assert CommandRecord.objects.count() == 1
    assert relay._prune_some() == relay.PRUNE_EVERY_SECONDS  # the last of them
    assert not CommandRecord.objects.exists()


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="lock_timeout is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_a_prune_behind_a_lock_held_elsewhere_gives_up_and_leaves_publishing_alone(
    monkeypatch,
):
    """Found in review: the relay pruned before each publish until a prune worked, so a lock
    held on the command log (a console, a migration) held every event back; and a relay has
    no lock bound of its own, so it waited for as long as the lock was held."""
    monkeypatch.setattr(relay, "PRUNE_LOCK_WAIT_MS", 100)
    _old_outcomes(1)
    with held_elsewhere("LOCK TABLE eventkit_command IN ACCESS EXCLUSIVE MODE"):
        assert relay._prune_some() == relay.PRUNE_EVERY_SECONDS  # not raised: logged
    assert CommandRecord.objects.count() == 1


@pytest.mark.parametrize("days", ["-1", "0", "0.5", "nan"])
def test_prune_commands_refuses_to_prune_outcomes_a_retry_may_still_need(days):
    """Found from outside: --older-than-days -1 would have deleted every outcome, fresh ones
    included, and a command retried a minute later would have applied twice."""
    add(open_tally(), 1, command_id="fresh")
    with pytest.raises(CommandError, match="may still answer a retry"):
        call_command("prune_commands", "--older-than-days", days, stdout=io.StringIO())
    assert CommandRecord.objects.filter(pk="fresh").exists()


def test_a_consumer_lingers_as_its_settings_say_unless_the_environment_overrides():
    from eventkit.management.commands.consume_events import default_linger_ms

    assert default_linger_ms({}, environ={}) == 20
    assert default_linger_ms({"LINGER_MS": 50}, environ={}) == 50
    assert default_linger_ms({"LINGER_MS": 50}, environ={"CONSUMER_LINGER_MS": "5"}) == 5
    assert default_linger_ms({"LINGER_MS": 50}, environ={"CONSUMER_LINGER_MS": ""}) == 50


@pytest.mark.parametrize("view", ["change", "history", "delete"])
def test_an_object_id_the_database_cannot_take_is_an_object_not_found(staff, view):
    """A NUL byte in a primary key of text reached PostgreSQL, which refuses it: a 500 on
    every service's admin (found from outside). Now it is what any unknown id is."""
    from django.contrib import admin

    for model in admin.site._registry:
        meta = model._meta
        answer = staff.get(f"/admin/{meta.app_label}/{meta.model_name}/%00/{view}/")
        assert answer.status_code in (302, 403, 404), (meta.label, answer.status_code)
