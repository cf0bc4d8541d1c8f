"""Refuse ``TRUNCATE eventkit_event`` too, unless the session asks for it.

Migration 0002 made the log refuse UPDATE and DELETE, and left TRUNCATE open for test
teardown. One statement typed into the wrong psql session then wiped the whole log (found
from outside, on a probe's own database). A wipe now has to be meant: the session sets
``eventkit.allow_truncate`` first, as the test suites do (``eventkit.testing``).
"""

from django.db import migrations

# (%% because Django passes the statement through the driver's placeholder parsing.)
CREATE_TRIGGER = """
CREATE OR REPLACE FUNCTION eventkit_event_truncate_refused() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('eventkit.allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'eventkit_event is append-only: TRUNCATE is not allowed'
        USING ERRCODE = 'restrict_violation',
              HINT = 'To wipe the whole log on purpose, SET eventkit.allow_truncate = on first.';
END;
$$;
CREATE TRIGGER eventkit_event_truncate_refused
    BEFORE TRUNCATE ON eventkit_event
    FOR EACH STATEMENT EXECUTE FUNCTION eventkit_event_truncate_refused();
"""

DROP_TRIGGER = """
DROP TRIGGER IF EXISTS eventkit_event_truncate_refused ON eventkit_event;
DROP FUNCTION IF EXISTS eventkit_event_truncate_refused();
"""


def install_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE_TRIGGER)


def remove_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_TRIGGER)


class Migration(migrations.Migration):
    dependencies = [("eventkit", "0007_versions_64_bit")]

    operations = [migrations.RunPython(install_trigger, remove_trigger)]
