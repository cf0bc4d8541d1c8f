"""Make the event table append-only in the database itself, and create the position counter.

The model refuses updates and deletes, but so must psql, a raw cursor or another program:
on PostgreSQL a trigger rejects every UPDATE and DELETE on ``eventkit_event``. (TRUNCATE
is refused since migration 0008, unless the session sets ``eventkit.allow_truncate``.)
"""

from django.db import migrations

# (%% because Django passes the statement through the driver's placeholder parsing.)
CREATE_TRIGGER = """
CREATE OR REPLACE FUNCTION eventkit_event_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'eventkit_event is append-only: %% is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation',
              HINT = 'Record a new event that corrects the old one instead.';
END;
$$;
CREATE TRIGGER eventkit_event_append_only
    BEFORE UPDATE OR DELETE ON eventkit_event
    FOR EACH ROW EXECUTE FUNCTION eventkit_event_is_append_only();
"""

DROP_TRIGGER = """
DROP TRIGGER IF EXISTS eventkit_event_append_only ON eventkit_event;
DROP FUNCTION IF EXISTS eventkit_event_is_append_only();
"""


def install_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE_TRIGGER)


def remove_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_TRIGGER)


def create_counter(apps, schema_editor):
    PositionCounter = apps.get_model("eventkit", "PositionCounter")
    PositionCounter.objects.using(schema_editor.connection.alias).get_or_create(
        id=1, defaults={"last_position": 0}
    )


class Migration(migrations.Migration):
    dependencies = [("eventkit", "0001_initial")]

    operations = [
        migrations.RunPython(install_trigger, remove_trigger),
        migrations.RunPython(create_counter, migrations.RunPython.noop),
    ]
