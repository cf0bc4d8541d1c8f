"""The shape of an event on the wire: Redis stream fields and the HTTP feed, read alike.

Redis message fields (all strings): ``event_id, source, stream_id, stream_type, version,
position, type, schema_version, data`` (JSON), ``metadata`` (JSON), ``recorded_at`` (ISO
8601), ``previous_id``. ``position`` is the source's gap-free position, which is what lets a
consumer notice that it missed something and fetch it from the source's feed.

``previous_id`` is the id of the event before it in the source's log, as the log holds it
when the event is sent: a chain that lets a consumer see, as it applies an event, that the
log it follows is still the one its checkpoint was taken from (a source reset, or restored
from a backup, numbers new events at positions it applied already). Empty where the sender
does not know it: the first event of a log, and a sender of an earlier release.
"""

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder

from eventkit.domain import decode_event
from eventkit.records import Recorded
from eventkit.rows import aware_datetime


@dataclass(frozen=True)
class WireEvent:
    source: str
    position: int
    event_id: str
    stream_id: str
    stream_type: str
    version: int
    event_type: str
    schema_version: int
    data: dict
    metadata: dict
    recorded_at: str
    previous_id: str = ""

    def to_fields(self) -> dict[str, str]:
        return _fields(
            source=self.source,
            position=self.position,
            event_id=self.event_id,
            stream_id=self.stream_id,
            stream_type=self.stream_type,
            version=self.version,
            event_type=self.event_type,
            schema_version=self.schema_version,
            data=json.dumps(self.data, cls=DjangoJSONEncoder),
            metadata=json.dumps(self.metadata, cls=DjangoJSONEncoder),
            recorded_at=self.recorded_at,
            previous_id=self.previous_id,
        )

    def recorded(self) -> Recorded:
        """Decode with this process's event classes; UnknownEventType if it has none for
        the type."""
        return Recorded(
            position=self.position,
            event_id=uuid.UUID(self.event_id),
            stream_id=uuid.UUID(self.stream_id),
            stream_type=self.stream_type,
            version=self.version,
            event=decode_event(self.event_type, self.schema_version, self.data),
            recorded_at=datetime.fromisoformat(self.recorded_at),
            metadata=self.metadata,
        )


def fields_from_values(values, source: str, previous_id: str) -> dict[str, str]:
    """The Redis fields of a raw row of ``EVENT_COLUMNS``, as PostgreSQL or SQLite hand it back,
    and the id of the event before it in the log.

    The relay turns every event into these. The JSON columns come back as text (Django's
    jsonb loader, SQLite), and that text goes on as it is: decoding it only to encode it
    again was about a fifth of the relay's CPU.
    """
    position, event_id, stream_id, stream_type, version, event_type, schema, data, meta, at = values
    return _fields(
        source=source,
        position=position,
        event_id=uuid_text(event_id),
        stream_id=uuid_text(stream_id),
        stream_type=stream_type,
        version=version,
        event_type=event_type,
        schema_version=schema,
        data=_json_text(data),
        metadata=_json_text(meta) if meta is not None else "{}",
        recorded_at=aware_datetime(at).isoformat(),
        previous_id=previous_id,
    )


def _fields(
    *,
    source: str,
    position: int,
    event_id: str,
    stream_id: str,
    stream_type: str,
    version: int,
    event_type: str,
    schema_version: int,
    data: str,
    metadata: str,
    recorded_at: str,
    previous_id: str,
) -> dict[str, str]:
    """The message's fields, spelled in this one place; ``data`` and ``metadata`` are JSON
    text already."""
    return {
        "event_id": event_id,
        "source": source,
        "stream_id": stream_id,
        "stream_type": stream_type,
        "version": str(version),
        "position": str(position),
        "type": event_type,
        "schema_version": str(schema_version),
        "data": data,
        "metadata": metadata,
        "recorded_at": recorded_at,
        "previous_id": previous_id,
    }


def uuid_text(value) -> str:
    return str(value) if isinstance(value, uuid.UUID) else str(uuid.UUID(str(value)))


def _json_text(value) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, str):
        return value
    return json.dumps(value, cls=DjangoJSONEncoder)  # a driver that decodes JSON itself


def from_fields(fields: dict) -> WireEvent:
    """The event a Redis message carries; ValueError (or KeyError) if it is malformed.

    The envelope's ids are checked here: a message that names no event is unreadable,
    not an event that fails, and what its position holds is read from the source's feed.
    """
    f = {_text(k): _text(v) for k, v in fields.items()}
    return WireEvent(
        source=f["source"],
        position=int(f["position"]),
        event_id=uuid_text(f["event_id"]),
        stream_id=uuid_text(f["stream_id"]),
        stream_type=f["stream_type"],
        version=int(f["version"]),
        event_type=f["type"],
        schema_version=int(f.get("schema_version", "1")),
        data=json.loads(f["data"]),
        metadata=json.loads(f.get("metadata") or "{}"),
        recorded_at=f["recorded_at"],
        previous_id=f.get("previous_id", ""),
    )


def from_feed(item: dict, source: str) -> WireEvent:
    """An item of ``GET /events`` (see ``eventkit.feed.EventSerializer``)."""
    return WireEvent(
        source=source,
        position=int(item["position"]),
        event_id=str(item["event_id"]),
        stream_id=str(item["aggregate_id"]),
        stream_type=item["aggregate_type"],
        version=int(item["version"]),
        event_type=item["event_type"],
        schema_version=int(item.get("schema_version", 1)),
        data=item["event_data"],
        metadata=item.get("metadata") or {},
        recorded_at=item["created_at"].replace("Z", "+00:00"),
        previous_id=str(item.get("previous_id") or ""),
    )


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
