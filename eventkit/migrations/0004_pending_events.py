"""Positions taken at commit: PostgreSQL moves a transaction's events into the log as it commits.

An append inserts its events into ``eventkit_pending_event``. A constraint trigger, deferred
to commit, fires for each pending row in the order they were inserted: it takes the next
position from the counter, inserts the event into ``eventkit_event`` with it, deletes the
pending row and wakes the relay. The counter row stays locked from the first firing to the
end of the commit, a window that runs entirely inside the server: no client round trip, no
Python thread waiting for the GIL while every other appender waits for it.

Each firing touches only its own row, by primary key: the pending table is empty at rest
but collects dead rows between vacuums, so nothing here may scan it.
"""

from django.db import migrations, models

CREATE_TRIGGER = """
CREATE OR REPLACE FUNCTION eventkit_position_pending_event() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    taken bigint;
BEGIN
    UPDATE eventkit_position_counter SET last_position = last_position + 1
        WHERE id = 1 RETURNING last_position INTO taken;
    IF NOT FOUND THEN
        -- The counter row is created by a migration; a test flush can remove it.
        INSERT INTO eventkit_position_counter (id, last_position)
            SELECT 1, coalesce(max(position), 0) + 1 FROM eventkit_event
            RETURNING last_position INTO taken;
    END IF;
    INSERT INTO eventkit_event (position, event_id, stream_id, stream_type, version,
                                event_type, schema_version, data, metadata, recorded_at)
        VALUES (taken, NEW.event_id, NEW.stream_id, NEW.stream_type, NEW.version,
                NEW.event_type, NEW.schema_version, NEW.data, NEW.metadata, NEW.recorded_at);
    DELETE FROM eventkit_pending_event WHERE seq = NEW.seq;
    PERFORM pg_notify('eventkit_events', '');  -- store.NOTIFY_CHANNEL, heard at commit
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER eventkit_pending_event_position
    AFTER INSERT ON eventkit_pending_event
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION eventkit_position_pending_event();
"""

DROP_TRIGGER = """
DROP TRIGGER IF EXISTS eventkit_pending_event_position ON eventkit_pending_event;
DROP FUNCTION IF EXISTS eventkit_position_pending_event();
"""


def install_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE_TRIGGER)


def remove_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_TRIGGER)


class Migration(migrations.Migration):
    dependencies = [("eventkit", "0003_consumers")]

    operations = [
        migrations.CreateModel(
            name="PendingEvent",
            fields=[
                ("seq", models.BigAutoField(primary_key=True, serialize=False)),
                ("event_id", models.UUIDField()),
                ("stream_id", models.UUIDField()),
                ("stream_type", models.CharField(max_length=100)),
                ("version", models.PositiveIntegerField()),
                ("event_type", models.CharField(max_length=100)),
                ("schema_version", models.PositiveSmallIntegerField(default=1)),
                ("data", models.JSONField()),
                ("metadata", models.JSONField(default=dict)),
                ("recorded_at", models.DateTimeField()),
            ],
            options={"db_table": "eventkit_pending_event"},
        ),
        migrations.RunPython(install_trigger, remove_trigger),
    ]
