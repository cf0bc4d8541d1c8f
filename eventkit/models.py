"""The event store's tables.

``Event``        the append-only log: one row per event, numbered by a gap-free ``position``.
``Stream``       one row per aggregate: its current version (the row that writers lock)
                 and, for long streams, a snapshot of the folded state.
``PositionCounter`` the single row that hands out positions (see ``eventkit.store``).
``PendingEvent`` on PostgreSQL, events of an open transaction that get their positions
                 (and move to ``Event``) when it commits.
``CommandRecord``   outcomes of commands that carried an id, so a retry is answered from
                 here instead of being applied twice.
"""

from django.db import models


class AppendOnlyError(Exception):
    pass


class EventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("events are append-only: they cannot be updated")

    def delete(self):
        raise AppendOnlyError("events are append-only: they cannot be deleted")


class EventColumns(models.Model):
    """What an event is, before (``PendingEvent``) and after (``Event``) it has a position."""

    stream_id = models.UUIDField()
    stream_type = models.CharField(max_length=100)
    version = models.PositiveBigIntegerField()
    event_type = models.CharField(max_length=100)
    schema_version = models.PositiveSmallIntegerField(default=1)
    data = models.JSONField()
    metadata = models.JSONField(default=dict)
    recorded_at = models.DateTimeField()

    class Meta:
        abstract = True


class Event(EventColumns):
    position = models.BigIntegerField(primary_key=True)
    event_id = models.UUIDField(unique=True)

    objects = EventQuerySet.as_manager()

    class Meta:
        db_table = "eventkit_event"
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["stream_id", "version"], name="event_stream_version")
        ]
        indexes = [models.Index(fields=["event_type", "position"], name="event_type_position")]

    def __str__(self):
        return f"#{self.position} {self.event_type} {self.stream_type}/{self.stream_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("events are append-only: they cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("events are append-only: they cannot be deleted")


class Stream(models.Model):
    stream_id = models.UUIDField(primary_key=True)
    stream_type = models.CharField(max_length=100)
    version = models.PositiveBigIntegerField()
    snapshot = models.JSONField(null=True, blank=True)
    snapshot_version = models.PositiveBigIntegerField(default=0)
    snapshot_schema = models.PositiveSmallIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "eventkit_stream"
        indexes = [models.Index(fields=["stream_type", "stream_id"], name="stream_type_id")]

    def __str__(self):
        return f"{self.stream_type}/{self.stream_id} v{self.version}"


class PositionCounter(models.Model):
    """A single row: the last position handed out. Locked by every append until commit."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_position = models.BigIntegerField(default=0)

    class Meta:
        db_table = "eventkit_position_counter"

    def __str__(self):
        return f"last position {self.last_position}"


class PendingEvent(EventColumns):
    """An event appended by a transaction that has not committed yet (PostgreSQL only).

    A deferred trigger moves the transaction's rows to ``eventkit_event`` at commit, taking
    their positions from the counter there (see ``eventkit.store``). Outside an open
    transaction the table is always empty: other transactions never see these rows.
    """

    seq = models.BigAutoField(primary_key=True)  # the order of appends within a transaction
    event_id = models.UUIDField()  # unique once in the log

    class Meta:
        db_table = "eventkit_pending_event"

    def __str__(self):
        return f"pending {self.event_type} {self.stream_type}/{self.stream_id}"


class CommandRecord(models.Model):
    command_id = models.CharField(primary_key=True, max_length=200)
    command_type = models.CharField(max_length=100)
    fingerprint = models.CharField(max_length=64)
    stream_id = models.UUIDField(null=True, blank=True)
    outcome = models.JSONField()
    recorded_at = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "eventkit_command"

    def __str__(self):
        return f"{self.command_type} {self.command_id}"


class RelayCursor(models.Model):
    """How far the relay has published this service's log to Redis (survives restarts)."""

    name = models.CharField(primary_key=True, max_length=100)
    position = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "eventkit_relay_cursor"

    def __str__(self):
        return f"{self.name} at {self.position}"


class Checkpoint(models.Model):
    """A consumer's inbox: the last position applied from one source, one row per source.

    Written in the same transaction as the read models it fed, so an event is applied
    exactly once however often it is delivered; one row per source, so it cannot grow.
    """

    source = models.CharField(primary_key=True, max_length=100)
    position = models.BigIntegerField(default=0)
    # The id of the event at ``event_position`` (``position`` when this release wrote it; an
    # older worker moves ``position`` alone). A source whose log no longer holds that event
    # there was reset or restored from a backup: its positions mean other events now.
    event_id = models.CharField(max_length=100, blank=True, default="")
    event_position = models.BigIntegerField(default=0)
    # Set while the source is held back as started over: no worker applies it until a
    # rebuild (or the log holds the event again). In the row, so every worker sees it.
    held_since = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "eventkit_checkpoint"

    def __str__(self):
        return f"{self.source} at {self.position}"


class DeadLetter(models.Model):
    """An event a consumer could not apply after repeated tries, set aside for a person."""

    source = models.CharField(max_length=100)
    position = models.BigIntegerField()
    event_id = models.CharField(max_length=64, blank=True, default="")
    event_type = models.CharField(max_length=100)
    data = models.JSONField(default=dict)
    error = models.TextField()
    attempts = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "eventkit_dead_letter"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["source", "position"], name="dead_letter_once")
        ]

    def __str__(self):
        return f"{self.source} #{self.position} {self.event_type}"
