"""Positions taken at commit: PostgreSQL moves a transaction's events into the log as it commits.

An append inserts its events into ``eventkit_pending_event``. A constraint trigger, deferred
to commit, then takes positions for all of the transaction's pending events with one
increment of the counter, inserts them into ``eventkit_event`` in append order, empties the
transaction's pending rows and wakes the relay. The counter row stays locked from there to
the end of the commit, a window that runs entirely inside the server: no client round trip,
no Python thread waiting for the GIL while every other appender waits for it.

Other transactions never see a pending row (it is uncommitted until it is gone), so
``SELECT`` and ``DELETE`` of the table see exactly the committing transaction's own events.
The first firing moves them all; the firings for the other rows find nothing and return.
"""

from django.db import migrations, models

CREATE_TRIGGER = """
CREATE OR REPLACE FUNCTION eventkit_position_pending_events() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    pending bigint;
    last bigint;
BEGIN
    SELECT count(*) INTO pending FROM eventkit_pending_event;
    IF pending = 0 THEN
        RETURN NULL;  -- an earlier row's firing has moved this transaction's events
    END IF;
    UPDATE eventkit_position_counter SET last_position = last_position + pending
        WHERE id = 1 RETURNING last_position INTO last;
    IF NOT FOUND THEN
        -- The counter row is created by a migration; a test flush can remove it.
        INSERT INTO eventkit_position_counter (id, last_position)
            SELECT 1, coalesce(max(position), 0) + pending FROM eventkit_event
            RETURNING last_position INTO last;
    END IF;
    INSERT INTO eventkit_event (position, event_id, stream_id, stream_type, version,
                                event_type, schema_version, data, metadata, recorded_at)
        SELECT last - pending + row_number() OVER (ORDER BY seq), event_id, stream_id,
               stream_type, version, event_type, schema_version, data, metadata, recorded_at
        FROM eventkit_pending_event;
    DELETE FROM eventkit_pending_event;
    PERFORM pg_notify('eventkit_events', '');  -- store.NOTIFY_CHANNEL, heard at commit
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER eventkit_pending_event_position
    AFTER INSERT ON eventkit_pending_event
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION eventkit_position_pending_events();
"""

DROP_TRIGGER = """
DROP TRIGGER IF EXISTS eventkit_pending_event_position ON eventkit_pending_event;
DROP FUNCTION IF EXISTS eventkit_position_pending_events();
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
